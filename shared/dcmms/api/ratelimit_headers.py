"""Adds the rate-limit headers decided during authentication to whatever response the request gets.

Pure ASGI, so the headers also reach responses built by exception handlers (429, 503, 4xx).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class RateLimitHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                state = scope.get("state") or {}
                extra = state.get("ratelimit_headers")
                if extra:
                    message["headers"] = [
                        *message.get("headers", []),
                        *((k.lower().encode(), v.encode()) for k, v in extra.items()),
                    ]
            await send(message)

        await self.app(scope, receive, send_with_headers)
