from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from dcmms.domain import commands as cmd
from dcmms.domain.model import Asset, AssetStatus, AssetType

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

router = APIRouter(prefix="/api/v1/assets", tags=["assets"])

ASSET_TYPES = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["type", "label"],
        "properties": {"type": {"enum": [t.value for t in AssetType]}, "label": {"type": "string"}},
    },
}


@router.post("", status_code=201, responses={201: model_response(Asset, "The new asset")})
def create_asset(request: Request, body: cmd.AssetCreate, caller: Caller) -> Response:
    asset = services(request).fleet.create_asset(caller, body)
    return entity_response(request, asset, 201, f"/api/v1/assets/{asset.id}")


@router.get("", responses={200: page_response(Asset, "A page of assets")})
def list_assets(
    request: Request,
    caller: Caller,
    page: PageParams,
    site_id: str | None = None,
    parent_id: str | None = None,
    type: Annotated[list[AssetType] | None, Query()] = None,
    status: Annotated[list[AssetStatus] | None, Query()] = None,
) -> Response:
    result = services(request).fleet.list_assets(
        caller,
        page.limit,
        page.cursor,
        site_id=site_id,
        parent_id=parent_id,
        types=[t.value for t in type or ()],
        statuses=[s.value for s in status or ()],
    )
    return list_response(request, result)


@router.get(
    "/types",
    summary="Asset types (reference data)",
    responses={200: schema_response("AssetTypes", ASSET_TYPES, "Every asset type, with a label")},
)
def asset_types(request: Request) -> Response:
    body = orjson.dumps([{"type": t.value, "label": t.value.replace("_", " ")} for t in AssetType])
    # Reference data that changes only with a release: browsers may keep it for an hour.
    return body_response(request, body, "public, max-age=3600")


@router.get("/{asset_id}", responses={200: model_response(Asset)})
def get_asset(request: Request, asset_id: str, caller: Caller) -> Response:
    return entity_response(request, services(request).fleet.read_asset(caller, asset_id))


@router.patch("/{asset_id}", responses={200: model_response(Asset, "The asset as changed")})
def update_asset(request: Request, asset_id: str, body: cmd.AssetPatch, caller: Caller, version: IfMatch) -> Response:
    return entity_response(request, services(request).fleet.update_asset(caller, asset_id, body, version))


@router.delete(
    "/{asset_id}",
    status_code=204,
    responses=problem_responses(
        409, reason="The asset still has child assets or open work orders, or changed while being deleted."
    ),
)
def delete_asset(request: Request, asset_id: str, caller: Caller, version: IfMatch) -> Response:
    services(request).fleet.delete_asset(caller, asset_id, version)
    return Response(status_code=204)
