"""What the services need from outside, as protocols: one repository per aggregate, the cache, and the
encoder of list pages.

``dcmms.store.repositories`` implements the repositories over DynamoDB, ``dcmms.cache.RedisCache`` the
cache, ``dcmms.api.shapes.page_body`` the encoder; ``dcmms.runtime`` wires them together. Each protocol
names exactly what the services call, so an in-memory fake of it is a faithful stand-in in unit tests.
Every repository call is scoped by tenant: another tenant's id reads as a missing one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from dcmms.cache import Doc
from dcmms.domain.model import Alert, Asset, Entity, Site, WorkOrder
from dcmms.domain.pm import PMSchedule
from dcmms.domain.procedures import Procedure
from dcmms.domain.rules import AlertRule
from dcmms.store.results import ListResult

E = TypeVar("E", bound=Entity)


class Repository(Protocol[E]):
    """One aggregate's table: get, create-once, versioned replace and versioned delete."""

    def get(self, tenant_id: str, entity_id: str) -> E:
        """The entity (strongly consistent), or NotFound."""
        ...

    def create(self, e: E) -> E:
        """Store a new entity; AlreadyExists when its id is taken."""
        ...

    def replace(self, e: E, expected_version: int) -> E:
        """Write ``e`` only if the stored version is still ``expected_version``; StaleVersion otherwise."""
        ...

    def delete(self, e: E) -> None:
        """Delete only if the stored version is ``e.version``; StaleVersion otherwise."""
        ...


class Sites(Repository[Site], Protocol):
    def list(self, tenant_id: str, limit: int, cursor: str | None = None) -> ListResult[Site]: ...


class Assets(Repository[Asset], Protocol):
    def list(
        self,
        tenant_id: str,
        *,
        limit: int,
        cursor: str | None = None,
        site_id: str | None = None,
        parent_id: str | None = None,
        types: Sequence[str] = (),
        statuses: Sequence[str] = (),
    ) -> ListResult[Asset]: ...

    def has_children(self, tenant_id: str, asset_id: str) -> bool: ...

    def site_has_assets(self, tenant_id: str, site_id: str) -> bool: ...


class WorkOrders(Repository[WorkOrder], Protocol):
    def list(
        self,
        tenant_id: str,
        *,
        limit: int,
        cursor: str | None = None,
        site_id: str | None = None,
        statuses: Sequence[str] = (),
        priorities: Sequence[str] = (),
        types: Sequence[str] = (),
        assigned_to: str | None = None,
        asset_id: str | None = None,
    ) -> ListResult[WorkOrder]: ...

    def any_active_for_site(self, tenant_id: str, site_id: str) -> bool:
        """Whether any work order of the site is in an active status (ACTIVE_WORK_ORDER_STATUSES)."""
        ...

    def any_active_for_asset(self, tenant_id: str, asset_id: str) -> bool: ...


class Alerts(Repository[Alert], Protocol):
    def list(
        self,
        tenant_id: str,
        *,
        limit: int,
        cursor: str | None = None,
        site_id: str | None = None,
        statuses: Sequence[str] = (),
        severities: Sequence[str] = (),
        asset_id: str | None = None,
    ) -> ListResult[Alert]: ...


class Rules(Repository[AlertRule], Protocol):
    def list(self, tenant_id: str, limit: int, cursor: str | None = None) -> ListResult[AlertRule]: ...


class Procedures(Repository[Procedure], Protocol):
    def list(self, tenant_id: str, limit: int, cursor: str | None = None) -> ListResult[Procedure]: ...


class PMSchedules(Repository[PMSchedule], Protocol):
    def list(
        self,
        tenant_id: str,
        limit: int,
        cursor: str | None = None,
        *,
        site_id: str | None = None,
        asset_id: str | None = None,
        trigger_kind: str | None = None,
    ) -> ListResult[PMSchedule]: ...


class Repositories(Protocol):
    """The repositories the services share. Read-only members, so a holder may build each on first use
    (the composition root does: a request answered from the cache never loads pynamodb)."""

    @property
    def sites(self) -> Sites: ...

    @property
    def assets(self) -> Assets: ...

    @property
    def work_orders(self) -> WorkOrders: ...

    @property
    def alerts(self) -> Alerts: ...

    @property
    def rules(self) -> Rules: ...

    @property
    def procedures(self) -> Procedures: ...

    @property
    def pm_schedules(self) -> PMSchedules: ...


class EntityCache(Protocol):
    """Cache-aside entities with versioned write-through, versioned list pages and memoized results."""

    def get_entity(
        self, kind: str, tenant_id: str, entity_id: str, load: Callable[[], Doc], track_reads: bool = False
    ) -> Doc:
        """The cached representation, else ``load()``'s (a tombstone, an empty body, once deleted)."""
        ...

    def put_entity(self, kind: str, tenant_id: str, entity_id: str, doc: Doc) -> None:
        """Write-through after a write; never replaces a newer version."""
        ...

    def delete_entity(self, kind: str, tenant_id: str, entity_id: str, deleted_version: int) -> None:
        """A tombstone above the deleted version."""
        ...

    def get_list(
        self, kind: str, tenant_id: str, scopes: Sequence[str], params: dict[str, object], load: Callable[[], bytes]
    ) -> bytes:
        """A list page cached under the current versions of ``scopes``, else ``load()``'s."""
        ...

    def invalidate_lists(self, kind: str, tenant_id: str, scopes: set[str]) -> None:
        """Start new list versions for ``scopes`` (``""``: the tenant-wide one)."""
        ...

    def memoize(self, keyspace: str, tenant_id: str, name: str, ttl_s: int, compute: Callable[[], bytes]) -> bytes:
        """``compute()`` at most once per ``ttl_s``."""
        ...


# How a page of a listing is written out (dcmms.api.shapes.page_body); the cache keeps the bytes.
PageEncoder = Callable[[ListResult[Any]], bytes]
