from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from ..http import json_response, schema_response

router = APIRouter(tags=["health"])

_STATE = {"enum": ["healthy", "unhealthy"]}
HEALTH = {
    "type": "object",
    "required": ["status", "timestamp", "uptime", "checks"],
    "properties": {
        "status": {"enum": ["healthy", "degraded", "unhealthy"]},
        "timestamp": {"type": "string", "format": "date-time"},
        "uptime": {"type": "number", "minimum": 0, "description": "Seconds since the process started."},
        "checks": {
            "type": "object",
            "description": "Each dependency's state, and the process's memory.",
            "properties": {
                "memory": {
                    "type": "object",
                    "required": ["status", "usage_percent", "rss_mb"],
                    "properties": {
                        "status": _STATE,
                        "usage_percent": {"type": "number"},
                        "rss_mb": {"type": "number"},
                    },
                }
            },
            "additionalProperties": _STATE,
        },
        "cache": {"type": "object", "description": "Cache hit rates per keyspace, and whether Redis answers."},
        "read_model": {
            "type": "object",
            "description": "The search and dashboard read model (PostgreSQL, fed by DynamoDB Streams): `lag_s` is "
            "the worst projection lag of the latest batch per source table (now minus the oldest record's "
            "creation time when it was projected); `status` healthy, lagging (a batch of the last minute was over "
            "30 s behind: the answer is degraded), empty (nothing projected yet) or unavailable; `databases` the "
            "primary and replicas with their replay lag.",
            "properties": {
                "status": {"enum": ["healthy", "lagging", "empty", "unavailable"]},
                "lag_s": {"anyOf": [{"type": "number"}, {"type": "null"}]},
                "sources": {"type": "object"},
                "databases": {"type": "array", "items": {"type": "object"}},
            },
        },
    },
}
READY = {"type": "object", "required": ["status"], "properties": {"status": {"enum": ["ready", "not_ready"]}}}


@router.get(
    "/health",
    summary="Liveness and dependency status (no API key needed)",
    responses={
        200: schema_response("Health", HEALTH, "Healthy, or degraded (a non-critical dependency is down)"),
        503: schema_response("Health", HEALTH, "Unhealthy: a critical dependency is down"),
    },
)
def health(request: Request) -> Response:
    report = request.app.state.health.health()
    cache = request.app.state.maintenance.cache
    if cache is not None:
        report["cache"] = {"keyspaces": cache.stats.snapshot(), "redis_available": cache.redis.available}
    status = 503 if report["status"] == "unhealthy" else 200
    return json_response(report, status, {"Cache-Control": "no-store"})


@router.get(
    "/ready",
    summary="Readiness: 200 only when critical dependencies answer",
    responses={
        200: schema_response("Readiness", READY, "Ready"),
        503: schema_response("Readiness", READY, "Not ready: a critical dependency does not answer"),
    },
)
def ready(request: Request) -> Response:
    if request.app.state.health.ready():
        return json_response({"status": "ready"}, 200, {"Cache-Control": "no-store"})
    return json_response({"status": "not_ready"}, 503, {"Cache-Control": "no-store"})
