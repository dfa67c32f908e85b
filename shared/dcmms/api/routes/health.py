from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from ..http import json_response

router = APIRouter(tags=["health"])


@router.get("/health", summary="Liveness and dependency status (no API key needed)")
def health(request: Request) -> Response:
    report = request.app.state.health.health()
    cache = request.app.state.maintenance.cache
    if cache is not None:
        report["cache"] = {"keyspaces": cache.stats.snapshot(), "redis_available": cache.redis.available}
    status = 503 if report["status"] == "unhealthy" else 200
    return json_response(report, status, {"Cache-Control": "no-store"})


@router.get("/ready", summary="Readiness: 200 only when critical dependencies answer")
def ready(request: Request) -> Response:
    if request.app.state.health.ready():
        return json_response({"status": "ready"}, 200, {"Cache-Control": "no-store"})
    return json_response({"status": "not_ready"}, 503, {"Cache-Control": "no-store"})
