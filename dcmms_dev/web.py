"""The web app at the API's origin, locally as CloudFront serves it in AWS.

``wrap(api, settings)`` is an ASGI app in front of the API app:

- ``/api/*``, ``/health``, ``/ready``, ``/docs``, ``/openapi.json``, ``/metrics`` (and every WebSocket) go to the
  API unchanged;
- ``/static/*`` are the files of ``web/dist`` (the Vite build); the hashed ones under ``assets/`` are cached for
  a year (``immutable``), anything else is revalidated;
- ``/config.json`` is the app's configuration: the user pool, its web client, the region and the Cognito
  endpoint the browser signs in at (moto's server locally, which answers the browser's CORS preflight);
- any other GET is ``index.html`` (the app routes in the browser), never cached;
- the app's responses carry a strict Content-Security-Policy and the other security headers; the API's keep
  their own.

Without a build (no ``web/dist/index.html``) the app's pages are a 503 saying how to make one; the API is
unaffected. The build is read on each request, so ``npm run build`` while the stack runs is picked up.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dcmms.config import Settings
from dcmms_dev import websocket

WEB_DIST = Path(__file__).resolve().parent.parent / "web" / "dist"
BUILD_HINT = "cd web && npm ci && npm run build"
API_PREFIXES = ("/api/", "/docs/")
API_PATHS = frozenset({"/api", "/health", "/ready", "/docs", "/openapi.json", "/metrics"})
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"

mimetypes.add_type("text/javascript", ".js")
mimetypes.add_type("text/javascript", ".mjs")
mimetypes.add_type("application/manifest+json", ".webmanifest")


def is_api(path: str) -> bool:
    return path in API_PATHS or path.startswith(API_PREFIXES)


def cognito_endpoint(settings: Settings) -> str:
    """Where the browser calls Cognito's JSON API: the emulator's endpoint locally, else the region's."""
    return settings.endpoint_for("cognito-idp") or f"https://cognito-idp.{settings.aws_region}.amazonaws.com/"


def web_config(settings: Settings) -> dict[str, Any]:
    """``/config.json``: what the app needs to sign people in; ``api`` is the API's base ("" = this origin)."""
    config: dict[str, Any] = {
        "cognito": {
            "region": settings.aws_region,
            "user_pool_id": settings.cognito_user_pool_id,
            "client_id": settings.cognito_client_id,
            "endpoint": cognito_endpoint(settings),
        },
        "api": "",
    }
    if settings.live_socket_url:  # the live updates' WebSocket (absent: the app polls)
        config["live"] = settings.live_socket_url
    return config


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def content_security_policy(settings: Settings) -> str:
    """No inline script or style, nothing from elsewhere but the Cognito endpoint the app signs in at and the live
    updates' WebSocket (named, not left to 'self', which not every browser extends to ws:)."""
    others = [_origin(cognito_endpoint(settings)), _origin(settings.live_socket_url or "")]
    connect = " ".join(["'self'", *filter(None, others)])
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src {connect}; frame-ancestors 'none'; base-uri 'self'; object-src 'none'"
    )


def security_headers(settings: Settings) -> list[tuple[bytes, bytes]]:
    return [
        (b"content-security-policy", content_security_policy(settings).encode()),
        (b"strict-transport-security", b"max-age=63072000; includeSubDomains"),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"strict-origin-when-cross-origin"),
    ]


def _missing_build(dist: Path) -> Response:
    body = (
        "<!doctype html><html lang=en><meta charset=utf-8><title>dCMMS: web app not built</title>"
        "<h1>The web app is not built</h1>"
        f"<p>There is no <code>{dist}/index.html</code>. Build it with <code>{BUILD_HINT}</code> "
        "(the running stack picks it up), then reload this page.</p>"
        '<p>The API is up: <a href="/docs">/docs</a>.</p></html>'
    )
    return HTMLResponse(body, status_code=503, headers={"Cache-Control": "no-store", "Retry-After": "30"})


class WebApp:
    """The app's own responses (everything but the API): static files, ``/config.json`` and the SPA fallback."""

    def __init__(self, api: ASGIApp, settings: Settings, dist: Path) -> None:
        self.api = api
        self.settings = settings
        self.dist = dist
        self.headers = security_headers(settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        if request.method not in ("GET", "HEAD"):
            await self.api(scope, receive, send)  # the API's own 404/405 problem
            return
        response = self._respond(scope["path"])

        async def secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *self.headers]
            await send(message)

        await response(scope, receive, secured)

    def _respond(self, path: str) -> Response:
        if path == "/config.json":
            return JSONResponse(web_config(self.settings), headers={"Cache-Control": REVALIDATE})
        if path == "/static" or path.startswith("/static/"):
            return self._static(path.removeprefix("/static").lstrip("/"))
        index = self.dist / "index.html"
        if not index.is_file():
            return _missing_build(self.dist)
        return FileResponse(index, media_type="text/html; charset=utf-8", headers={"Cache-Control": REVALIDATE})

    def _static(self, relative: str) -> Response:
        root = self.dist.resolve()
        try:
            file = (root / relative).resolve()
        except (OSError, ValueError):
            file = root
        if not relative or not file.is_relative_to(root) or not file.is_file():
            return PlainTextResponse("Not found", status_code=404, headers={"Cache-Control": "no-store"})
        hashed = file.parent == root / "assets"  # Vite names everything it emits there by content hash
        media_type = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        return FileResponse(file, media_type=media_type, headers={"Cache-Control": IMMUTABLE if hashed else REVALIDATE})


def wrap(api: ASGIApp, settings: Settings, dist: Path = WEB_DIST) -> ASGIApp:
    """The API app with the web app beside it, at one origin."""
    web = GZipMiddleware(WebApp(api, settings, dist), minimum_size=512)
    # the API's answers compressed as CloudFront compresses them (compress=True)
    compressed_api = GZipMiddleware(api, minimum_size=1024)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await (compressed_api if is_api(scope["path"]) else web)(scope, receive, send)
        else:  # the API's WebSockets and the lifespan
            await api(scope, receive, send)

    return websocket.mount(app)  # and the WebSocket API's stage: /ws and @connections, as API Gateway serves them
