from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from dcmms.domain import commands as cmd
from dcmms.domain.model import Site

from ..http import (
    Caller,
    IfMatch,
    PageParams,
    body_response,
    entity_response,
    list_response,
    model_response,
    problem_responses,
)

router = APIRouter(prefix="/api/v1/sites", tags=["sites"], responses=problem_responses(401, 404, 422))


@router.post("", status_code=201, responses={201: model_response(Site), **problem_responses(403)})
def create_site(request: Request, body: cmd.SiteCreate, caller: Caller) -> Response:
    site = request.app.state.maintenance.create_site(caller, body)
    return entity_response(request, site, 201, f"/api/v1/sites/{site.id}")


@router.get("", responses={200: {"description": "A page of sites: {items, next_cursor}"}})
def list_sites(request: Request, caller: Caller, page: PageParams) -> Response:
    return list_response(request, request.app.state.maintenance.list_sites(caller, page.limit, page.cursor))


@router.get("/{site_id}", responses={200: model_response(Site)})
def get_site(request: Request, site_id: str, caller: Caller) -> Response:
    return entity_response(request, request.app.state.maintenance.read_site(caller, site_id))


@router.get("/{site_id}/kpis", summary="Dashboard KPIs of a site (computed at most every 5 minutes)")
def site_kpis(request: Request, site_id: str, caller: Caller) -> Response:
    body = request.app.state.maintenance.site_kpis(caller, site_id)
    # Derived, not edited by users, and recomputed every 5 minutes: a short browser cache is safe.
    return body_response(request, body, "private, max-age=60")


@router.patch("/{site_id}", responses={200: model_response(Site), **problem_responses(403, 412)})
def update_site(request: Request, site_id: str, body: cmd.SitePatch, caller: Caller, version: IfMatch) -> Response:
    return entity_response(request, request.app.state.maintenance.update_site(caller, site_id, body, version))


@router.delete("/{site_id}", status_code=204, responses=problem_responses(403, 409, 412))
def delete_site(request: Request, site_id: str, caller: Caller, version: IfMatch) -> Response:
    request.app.state.maintenance.delete_site(caller, site_id, version)
    return Response(status_code=204)
