"""Telemetry: aggregated series from the rollups, latest values per metric, and records submitted over HTTP."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, get_args

import orjson
from fastapi import APIRouter, Body, Query, Request
from pydantic import AfterValidator
from starlette.responses import Response

from dcmms.services.telemetry import MAX_RECORDS

from ..http import Caller, body_response, document_schema, json_response, problem_responses, schema_response

router = APIRouter(tags=["telemetry"])

Interval = Literal["1m", "5m", "15m", "1h", "1d"]
Aggregate = Literal["avg", "min", "max", "sum", "last", "count"]

_TS = {"type": "string", "format": "date-time"}
_POINT = {"type": "object", "required": ["ts", "value"], "properties": {"ts": _TS, "value": {"type": "number"}}}
SERIES = {
    "type": "object",
    "required": ["asset_id", "metric", "interval", "agg", "from", "to", "points"],
    "properties": {
        "asset_id": {"type": "string"},
        "metric": {"type": "string"},
        "interval": {"enum": list(get_args(Interval))},
        "agg": {"enum": list(get_args(Aggregate))},
        "from": _TS,
        "to": _TS,
        "points": {"type": "array", "items": _POINT, "description": "One per interval that has data, in time order."},
    },
}
LATEST = {
    "type": "object",
    "required": ["asset_id", "metrics"],
    "properties": {"asset_id": {"type": "string"}, "metrics": {"type": "object", "additionalProperties": _POINT}},
}
ACCEPTED = {
    "type": "object",
    "required": ["accepted"],
    "properties": {"accepted": {"type": "integer", "minimum": 1, "description": "Records put on the stream."}},
}


def _all_metrics() -> list[str]:
    from dcmms.telemetry.metric_names import METRICS

    return sorted(set().union(*METRICS.values()))


def _metric_names(schema: dict[str, Any]) -> None:
    """Every metric of the catalogue; which of them an asset has depends on its type."""
    schema["enum"] = _all_metrics()


def _record_schema() -> dict[str, Any]:
    """The record format (telemetry/record_format.py, docs/telemetry.md) as the ingest path checks it. Built with
    the document: the metric catalogue stays out of the cold start."""
    from dcmms.telemetry.record_format import MAX_READINGS, VERSION

    ident = {"type": "string", "pattern": r"^[A-Za-z0-9_\-:.]{1,64}$"}
    reading = {
        "type": "object",
        "required": ["ts", "metrics"],
        "properties": {
            "ts": {
                "anyOf": [_TS, {"type": "number"}],
                "description": "RFC 3339 with an offset, or Unix milliseconds; within the raw retention (7 days) "
                "and at most 15 minutes ahead.",
            },
            "metrics": {
                "type": "object",
                "description": "Metric name -> value; the names are those of the asset's type.",
                "propertyNames": {"enum": _all_metrics()},
                "additionalProperties": {"type": "number"},
            },
        },
    }
    return {
        "type": "object",
        "required": ["v", "site_id", "asset_id", "readings"],
        "properties": {
            "v": {"const": VERSION},
            "tenant_id": ident | {"description": "The key's tenant (the default); any other is refused."},
            "site_id": ident | {"description": "The asset's site."},
            "asset_id": ident | {"description": "An asset of the key's tenant."},
            "readings": {"type": "array", "minItems": 1, "maxItems": MAX_READINGS, "items": reading},
        },
    }


RECORD = document_schema("TelemetryRecord", _record_schema)
BATCH = document_schema(
    "TelemetryBatch",
    {
        "type": "object",
        "required": ["records"],
        "properties": {"records": {"type": "array", "minItems": 1, "maxItems": MAX_RECORDS, "items": RECORD}},
    },
)


def _encodable(body: dict[str, Any]) -> dict[str, Any]:
    """Records go on the stream as orjson encodes them, and orjson's integers are at most 64 bits (Python's
    JSON parser, which read the body, has no such limit): a larger one is refused here, not by a 500."""
    try:
        orjson.dumps(body)
    except TypeError:
        raise ValueError("integers must fit in 64 bits") from None
    return body


@router.get(
    "/api/v1/telemetry",
    summary="One metric of one asset, aggregated per interval",
    responses={
        200: schema_response("TelemetrySeries", SERIES, "The series"),
        **problem_responses(404, reason="No such asset in the key's tenant."),
    },
)
def telemetry_series(
    request: Request,
    caller: Caller,
    asset_id: Annotated[str, Query(min_length=1, max_length=64)],
    metric: Annotated[
        str,
        Query(
            min_length=1,
            max_length=64,
            description="A metric of the asset's type (docs/telemetry.md).",
            json_schema_extra=_metric_names,
        ),
    ],
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
    responses={200: schema_response("LatestValues", LATEST, "The latest value of each metric")},
)
def latest(request: Request, asset_id: str, caller: Caller) -> Response:
    return body_response(request, request.app.state.telemetry.latest(caller, asset_id))


@router.post(
    "/api/v1/telemetry/ingest",
    status_code=202,
    summary="Submit telemetry records (the Kinesis record format, docs/telemetry.md); tenant from the key",
    responses={
        202: schema_response("TelemetryAccepted", ACCEPTED, "Every record was valid and is on the stream"),
        **problem_responses(
            422, reason="A record is refused (`errors` names it and says why): the batch is all or nothing."
        ),
        **problem_responses(
            503,
            reason="The stream did not take every record (send the request again; readings are stored once), or "
            "rate limiting, which this endpoint may need, is unavailable.",
        ),
    },
)
def ingest(
    request: Request,
    caller: Caller,
    body: Annotated[
        dict[str, Any],
        AfterValidator(_encodable),
        Body(
            description=f'{{"records": [<record>, ...]}} (at most {MAX_RECORDS}), or a single record.',
            json_schema_extra={"anyOf": [BATCH, RECORD]},
        ),
    ],
) -> Response:
    accepted = request.app.state.telemetry.submit(caller, body)
    return json_response({"accepted": accepted}, 202)
