"""The ``live`` function's routes (API Gateway WebSocket API, Lambda proxy integration; docs/live.md).

- ``$connect``: the person's Cognito ID token from ``?token=`` (a browser cannot set headers on a WebSocket),
  verified exactly as an ``Authorization: Bearer`` token is (``dcmms.runtime.token_verifier``: signature, issuer,
  client, expiry, tenant, role, the person's standing). Valid: the connection is stored with its principal and
  the token's expiry, 200. Missing or invalid: 401, and API Gateway refuses the handshake with it. The token is
  never logged or stored.
- ``$disconnect``: the connection and its subscriptions are deleted.
- ``$default``: ``subscribe``/``unsubscribe`` a site of the connection's tenant (another tenant's site, or none,
  is "no such site", as the REST API's 404: nothing leaks), optionally narrowed to one of its assets (frames come
  only for the site's own assets, so an id from elsewhere just receives nothing), ``ping``. The answer is the route's response, which
  API Gateway sends back on the connection: ``subscribed``/``unsubscribed``, ``pong`` or ``error``.
- Frames relayed by the functions inside the VPC (``{"dcmms_live": "deliver", ...}``): posted to their
  connections (``publisher.DirectTransport``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from dcmms.domain.errors import Unauthorized
from dcmms.domain.model import Principal
from dcmms.observability import logger
from dcmms.store.connections import LiveConnection

from . import frames
from .publisher import Delivery, Transport, record_outcome

# API Gateway closes a connection after 2 hours; its items outlive it by 10 minutes, then DynamoDB's TTL removes
# them if no $disconnect came.
CONNECTION_TTL = timedelta(hours=2, minutes=10)
# A token without a readable expiry (it was verified, so it has one) counts as valid this long.
DEFAULT_VALIDITY = timedelta(hours=1)
MAX_SITES = 20  # subscriptions per connection: a browser tab watches one site, a wall display a few


class Connections(Protocol):
    """What the routes do to the connections table (``dcmms.store.connections.LiveConnections``)."""

    def add(self, c: LiveConnection) -> None: ...

    def get(self, connection_id: str) -> LiveConnection | None: ...

    def sites(self, connection_id: str) -> list[str]: ...

    def subscribe(self, c: LiveConnection, site_id: str, asset_id: str | None = None) -> None: ...

    def unsubscribe(self, connection_id: str, site_id: str) -> None: ...

    def remove(self, connection_id: str) -> int: ...


def _reply(frame: bytes) -> dict[str, Any]:
    return {"statusCode": 200, "body": frame.decode()}


class LiveSockets:
    def __init__(
        self,
        verify: Callable[[str], Principal],
        connections: Callable[[], Connections],
        site_exists: Callable[[str, str], bool],
        transport: Callable[[], Transport | None] = lambda: None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._verify = verify
        self._connections = connections
        self._site_exists = site_exists
        self._transport = transport
        self._now = now

    def connect(self, event: dict[str, Any]) -> dict[str, Any]:
        context = event["requestContext"]
        token = (event.get("queryStringParameters") or {}).get("token")
        if not token:
            return {"statusCode": 401, "body": "Connect with ?token=<a signed-in person's ID token>."}
        try:
            principal = self._verify(token)
        except Unauthorized as exc:
            logger.info("live: connection refused", extra={"reason": exc.detail})
            return {"statusCode": 401, "body": exc.detail}
        now = self._now()
        self._connections().add(
            LiveConnection(
                connection_id=context["connectionId"],
                tenant_id=principal.tenant_id,
                user_id=principal.user_id,
                role=principal.role.value,
                connected_at=now,
                valid_until=frames.token_expiry(token) or now + DEFAULT_VALIDITY,
                expires_at=now + CONNECTION_TTL,
            )
        )
        return {"statusCode": 200}

    def disconnect(self, event: dict[str, Any]) -> dict[str, Any]:
        self._connections().remove(event["requestContext"]["connectionId"])
        return {"statusCode": 200}

    def message(self, event: dict[str, Any]) -> dict[str, Any]:
        body = event.get("body")
        if event.get("isBase64Encoded"):
            return _reply(frames.error("Send JSON text frames, not binary ones."))
        try:
            action = frames.parse_action(body)
        except frames.BadMessage as exc:
            return _reply(frames.error(str(exc)))
        if action.action == "ping":
            return _reply(frames.pong())
        assert action.site_id is not None
        connections = self._connections()
        connection = connections.get(event["requestContext"]["connectionId"])
        if connection is None:
            return _reply(frames.error("This connection is not known any more; connect again."))
        if action.action == "unsubscribe":
            connections.unsubscribe(connection.connection_id, action.site_id)
            return _reply(frames.subscribed(action.site_id, on=False))
        if not self._site_exists(connection.tenant_id, action.site_id):
            return _reply(frames.error(f"No site '{action.site_id}'."))
        sites = connections.sites(connection.connection_id)
        if action.site_id not in sites and len(sites) >= MAX_SITES:
            return _reply(frames.error(f"A connection subscribes to at most {MAX_SITES} sites; unsubscribe one."))
        connections.subscribe(connection, action.site_id, action.asset_id)
        return _reply(frames.subscribed(action.site_id, asset_id=action.asset_id))

    def deliver(self, event: dict[str, Any]) -> dict[str, Any]:
        """Frames relayed by a function inside the VPC: post them (this function reaches ``@connections``)."""
        transport = self._transport()
        delivery = Delivery.from_event(event)
        if transport is None:
            logger.warning("live: relayed frames dropped: no @connections endpoint configured here")
            return {"delivered": 0}
        outcome = transport.deliver(delivery)
        record_outcome(outcome)
        return {"delivered": outcome.sent, "failed": outcome.failed, "gone": outcome.gone, "closed": outcome.closed}
