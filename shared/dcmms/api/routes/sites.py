from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from dcmms.domain import commands as cmd
from dcmms.domain.model import AlertSeverity, AssetStatus, Priority, Site, WorkOrderStatus

from ..http import (
    Caller,
    IfMatch,
    PageParams,
    body_response,
    entity_response,
    list_response,
    model_response,
    page_response,
    problem_responses,
    schema_response,
    services,
)

router = APIRouter(prefix="/api/v1/sites", tags=["sites"])


def _counts(names: list[str]) -> dict[str, object]:
    return {
        "type": "object",
        "propertyNames": {"enum": names},
        "additionalProperties": {"type": "integer", "minimum": 1},
    }


_COUNT = {"type": "integer", "minimum": 0}
# domain/kpis.py's site_kpis(), as served.
KPIS = {
    "type": "object",
    "required": ["site_id", "computed_at", "assets", "work_orders", "alerts"],
    "properties": {
        "site_id": {"type": "string"},
        "computed_at": {"type": "string", "format": "date-time"},
        "assets": {
            "type": "object",
            "required": ["total", "by_status", "availability_percent"],
            "properties": {
                "total": _COUNT,
                "by_status": _counts([s.value for s in AssetStatus]),
                "availability_percent": {
                    "anyOf": [{"type": "number", "minimum": 0, "maximum": 100}, {"type": "null"}],
                    "description": "Operational or degraded among assets in service; null without any.",
                },
            },
        },
        "work_orders": {
            "type": "object",
            "required": ["active", "active_by_priority", "active_by_status", "overdue"],
            "properties": {
                "active": _COUNT,
                "active_by_priority": _counts([p.value for p in Priority]),
                "active_by_status": _counts([s.value for s in WorkOrderStatus]),
                "overdue": _COUNT,
            },
        },
        "alerts": {
            "type": "object",
            "required": ["unresolved", "unresolved_by_severity", "unacknowledged"],
            "properties": {
                "unresolved": _COUNT,
                "unresolved_by_severity": _counts([s.value for s in AlertSeverity]),
                "unacknowledged": _COUNT,
            },
        },
    },
}


@router.post("", status_code=201, responses={201: model_response(Site, "The new site")})
def create_site(request: Request, body: cmd.SiteCreate, caller: Caller) -> Response:
    site = services(request).fleet.create_site(caller, body)
    return entity_response(request, site, 201, f"/api/v1/sites/{site.id}")


@router.get("", responses={200: page_response(Site, "A page of sites")})
def list_sites(request: Request, caller: Caller, page: PageParams) -> Response:
    return list_response(request, services(request).fleet.list_sites(caller, page.limit, page.cursor))


@router.get("/{site_id}", responses={200: model_response(Site)})
def get_site(request: Request, site_id: str, caller: Caller) -> Response:
    return entity_response(request, services(request).fleet.read_site(caller, site_id))


@router.get(
    "/{site_id}/kpis",
    summary="Counts of a site's assets, open work and alerts (superseded by /api/v1/sites/{site_id}/dashboard)",
    description="Kept for existing clients. Its `availability_percent` is the share of in-service assets whose "
    "status is operational or degraded, not an energy availability; the dashboard's `availability` is the "
    "time-based one from telemetry (docs/kpis.md).",
    responses={200: schema_response("SiteKpis", KPIS, "The site's KPIs")},
)
def site_kpis(request: Request, site_id: str, caller: Caller) -> Response:
    body = services(request).kpis.site_kpis(caller, site_id)
    # Derived, not edited by users, and recomputed every 5 minutes: a short browser cache is safe.
    return body_response(request, body, "private, max-age=60")


@router.patch("/{site_id}", responses={200: model_response(Site, "The site as changed")})
def update_site(request: Request, site_id: str, body: cmd.SitePatch, caller: Caller, version: IfMatch) -> Response:
    return entity_response(request, services(request).fleet.update_site(caller, site_id, body, version))


@router.delete(
    "/{site_id}",
    status_code=204,
    responses=problem_responses(
        409, reason="The site still has assets or open work orders, or changed while being deleted."
    ),
)
def delete_site(request: Request, site_id: str, caller: Caller, version: IfMatch) -> Response:
    services(request).fleet.delete_site(caller, site_id, version)
    return Response(status_code=204)
