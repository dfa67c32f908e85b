"""Live updates' WebSocket connections in DynamoDB (``models.LiveConnectionModel``; docs/live.md).

One partition per connection: its ``connection`` item and one ``site#<id>`` item per subscription. The tenant's
connections and the tenant's subscriptions come from the two sparse GSIs (eventually consistent, typically within a
second of the write). Items past their ``expires_at`` may linger until DynamoDB's TTL deletes them, so every read
leaves them out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from pynamodb.exceptions import DoesNotExist

from .models import LiveConnectionModel

CONNECTION_ITEM = "connection"
SITE_PREFIX = "site#"


@dataclass(frozen=True, slots=True)
class LiveConnection:
    """Who holds a connection: the principal its token named at ``$connect``, and how long it stands."""

    connection_id: str
    tenant_id: str
    user_id: str
    role: str
    connected_at: datetime
    valid_until: datetime  # the token's expiry: the connection is closed rather than sent frames past it
    expires_at: datetime  # API Gateway's 2 h plus a margin: the items' TTL


@dataclass(frozen=True, slots=True)
class Recipient:
    """A connection as the fan-outs read it from an index: its id, until when frames may go to it and, for a
    subscription narrowed to one asset, that asset."""

    connection_id: str
    valid_until: datetime
    asset_id: str | None = None


def _epoch(moment: datetime) -> float:
    return moment.timestamp()


def _moment(epoch: float) -> datetime:
    return datetime.fromtimestamp(float(epoch), UTC)


def _live(item: LiveConnectionModel, now: datetime) -> bool:
    return item.expires_at is not None and item.expires_at > now


class LiveConnections:
    def add(self, c: LiveConnection) -> None:
        LiveConnectionModel(
            c.connection_id,
            CONNECTION_ITEM,
            tenant_id=c.tenant_id,
            tenant_key=c.tenant_id,
            user_id=c.user_id,
            role=c.role,
            connected_at=c.connected_at.isoformat(),
            valid_until=_epoch(c.valid_until),
            expires_at=c.expires_at,
        ).save()

    def get(self, connection_id: str) -> LiveConnection | None:
        """The connection (strongly consistent: a message may follow ``$connect`` within milliseconds), or None
        when it is unknown or expired."""
        try:
            item = LiveConnectionModel.get(connection_id, CONNECTION_ITEM, consistent_read=True)
        except DoesNotExist:
            return None
        if not _live(item, datetime.now(UTC)):
            return None
        return LiveConnection(
            item.connection_id,
            item.tenant_id,
            item.user_id,
            item.role,
            datetime.fromisoformat(item.connected_at),
            _moment(item.valid_until),
            item.expires_at,
        )

    def sites(self, connection_id: str) -> list[str]:
        """The sites the connection subscribed to."""
        query = LiveConnectionModel.query(
            connection_id, LiveConnectionModel.item.startswith(SITE_PREFIX), consistent_read=True
        )
        return [item.site_id for item in query if item.site_id]

    def subscribe(self, c: LiveConnection, site_id: str, asset_id: str | None = None) -> None:
        """Subscribe to the site's readings (only ``asset_id``'s when given); again for the same site replaces it."""
        LiveConnectionModel(
            c.connection_id,
            SITE_PREFIX + site_id,
            tenant_id=c.tenant_id,
            subscribed_tenant=c.tenant_id,
            site_id=site_id,
            asset_id=asset_id,
            user_id=c.user_id,
            role=c.role,
            connected_at=c.connected_at.isoformat(),
            valid_until=_epoch(c.valid_until),
            expires_at=c.expires_at,
        ).save()

    def unsubscribe(self, connection_id: str, site_id: str) -> None:
        LiveConnectionModel(connection_id, SITE_PREFIX + site_id).delete()

    def remove(self, connection_id: str) -> int:
        """Delete the connection and its subscriptions; how many items there were (0: already gone)."""
        items = list(LiveConnectionModel.query(connection_id, consistent_read=True))
        for item in items:
            item.delete()
        return len(items)

    def of_tenant(self, tenant_id: str) -> list[Recipient]:
        """The tenant's connections (the alerts inbox of each signed-in tab)."""
        now = datetime.now(UTC)
        return [
            Recipient(i.connection_id, _moment(i.valid_until))
            for i in LiveConnectionModel.by_tenant.query(tenant_id)
            if _live(i, now)
        ]

    def subscriptions(self, tenant_id: str) -> dict[str, list[Recipient]]:
        """The tenant's watched sites and, for each, the connections subscribed to its readings."""
        now = datetime.now(UTC)
        out: dict[str, list[Recipient]] = {}
        for i in LiveConnectionModel.subscriptions.query(tenant_id):
            if i.site_id and _live(i, now):
                out.setdefault(i.site_id, []).append(Recipient(i.connection_id, _moment(i.valid_until), i.asset_id))
        return out
