from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query, Request
from starlette.responses import Response

from dcmms.domain import commands as cmd
from dcmms.domain.model import Alert, AlertSeverity, AlertStatus

from ..http import (
    Caller,
    IfMatch,
    PageParams,
    entity_response,
    list_response,
    model_response,
    page_response,
    problem_responses,
    services,
)

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])


@router.post("", status_code=201, responses={201: model_response(Alert, "The new alert")})
def create_alert(request: Request, body: cmd.AlertCreate, caller: Caller) -> Response:
    alert = services(request).alerts.create_alert(caller, body)
    return entity_response(request, alert, 201, f"/api/v1/alerts/{alert.id}")


@router.get("", responses={200: page_response(Alert, "A page of alerts")})
def list_alerts(
    request: Request,
    caller: Caller,
    page: PageParams,
    site_id: str | None = None,
    asset_id: str | None = None,
    status: Annotated[list[AlertStatus] | None, Query(description="Repeatable.")] = None,
    severity: Annotated[list[AlertSeverity] | None, Query()] = None,
) -> Response:
    result = services(request).alerts.list_alerts(
        caller,
        page.limit,
        page.cursor,
        site_id=site_id,
        asset_id=asset_id,
        statuses=[s.value for s in status or ()],
        severities=[s.value for s in severity or ()],
    )
    return list_response(request, result)


@router.get("/{alert_id}", responses={200: model_response(Alert)})
def get_alert(request: Request, alert_id: str, caller: Caller) -> Response:
    return entity_response(request, services(request).alerts.read_alert(caller, alert_id))


@router.patch("/{alert_id}", responses={200: model_response(Alert, "The alert as changed")})
def update_alert(request: Request, alert_id: str, body: cmd.AlertPatch, caller: Caller, version: IfMatch) -> Response:
    return entity_response(request, services(request).alerts.update_alert(caller, alert_id, body, version))


@router.post(
    "/{alert_id}/acknowledge",
    responses={
        200: model_response(Alert, "The acknowledged alert"),
        **problem_responses(
            409,
            reason="Only an active alert can be acknowledged (`current` is its status), or too many writers "
            "changed it at once.",
        ),
    },
)
def acknowledge_alert(
    request: Request,
    alert_id: str,
    caller: Caller,
    version: IfMatch,
    body: Annotated[cmd.AlertAction | None, Body()] = None,
) -> Response:
    note = body.note if body else None
    return entity_response(request, services(request).alerts.acknowledge_alert(caller, alert_id, version, note))


@router.post(
    "/{alert_id}/resolve",
    responses={
        200: model_response(Alert, "The resolved alert"),
        **problem_responses(409, reason="The alert is already resolved, or too many writers changed it at once."),
    },
)
def resolve_alert(
    request: Request,
    alert_id: str,
    caller: Caller,
    version: IfMatch,
    body: Annotated[cmd.AlertAction | None, Body()] = None,
) -> Response:
    note = body.note if body else None
    return entity_response(request, services(request).alerts.resolve_alert(caller, alert_id, version, note))
