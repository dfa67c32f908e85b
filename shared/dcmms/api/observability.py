"""Request metrics, the correlation id and ``GET /metrics``: what the API adds to every request.

The middleware wraps the whole application, outside Starlette's error middleware, so that it sees
the final status of every response — a 500 from an unhandled exception included — and adds
``x-correlation-id`` to all of them (problem+json errors, 401s, 429s).
"""

from __future__ import annotations

import hmac
import logging
from time import perf_counter
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dcmms.config import Settings
from dcmms.observability import logger, record
from dcmms.observability.logs import CORRELATION_HEADER, correlation_id

from .problems import problem_response

METRICS_PATH = "/metrics"
# Methods outside this set are labelled OTHER: a client must not be able to mint label values.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# A request slower than this is logged at WARNING even when it succeeds.
SLOW_REQUEST_S = 1.0
_HEADER = CORRELATION_HEADER.encode()


class RequestObservabilityMiddleware:
    """Times and counts each request by route template and status, tracks requests in flight, and binds
    the correlation id to the logs of the request and to its response."""

    def __init__(self, app: ASGIApp, unobserved_path: str | None = None) -> None:
        self.app = app
        self.unobserved_path = unobserved_path  # the scrape endpoint: scrapes are not traffic

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] == self.unobserved_path:
            await self.app(scope, receive, send)
            return
        event = scope.get("aws.event")  # set by Mangum in Lambda
        apigw_request_id = (event.get("requestContext") or {}).get("requestId") if event else None
        cid = correlation_id(scope["headers"], fallback=apigw_request_id)
        keys = {"correlation_id": cid} | ({"apigw_request_id": apigw_request_id} if apigw_request_id else {})
        logger.thread_safe_append_keys(**keys)
        header = (_HEADER, cid.encode())
        status = 500  # if the app fails before answering, the server answers 500
        started = perf_counter()
        record.in_flight(1)

        async def send_with_correlation_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_correlation_id)
        finally:
            seconds = perf_counter() - started
            record.in_flight(-1)
            route = getattr(scope.get("route"), "path", None) or record.UNMATCHED
            method = scope["method"] if scope["method"] in METHODS else "OTHER"
            record.request(method, route, status, seconds)
            _log_request(method, route, scope["path"], status, seconds)
            logger.thread_safe_remove_keys(keys)


def _log_request(method: str, route: str, path: str, status: int, seconds: float) -> None:
    """One line per request: ERROR for 5xx, WARNING when slow, else DEBUG (API Gateway keeps access logs)."""
    if status >= 500:
        log = logger.error
    elif seconds >= SLOW_REQUEST_S:
        log = logger.warning
    elif logger.log_level <= logging.DEBUG:
        log = logger.debug
    else:
        return
    log(
        "request",
        extra={
            "method": method,
            "route": route,
            "path": path,
            "status": status,
            "duration_ms": round(seconds * 1000, 2),
        },
    )


def metrics_enabled(settings: Settings) -> bool:
    """``/metrics`` is served by long-running servers only: never in Lambda, where each execution
    environment has its own counts and API Gateway would publish them; in a deployed environment
    only behind ``DCMMS_METRICS_TOKEN``; in the local stack and tests, openly (loopback)."""
    if record.IN_LAMBDA:
        return False
    return bool(settings.metrics_token) or settings.environment in ("local", "test")


def metrics_endpoint(settings: Settings) -> Any:
    expected = f"Bearer {settings.metrics_token}".encode() if settings.metrics_token else None

    async def metrics(request: Request) -> Response:
        sent = request.headers.get("authorization", "").encode()
        if expected is not None and not hmac.compare_digest(sent, expected):
            return problem_response(
                401, "Unauthorized", "Send the metrics token as a Bearer token.", "unauthorized", METRICS_PATH
            )
        from prometheus_client.exposition import choose_encoder

        sink = record.prometheus_sink()
        encode, content_type = choose_encoder(request.headers.get("accept", ""))
        body = encode(sink.registry) if sink is not None else b""
        return Response(body, headers={"content-type": content_type})

    return metrics


def install(app: FastAPI, settings: Settings) -> None:
    """Wrap ``app`` in the request middleware and, where enabled, add ``GET /metrics``."""
    enabled = metrics_enabled(settings)
    if enabled:
        app.router.routes.append(
            Route(METRICS_PATH, metrics_endpoint(settings), methods=["GET"], include_in_schema=False)
        )
        sink = record.prometheus_sink()
        cache = getattr(app.state.maintenance, "cache", None)
        if sink is not None and cache is not None:
            sink.cache.watch(cache.stats)
    build = app.build_middleware_stack
    # Outside the stack Starlette builds (ServerErrorMiddleware first), not inside it as add_middleware would.
    app.build_middleware_stack = lambda: RequestObservabilityMiddleware(  # type: ignore[method-assign]
        build(), METRICS_PATH if enabled else None
    )
