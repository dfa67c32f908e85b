"""Telemetry: aggregated series from the rollups, latest values per metric, and records submitted over HTTP."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, Request
from starlette.responses import Response

from ..http import Caller, body_response, json_response, problem_responses

router = APIRouter(tags=["telemetry"], responses=problem_responses(401, 404, 422))

Interval = Literal["1m", "5m", "15m", "1h", "1d"]
Aggregate = Literal["avg", "min", "max", "sum", "last", "count"]


@router.get(
    "/api/v1/telemetry",
    summary="One metric of one asset, aggregated per interval",
    responses={
        200: {"description": '{"asset_id", "metric", "interval", "agg", "from", "to", "points": [{"ts", "value"}]}'}
    },
)
def telemetry_series(
    request: Request,
    caller: Caller,
    asset_id: Annotated[str, Query(min_length=1, max_length=64)],
    metric: Annotated[str, Query(min_length=1, max_length=64)],
    from_: Annotated[
        datetime | None, Query(alias="from", description="RFC 3339; default: 24 hours before 'to'.")
    ] = None,
    to: Annotated[datetime | None, Query(description="RFC 3339; default: now.")] = None,
    interval: Interval = "5m",
    agg: Aggregate = "avg",
) -> Response:
    body = request.app.state.telemetry.series(caller, asset_id, metric, from_, to, interval, agg)
    return body_response(request, body)


@router.get(
    "/api/v1/assets/{asset_id}/latest",
    summary="The latest value of each metric of an asset",
    responses={200: {"description": '{"asset_id", "metrics": {"<name>": {"ts", "value"}}}'}},
)
def latest(request: Request, asset_id: str, caller: Caller) -> Response:
    return body_response(request, request.app.state.telemetry.latest(caller, asset_id))


@router.post(
    "/api/v1/telemetry/ingest",
    status_code=202,
    summary="Submit telemetry records (the Kinesis record format, docs/telemetry.md); tenant from the key",
    responses={202: {"description": '{"accepted": <records>}'}, **problem_responses(403, 503)},
)
def ingest(
    request: Request,
    caller: Caller,
    body: Annotated[
        dict[str, Any],
        Body(description='{"records": [<record>, ...]} (at most 500), or a single record.'),
    ],
) -> Response:
    accepted = request.app.state.telemetry.submit(caller, body)
    return json_response({"accepted": accepted}, 202)
