"""The live-updates protocol's frames (docs/live.md): JSON text, one object per WebSocket message.

Client -> server: ``{"action": "subscribe", "site_id": ..., "asset_id"?: ...}`` (``asset_id``: only that asset's
readings), ``{"action": "unsubscribe", "site_id": ...}``, ``{"action": "ping"}``.
Server -> client: ``alert`` (to every connection of the tenant), ``readings`` (to a site's subscribers),
``subscribed``/``unsubscribed`` (the answer to the action), ``pong``, ``error``.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import orjson

from dcmms.domain.model import Alert

AlertEvent = Literal["raised", "acknowledged", "resolved"]
ALERT_EVENTS: frozenset[str] = frozenset({"raised", "acknowledged", "resolved"})
MAX_MESSAGE_BYTES = 4096  # a client's message is a few dozen bytes; anything larger is refused unread
_ID = re.compile(r"^[A-Za-z0-9_\-:.]{1,64}$")


def alert_frame(event: str, alert: Alert) -> bytes:
    """The alert as ``GET /api/v1/alerts/{id}`` shows it, and what happened to it."""
    if event not in ALERT_EVENTS:
        raise ValueError(f"not an alert event: {event!r}")
    return b'{"type":"alert","event":"' + event.encode() + b'","alert":' + alert.model_dump_json().encode() + b"}"


def readings_frame(site_id: str, asset_id: str, ts: datetime, values: dict[str, float]) -> bytes:
    """An asset's newest value of each metric (``ts`` the newest reading's time, as ``/assets/{id}/latest`` writes)."""
    return orjson.dumps(
        {"type": "readings", "site_id": site_id, "asset_id": asset_id, "ts": iso_z(ts), "values": values}
    )


def pong() -> bytes:
    return b'{"type":"pong"}'


def error(detail: str) -> bytes:
    return orjson.dumps({"type": "error", "detail": detail})


def subscribed(site_id: str, on: bool = True, asset_id: str | None = None) -> bytes:
    body = {"type": "subscribed" if on else "unsubscribed", "site_id": site_id}
    return orjson.dumps(body | ({"asset_id": asset_id} if asset_id else {}))


def iso_z(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class BadMessage(ValueError):
    """A client's message the protocol does not know; ``str()`` is the error frame's detail."""


@dataclass(frozen=True, slots=True)
class Action:
    action: Literal["subscribe", "unsubscribe", "ping"]
    site_id: str | None = None
    asset_id: str | None = None  # subscribe: only this asset's readings (None: every asset of the site)


def parse_action(body: str | bytes | None) -> Action:
    """A client's message, checked; ``BadMessage`` naming what is wrong otherwise."""
    if body is None or len(body) == 0:
        raise BadMessage('Send a JSON object with an "action": subscribe, unsubscribe or ping.')
    if len(body) > MAX_MESSAGE_BYTES:
        raise BadMessage(f"A message is at most {MAX_MESSAGE_BYTES} bytes.")
    try:
        data: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise BadMessage("The message is not JSON.") from None
    if not isinstance(data, dict):
        raise BadMessage('Send a JSON object with an "action": subscribe, unsubscribe or ping.')
    action = data.get("action")
    if action == "ping":
        return Action("ping")
    if action in ("subscribe", "unsubscribe"):
        site_id = data.get("site_id")
        if not isinstance(site_id, str) or not _ID.match(site_id):
            raise BadMessage(f'"{action}" needs a "site_id" (a site\'s id).')
        asset_id = data.get("asset_id") if action == "subscribe" else None
        if asset_id is not None and (not isinstance(asset_id, str) or not _ID.match(asset_id)):
            raise BadMessage('"asset_id", when given, is an asset\'s id.')
        return Action(action, site_id, asset_id)
    raise BadMessage(f"Unknown action {str(action)[:40]!r}: subscribe, unsubscribe or ping.")


def token_expiry(token: str) -> datetime | None:
    """The ``exp`` of a JWT whose signature was verified already (the payload is only read here, not trusted
    otherwise): until when a connection opened with it may receive frames."""
    try:
        payload = token.split(".")[1]
        claims = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return datetime.fromtimestamp(float(claims["exp"]), UTC)
    except (IndexError, KeyError, TypeError, ValueError, orjson.JSONDecodeError):
        return None
