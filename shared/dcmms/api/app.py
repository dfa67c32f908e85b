"""The FastAPI application factory: the same app behind Lambda (Mangum) and uvicorn locally."""

from __future__ import annotations

from fastapi import FastAPI

from dcmms.config import Settings, get_settings
from dcmms.health import HealthChecker
from dcmms.services import Maintenance
from dcmms.store.models import bind
from dcmms.store.repositories import DirectoryRepository

from . import problems
from .auth import Authenticator
from .body_limit import BodyLimitMiddleware
from .routes import alerts, assets, health, sites, work_orders

DESCRIPTION = """Maintenance management for solar and wind fleets: sites, assets, work orders and alerts.

Authenticate with the `x-api-key` header. Errors are `application/problem+json` (RFC 9457).
Lists page with `?limit=` (1-1000, default 50) and the opaque `next_cursor`.
Updates take `If-Match` with the `ETag` of a GET for optimistic concurrency."""


def create_app(
    settings: Settings | None = None,
    maintenance: Maintenance | None = None,
    authenticator: Authenticator | None = None,
    health_checker: HealthChecker | None = None,
) -> FastAPI:
    settings = settings or get_settings()
    bind(settings)
    app = FastAPI(title="dCMMS API", version="1.0.0", description=DESCRIPTION, redoc_url=None)
    app.state.settings = settings
    app.state.maintenance = maintenance or Maintenance()
    app.state.authenticator = authenticator or Authenticator(DirectoryRepository(), settings.principal_cache_ttl_s)
    app.state.health = health_checker or HealthChecker(settings)
    problems.install(app)
    for router in (health.router, sites.router, assets.router, work_orders.router, alerts.router):
        app.include_router(router)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    return app
