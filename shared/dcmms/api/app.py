"""The FastAPI application factory: the same app behind Lambda (Mangum) and uvicorn locally."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from dcmms import runtime
from dcmms.config import Settings, get_settings
from dcmms.health import HealthChecker
from dcmms.ratelimit import RateLimiter
from dcmms.services import Maintenance
from dcmms.services.dashboard import DashboardService
from dcmms.services.reliability import ReliabilityService
from dcmms.services.search import SearchService
from dcmms.services.telemetry import TelemetryService

from . import observability, problems
from .auth import Authenticator
from .body_limit import BodyLimitMiddleware
from .ratelimit_headers import RateLimitHeadersMiddleware
from .routes import (
    access,
    alerts,
    assets,
    dashboard,
    health,
    pm_schedules,
    procedures,
    reports,
    rules,
    search,
    sites,
    telemetry,
    work_orders,
)

DESCRIPTION = """Maintenance management for solar and wind fleets: sites, assets, work orders and alerts.

Authenticate with the `x-api-key` header (integrations, devices) or, for a person signed in with Cognito,
`Authorization: Bearer <ID token>`. Errors are `application/problem+json` (RFC 9457); every status an
operation can answer is listed with it.
Lists page with `?limit=` (1-1000, default 50) and the opaque `next_cursor`.
Updates take `If-Match` with the `ETag` of a GET for optimistic concurrency."""


def create_app(
    settings: Settings | None = None,
    maintenance: Maintenance | None = None,
    authenticator: Authenticator | None = None,
    health_checker: HealthChecker | None = None,
    rate_limiter: RateLimiter | None | bool = True,
) -> FastAPI:
    """The app. ``rate_limiter=True`` builds the configured one; ``None`` turns limiting off (tests)."""
    settings = settings or get_settings()
    app = FastAPI(title="dCMMS API", version="1.0.0", description=DESCRIPTION, redoc_url=None)
    app.state.settings = settings
    app.state.maintenance = maintenance or runtime.maintenance(settings)
    # PostgreSQL and Kinesis are connected on the first telemetry request, not at cold start.
    app.state.telemetry = TelemetryService(
        app.state.maintenance.fleet,
        lambda: runtime.telemetry_store(settings),
        lambda: runtime.kinesis(settings),
        settings.kinesis_stream,
    )
    # The read model (PostgreSQL, through the replica router) is connected on the first search.
    app.state.search = SearchService(lambda: runtime.search_index(settings))
    app.state.dashboards = DashboardService(app.state.maintenance, lambda: runtime.dashboards(settings))
    # Report jobs (DynamoDB), their queue (SQS) and documents (S3): each client is built on first use.
    app.state.reports = runtime.report_service(settings, app.state.maintenance)
    app.state.reliability = ReliabilityService(app.state.maintenance.fleet, lambda: runtime.downtime(settings))
    app.state.authenticator = authenticator or Authenticator(
        settings.principal_cache_ttl_s,
        lambda: runtime.store_repositories(settings).directory,
        tokens=lambda: runtime.token_verifier(settings),
        credentials=runtime.credential_cache(settings),
    )
    # People and API keys (Cognito, DynamoDB, the usage plans): clients built on the first management call.
    app.state.identity = runtime.identity_admin(settings)
    app.state.health = health_checker or HealthChecker(settings, read_model=lambda: runtime.read_model_status(settings))
    app.state.rate_limiter = runtime.rate_limiter(settings) if rate_limiter is True else rate_limiter
    problems.install(app)
    routers = (
        health,
        sites,
        assets,
        work_orders,
        alerts,
        rules,
        procedures,
        pm_schedules,
        telemetry,
        search,
        dashboard,
        reports,
        access,
    )
    for router in (*(module.router for module in routers), pm_schedules.overdue_router):
        # The routers' routes already carry their full paths, tags and responses; reusing them skips
        # the second dependency analysis include_router would do (~20 ms of cold start).
        app.router.routes.extend(router.routes)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RateLimitHeadersMiddleware)
    observability.install(app, settings)  # request metrics, correlation id, GET /metrics
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document (openapi.py), built only when it is first asked for."""
    if app.openapi_schema is None:
        from .openapi import build

        app.openapi_schema = build(app)
    return app.openapi_schema
