"""Preventive-maintenance schedules: what work the ``pm`` function generates, when, from which procedure."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from dcmms.domain.pm import PMSchedule, PMScheduleCreate, PMSchedulePatch

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

router = APIRouter(prefix="/api/v1/pm-schedules", tags=["preventive maintenance"])
overdue_router = APIRouter(tags=["preventive maintenance"])

FORECAST = {
    "type": "object",
    "required": ["schedule_id", "timezone", "horizon_days", "occurrences"],
    "properties": {
        "schedule_id": {"type": "string"},
        "timezone": {"type": "string"},
        "horizon_days": {"type": "integer"},
        "occurrences": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["due_at", "occurrence", "generate_at"],
                "properties": {
                    "due_at": {"type": "string", "format": "date-time"},
                    "occurrence": {"type": "string", "description": "The local due time, as work orders record it."},
                    "generate_at": {"type": "string", "format": "date-time", "description": "Due minus lead time."},
                },
            },
        },
    },
}
_HORIZON = re.compile(r"^(\d{1,4})([dw])$")


@router.post("", status_code=201, responses={201: model_response(PMSchedule, "The new PM schedule")})
def create_schedule(request: Request, body: PMScheduleCreate, caller: Caller) -> Response:
    schedule = services(request).pm.create_schedule(caller, body)
    return entity_response(request, schedule, 201, f"/api/v1/pm-schedules/{schedule.id}")


@router.get("", responses={200: page_response(PMSchedule, "A page of PM schedules")})
def list_schedules(
    request: Request,
    caller: Caller,
    page: PageParams,
    site_id: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    asset_id: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    trigger: Annotated[Literal["calendar", "meter", "condition"] | None, Query(description="The trigger kind.")] = None,
) -> Response:
    body = services(request).pm.list_schedules(
        caller, page.limit, page.cursor, site_id=site_id, asset_id=asset_id, trigger_kind=trigger
    )
    return list_response(request, body)


@router.get("/{schedule_id}", responses={200: model_response(PMSchedule)})
def get_schedule(request: Request, schedule_id: str, caller: Caller) -> Response:
    return entity_response(request, services(request).pm.read_schedule(caller, schedule_id))


@router.get(
    "/{schedule_id}/forecast",
    summary="The schedule's coming occurrences",
    responses={200: schema_response("PMForecast", FORECAST, "The coming occurrences")},
)
def schedule_forecast(
    request: Request,
    schedule_id: str,
    caller: Caller,
    horizon: Annotated[str, Query(pattern=_HORIZON.pattern, description="e.g. 90d or 12w; at most 730 days.")] = "90d",
) -> Response:
    match = _HORIZON.match(horizon)
    assert match is not None  # the pattern checked it
    days = int(match.group(1)) * (7 if match.group(2) == "w" else 1)
    body = services(request).pm.schedule_forecast(caller, schedule_id, timedelta(days=days))
    return body_response(request, body)


@router.patch("/{schedule_id}", responses={200: model_response(PMSchedule, "The PM schedule as changed")})
def update_schedule(
    request: Request, schedule_id: str, body: PMSchedulePatch, caller: Caller, version: IfMatch
) -> Response:
    return entity_response(request, services(request).pm.update_schedule(caller, schedule_id, body, version))


@router.delete("/{schedule_id}", status_code=204)
def delete_schedule(request: Request, schedule_id: str, caller: Caller, version: IfMatch) -> Response:
    services(request).pm.delete_schedule(caller, schedule_id, version)
    return Response(status_code=204)


_TEXT = {"anyOf": [{"type": "string"}, {"type": "null"}]}
OVERDUE = {
    "type": "object",
    "required": ["items"],
    "properties": {
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "site_id", "due_at", "days_overdue", "pm_schedule_id", "href"],
                "properties": {
                    "id": {"type": "string"},
                    "site_id": {"type": "string"},
                    "asset_id": _TEXT,
                    "title": _TEXT,
                    "priority": _TEXT,
                    "status": _TEXT,
                    "assigned_to": _TEXT,
                    "due_at": {"type": "string", "format": "date-time"},
                    "days_overdue": {"type": "number"},
                    "pm_schedule_id": {"type": "string"},
                    "pm_occurrence": _TEXT,
                    "href": {"type": "string"},
                },
            },
        }
    },
}


@overdue_router.get(
    "/api/v1/pm-overdue",
    summary="Preventive work open past its due time, most overdue first (the read model)",
    responses={
        200: schema_response("OverduePM", OVERDUE, "The overdue preventive work orders"),
        **problem_responses(404, reason="`site_id` names no site of the tenant."),
        **problem_responses(503, reason="The read model cannot be reached."),
    },
)
def overdue_pm(
    request: Request,
    caller: Caller,
    site_id: Annotated[str | None, Query(min_length=1, max_length=100, description="Only this site.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> Response:
    return body_response(request, request.app.state.dashboards.overdue_pm(caller, site_id, limit))
