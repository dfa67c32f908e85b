"""API Gateway's WebSocket API, for the local stack: what the local pollers are to event sources, this is to the
``live`` function (docs/live.md).

``LocalWebSocketApi`` is an ASGI app with both sides of an API Gateway WebSocket API stage:

- the browsers' side, a WebSocket endpoint at ``/ws`` (the stage's URL: ``ws://127.0.0.1:8000/ws?token=...``).
  For each connection it invokes the catalogue's ``live`` handler as API Gateway's Lambda proxy integration
  would: ``$connect`` with the handshake's headers and ``queryStringParameters`` (the token), and the connection
  is refused with the handler's status unless it is 2xx (500 if it raises); ``$default`` with each message's
  ``body``, the handler's response ``body`` sent back on the connection (the route has a route response); and
  ``$disconnect`` once the connection is gone, whoever closed it. ``requestContext`` carries ``connectionId``,
  ``routeKey``, ``eventType``, ``domainName``, ``stage``, ``apiId``, ``connectedAt``, ``identity``... as in AWS.
  As in AWS, a connection is closed (1001, "Going away") after 2 hours, or after 10 minutes without a message
  from the client.
- the backend's side, the ``@connections`` management API that botocore's ``apigatewaymanagementapi`` client
  calls (``endpoint_url`` = ``http://127.0.0.1:8000/ws``, the stage's URL): ``POST /ws/@connections/{id}`` sends
  the body as one message (text when it is UTF-8), ``DELETE`` closes the connection, ``GET`` describes it; an
  unknown connection is 410 ``GoneException``, a body over 128 KB 413 ``PayloadTooLargeException``, as API Gateway
  answers. (``/@connections/{id}`` is served too.) Requests are not authenticated (moto does not either).

So the publisher's code path (``post_to_connection``, ``GoneException``) is exactly the one it takes in AWS.
``mount(app)`` puts it in front of another ASGI app (the API and the web app), for ``make run``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import re
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

STAGE = "ws"
PATH = "/" + STAGE
MAX_DURATION_S = 2 * 3600.0  # API Gateway's connection duration quota
IDLE_TIMEOUT_S = 600.0  # API Gateway's idle connection timeout
MAX_PAYLOAD_BYTES = 128 * 1024  # a message's payload quota (@connections included)
GOING_AWAY = 1001
_MANAGEMENT = re.compile(r"^(?:/ws)?/@connections/([^/]+)$")


def invoke_live(event: dict[str, Any]) -> Any:
    """The catalogue's ``live`` function, invoked as Lambda would (its settings from the process' DCMMS_*)."""
    from dcmms.catalogue import by_name
    from dcmms_dev.stack import invoke

    return invoke(by_name("live").handler, event)


@dataclass
class _Connection:
    id: str
    socket: WebSocket
    connected_at: float
    source_ip: str
    user_agent: str
    headers: dict[str, str]
    last_active: float = field(default_factory=time.time)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    closed_by_server: tuple[int, str] | None = None


def _connection_id() -> str:
    """An id shaped as API Gateway's (16 characters of base64, e.g. ``L0SM9cOFvHcCIhw=``; URL-safe here)."""
    return base64.urlsafe_b64encode(os.urandom(11)).decode()


def _request_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")


class LocalWebSocketApi:
    """One WebSocket API stage (``/ws``) and its ``@connections`` API; ``invoke`` calls the live function."""

    def __init__(
        self,
        invoke: Callable[[dict[str, Any]], Any] = invoke_live,
        max_duration_s: float = MAX_DURATION_S,
        idle_timeout_s: float = IDLE_TIMEOUT_S,
        api_id: str = "local",
    ) -> None:
        self.invoke = invoke
        self.max_duration_s = max_duration_s
        self.idle_timeout_s = idle_timeout_s
        self.api_id = api_id
        self.connections: dict[str, _Connection] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope["path"] == PATH:
            await self._serve(WebSocket(scope, receive, send))
            return
        match = _MANAGEMENT.match(scope.get("path", "")) if scope["type"] == "http" else None
        if match is None:
            await JSONResponse({"message": "Not Found"}, status_code=404)(scope, receive, send)
            return
        response = await self._manage(Request(scope, receive), match.group(1))
        await response(scope, receive, send)

    # -- the browsers' side -------------------------------------------------------------------------------

    def _context(self, connection: _Connection, route: str, event_type: str, now: float) -> dict[str, Any]:
        return {
            "routeKey": route,
            "eventType": event_type,
            "extendedRequestId": uuid.uuid4().hex[:16] + "=",
            "requestTime": _request_time(now),
            "messageDirection": "IN",
            "stage": STAGE,
            "connectedAt": int(connection.connected_at * 1000),
            "requestTimeEpoch": int(now * 1000),
            "identity": {"sourceIp": connection.source_ip, "userAgent": connection.user_agent},
            "requestId": uuid.uuid4().hex[:16] + "=",
            "domainName": connection.headers.get("host", "127.0.0.1"),
            "connectionId": connection.id,
            "apiId": self.api_id,
        }

    def _connect_event(self, connection: _Connection) -> dict[str, Any]:
        scope = connection.socket.scope
        query: dict[str, list[str]] = {}
        for key, value in connection.socket.query_params.multi_items():
            query.setdefault(key, []).append(value)
        headers = {
            **{name.title(): value for name, value in connection.headers.items()},
            "X-Forwarded-For": connection.source_ip,
            "X-Forwarded-Port": str((scope.get("server") or ("", 80))[1]),
            "X-Forwarded-Proto": "https" if scope.get("scheme") == "wss" else "http",
        }
        return {
            "headers": headers,
            "multiValueHeaders": {k: [v] for k, v in headers.items()},
            "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
            "multiValueQueryStringParameters": query or None,
            "requestContext": self._context(connection, "$connect", "CONNECT", time.time()),
            "isBase64Encoded": False,
        }

    async def _call(self, event: dict[str, Any]) -> Any:
        return await asyncio.to_thread(self.invoke, event)

    async def _serve(self, socket: WebSocket) -> None:
        client = socket.scope.get("client") or ("127.0.0.1", 0)
        headers = {name: value for name, value in socket.headers.items()}
        connection = _Connection(
            _connection_id(), socket, time.time(), client[0], headers.get("user-agent", ""), headers
        )
        try:
            reply = await self._call(self._connect_event(connection)) or {}
            status = int(reply.get("statusCode", 200))
        except Exception as exc:  # the integration failed: API Gateway answers the handshake 500
            print(f"local websocket: $connect failed: {exc!r}", file=sys.stderr)
            reply, status = {"body": '{"message": "Internal server error"}'}, 500
        if not 200 <= status < 300:
            await socket.send_denial_response(Response(reply.get("body") or "", status_code=status))
            return
        await socket.accept()
        self.connections[connection.id] = connection
        code, reason = 1005, "Client-side close frame status not set"
        try:
            code, reason = await self._receive(connection)
        finally:
            self.connections.pop(connection.id, None)
            if connection.closed_by_server is not None:
                code, reason = connection.closed_by_server
            await self._disconnected(connection, code, reason)

    async def _receive(self, connection: _Connection) -> tuple[int, str]:
        """Messages until the connection closes; (status code, reason) of the close."""
        socket = connection.socket
        while True:
            now = time.time()
            left = min(
                connection.connected_at + self.max_duration_s - now, connection.last_active + self.idle_timeout_s - now
            )
            try:
                message = await asyncio.wait_for(socket.receive(), timeout=max(left, 0.001))
            except TimeoutError:
                expired = time.time() >= connection.connected_at + self.max_duration_s
                reason = "Connection duration exceeded" if expired else "Idle timeout exceeded"
                connection.closed_by_server = (GOING_AWAY, reason)
                async with connection.lock:
                    with contextlib.suppress(Exception):
                        await socket.close(GOING_AWAY, "Going away")
                return GOING_AWAY, reason
            if message["type"] == "websocket.disconnect":
                code = int(message.get("code") or 1005)
                return code, "" if code != 1005 else "Client-side close frame status not set"
            connection.last_active = time.time()
            text, data = message.get("text"), message.get("bytes")
            if text is None and data is None:
                continue
            await self._message(connection, text, data)

    async def _message(self, connection: _Connection, text: str | None, data: bytes | None) -> None:
        now = time.time()
        context = self._context(connection, "$default", "MESSAGE", now) | {"messageId": uuid.uuid4().hex[:16] + "="}
        binary = text is None
        body = base64.b64encode(data or b"").decode() if binary else text
        event = {"requestContext": context, "body": body, "isBase64Encoded": binary}
        try:
            reply = await self._call(event) or {}
        except Exception as exc:  # what API Gateway sends back when the integration fails
            print(f"local websocket: $default failed: {exc!r}", file=sys.stderr)
            reply = {
                "body": orjson.dumps(
                    {
                        "message": "Internal server error",
                        "connectionId": connection.id,
                        "requestId": context["requestId"],
                    }
                ).decode()
            }
        body_out = reply.get("body") if isinstance(reply, dict) else None
        if body_out:
            await self._send(connection, body_out.encode() if isinstance(body_out, str) else body_out)

    async def _disconnected(self, connection: _Connection, code: int, reason: str) -> None:
        now = time.time()
        event = {
            "headers": {"Host": connection.headers.get("host", "127.0.0.1"), "X-Forwarded-For": connection.source_ip},
            "multiValueHeaders": {},
            "requestContext": self._context(connection, "$disconnect", "DISCONNECT", now)
            | {"disconnectStatusCode": code, "disconnectReason": reason},
            "isBase64Encoded": False,
        }
        try:
            await self._call(event)
        except Exception as exc:  # API Gateway does not retry $disconnect either
            print(f"local websocket: $disconnect failed: {exc!r}", file=sys.stderr)

    async def _send(self, connection: _Connection, data: bytes) -> None:
        async with connection.lock:
            try:
                text = data.decode()
            except UnicodeDecodeError:
                await connection.socket.send_bytes(data)
            else:
                await connection.socket.send_text(text)

    # -- the backend's side: @connections -------------------------------------------------------------------

    async def _manage(self, request: Request, connection_id: str) -> Response:
        connection = self.connections.get(connection_id)
        if connection is None:
            return _error(410, "GoneException", f"Connection {connection_id} is gone.")
        if request.method == "POST":
            data = await request.body()
            if len(data) > MAX_PAYLOAD_BYTES:
                return _error(413, "PayloadTooLargeException", "Message too long")
            try:
                await self._send(connection, data)
            except (WebSocketDisconnect, RuntimeError, OSError):
                return _error(410, "GoneException", f"Connection {connection_id} is gone.")
            return Response(status_code=200)
        if request.method == "DELETE":
            connection.closed_by_server = (1000, "Connection deleted by the backend")
            async with connection.lock:
                with contextlib.suppress(Exception):
                    await connection.socket.close(1000)
            return Response(status_code=204)
        if request.method == "GET":
            return JSONResponse(
                {
                    "connectedAt": _iso(connection.connected_at),
                    "identity": {"sourceIp": connection.source_ip, "userAgent": connection.user_agent},
                    "lastActiveAt": _iso(connection.last_active),
                }
            )
        return _error(405, "BadRequestException", f"{request.method} is not an @connections operation.")


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _error(status: int, kind: str, message: str) -> Response:
    """An error as API Gateway's @connections API writes it: botocore reads the kind from x-amzn-ErrorType."""
    return JSONResponse({"message": message}, status_code=status, headers={"x-amzn-ErrorType": kind})


def mount(app: ASGIApp, live: LocalWebSocketApi | None = None) -> ASGIApp:
    """``app`` with the WebSocket API stage in front of it: ``/ws`` (WebSocket) and ``@connections`` go to ``live``
    (a new ``LocalWebSocketApi`` over the catalogue's live function by default), everything else to ``app``."""
    stage = live or LocalWebSocketApi()

    async def routed(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (scope["type"] == "websocket" and path == PATH) or (
            scope["type"] == "http" and _MANAGEMENT.match(path) is not None
        ):
            await stage(scope, receive, send)
        else:
            await app(scope, receive, send)

    return routed


def endpoint_url(api_url: str) -> str:
    """The local ``live_endpoint_url`` of a stack serving at ``api_url``: the stage's URL, as in AWS."""
    return api_url.rstrip("/") + PATH
