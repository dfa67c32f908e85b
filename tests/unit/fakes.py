"""In-memory fakes of the services' ports (dcmms.services.ports): dict-backed repositories that honour
versions as the DynamoDB repositories' conditional writes do, and a cache with the RedisCache contract.

``World`` wires the services over one set of them, as dcmms.runtime does over the real ones.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from dcmms.api.shapes import page_body
from dcmms.cache import Doc
from dcmms.domain.errors import NotFound
from dcmms.domain.model import (
    ACTIVE_WORK_ORDER_STATUSES,
    Alert,
    AlertSeverity,
    Asset,
    AssetType,
    Entity,
    Principal,
    Role,
    Site,
    SiteKind,
    Tier,
    WorkOrder,
    WorkOrderType,
)
from dcmms.domain.rules import AlertRule
from dcmms.services import AlertService, FleetService, KpiService, WorkOrderService
from dcmms.store.errors import AlreadyExists, StaleVersion
from dcmms.store.results import ListResult

E = TypeVar("E", bound=Entity)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class FakeRepository(Generic[E]):
    """Entities by (tenant, id). ``before_write`` runs just before a conditional write, as a concurrent
    writer would; ``gets`` counts reads, so tests can tell a cache hit from a store read."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.rows: dict[tuple[str, str], E] = {}
        self.gets = 0
        self.before_write: Callable[[E], None] | None = None

    def get(self, tenant_id: str, entity_id: str) -> E:
        self.gets += 1
        try:
            return self.rows[(tenant_id, entity_id)].model_copy(deep=True)
        except KeyError:
            raise NotFound(f"No {self.label} '{entity_id}'.") from None

    def create(self, e: E) -> E:
        if (e.tenant_id, e.id) in self.rows:
            raise AlreadyExists(e.id)
        self.rows[(e.tenant_id, e.id)] = e.model_copy(deep=True)
        return e

    def replace(self, e: E, expected_version: int) -> E:
        if self.before_write is not None:
            self.before_write(e)
        stored = self.rows.get((e.tenant_id, e.id))
        if stored is None or stored.version != expected_version:
            raise StaleVersion
        self.rows[(e.tenant_id, e.id)] = e.model_copy(deep=True)
        return e

    def delete(self, e: E) -> None:
        stored = self.rows.get((e.tenant_id, e.id))
        if stored is None or stored.version != e.version:
            raise StaleVersion
        del self.rows[(e.tenant_id, e.id)]

    # -- for tests ------------------------------------------------------------------------------------

    def put(self, e: E) -> E:
        """Store unconditionally (test set-up, or another writer)."""
        self.rows[(e.tenant_id, e.id)] = e.model_copy(deep=True)
        return e

    def bump(self, tenant_id: str, entity_id: str, **changes: Any) -> E:
        """Another writer's change: the stored entity one version on."""
        stored = self.rows[(tenant_id, entity_id)]
        return self.put(type(stored).model_validate(stored.model_dump() | changes | {"version": stored.version + 1}))

    def _page(self, tenant_id: str, limit: int, cursor: str | None, keep: Callable[[E], bool]) -> ListResult[E]:
        items = sorted((e for (t, _), e in self.rows.items() if t == tenant_id and keep(e)), key=lambda e: e.id)
        start = int(cursor) if cursor else 0
        end = start + limit
        return ListResult(items[start:end], str(end) if end < len(items) else None)


def _among(value: str, wanted: Sequence[str]) -> bool:
    return not wanted or value in wanted


class FakeSites(FakeRepository[Site]):
    def list(self, tenant_id: str, limit: int, cursor: str | None = None) -> ListResult[Site]:
        return self._page(tenant_id, limit, cursor, lambda e: True)


class FakeAssets(FakeRepository[Asset]):
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
    ) -> ListResult[Asset]:
        def keep(a: Asset) -> bool:
            return (
                (site_id is None or a.site_id == site_id)
                and (parent_id is None or a.parent_id == parent_id)
                and _among(a.type.value, types)
                and _among(a.status.value, statuses)
            )

        return self._page(tenant_id, limit, cursor, keep)

    def has_children(self, tenant_id: str, asset_id: str) -> bool:
        return any(t == tenant_id and a.parent_id == asset_id for (t, _), a in self.rows.items())

    def site_has_assets(self, tenant_id: str, site_id: str) -> bool:
        return any(t == tenant_id and a.site_id == site_id for (t, _), a in self.rows.items())


class FakeWorkOrders(FakeRepository[WorkOrder]):
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
    ) -> ListResult[WorkOrder]:
        def keep(w: WorkOrder) -> bool:
            return (
                (site_id is None or w.site_id == site_id)
                and _among(w.status.value, statuses)
                and _among(w.priority.value, priorities)
                and _among(w.type.value, types)
                and (assigned_to is None or w.assigned_to == assigned_to)
                and (asset_id is None or w.asset_id == asset_id)
            )

        return self._page(tenant_id, limit, cursor, keep)

    def _active(self, tenant_id: str, keep: Callable[[WorkOrder], bool]) -> bool:
        return any(
            t == tenant_id and w.status in ACTIVE_WORK_ORDER_STATUSES and keep(w) for (t, _), w in self.rows.items()
        )

    def any_active_for_site(self, tenant_id: str, site_id: str) -> bool:
        return self._active(tenant_id, lambda w: w.site_id == site_id)

    def any_active_for_asset(self, tenant_id: str, asset_id: str) -> bool:
        return self._active(tenant_id, lambda w: w.asset_id == asset_id)


class FakeAlerts(FakeRepository[Alert]):
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
    ) -> ListResult[Alert]:
        def keep(a: Alert) -> bool:
            return (
                (site_id is None or a.site_id == site_id)
                and _among(a.status.value, statuses)
                and _among(a.severity.value, severities)
                and (asset_id is None or a.asset_id == asset_id)
            )

        return self._page(tenant_id, limit, cursor, keep)


class FakeRules(FakeRepository[AlertRule]):
    def list(self, tenant_id: str, limit: int, cursor: str | None = None) -> ListResult[AlertRule]:
        return self._page(tenant_id, limit, cursor, lambda e: True)


@dataclass
class FakeRepositories:
    sites: FakeSites = field(default_factory=lambda: FakeSites("site"))
    assets: FakeAssets = field(default_factory=lambda: FakeAssets("asset"))
    work_orders: FakeWorkOrders = field(default_factory=lambda: FakeWorkOrders("work order"))
    alerts: FakeAlerts = field(default_factory=lambda: FakeAlerts("alert"))
    rules: FakeRules = field(default_factory=lambda: FakeRules("alert rule"))


class FakeCache:
    """The EntityCache contract in a dict: versioned entities with tombstones, list pages per list
    version, memoized values."""

    def __init__(self) -> None:
        self.entities: dict[tuple[str, str, str], Doc] = {}
        self.list_versions: Counter[tuple[str, str, str]] = Counter()
        self.pages: dict[tuple[Any, ...], bytes] = {}
        self.memo: dict[tuple[str, str, str], bytes] = {}

    def get_entity(
        self, kind: str, tenant_id: str, entity_id: str, load: Callable[[], Doc], track_reads: bool = False
    ) -> Doc:
        key = (kind, tenant_id, entity_id)
        if key not in self.entities:
            self.entities[key] = load()
        return self.entities[key]

    def put_entity(self, kind: str, tenant_id: str, entity_id: str, doc: Doc) -> None:
        held = self.entities.get((kind, tenant_id, entity_id))
        if held is None or held.version <= doc.version:
            self.entities[(kind, tenant_id, entity_id)] = doc

    def delete_entity(self, kind: str, tenant_id: str, entity_id: str, deleted_version: int) -> None:
        self.put_entity(kind, tenant_id, entity_id, Doc(deleted_version + 1, b""))

    def get_list(
        self, kind: str, tenant_id: str, scopes: Sequence[str], params: dict[str, object], load: Callable[[], bytes]
    ) -> bytes:
        versions = tuple((scope, self.list_versions[(kind, tenant_id, scope)]) for scope in scopes)
        key = (kind, tenant_id, versions, repr(sorted(params.items())))
        if key not in self.pages:
            self.pages[key] = load()
        return self.pages[key]

    def invalidate_lists(self, kind: str, tenant_id: str, scopes: set[str]) -> None:
        for scope in scopes:
            self.list_versions[(kind, tenant_id, scope)] += 1

    def memoize(self, keyspace: str, tenant_id: str, name: str, ttl_s: int, compute: Callable[[], bytes]) -> bytes:
        key = (keyspace, tenant_id, name)
        if key not in self.memo:
            self.memo[key] = compute()
        return self.memo[key]


class World:
    """The services over one set of fakes, with or without a cache."""

    def __init__(self, cache: FakeCache | None = None) -> None:
        self.repos = FakeRepositories()
        self.cache = cache
        self.fleet = FleetService(self.repos, cache, page_body)
        self.work_orders = WorkOrderService(self.repos, cache, page_body)
        self.alerts = AlertService(self.repos, cache, page_body)
        self.kpis = KpiService(self.repos, cache, page_body)

    # -- stored entities, written straight into the fakes ---------------------------------------------

    def site(self, site_id: str = "site_1", tenant: str = "t1", **fields: Any) -> Site:
        data = {"name": "Plant", "kind": SiteKind.solar, "capacity_mw": 5.0, "timezone": "UTC"} | fields
        return self.repos.sites.put(Site(id=site_id, tenant_id=tenant, created_at=T0, updated_at=T0, **data))

    def asset(self, asset_id: str, site_id: str = "site_1", tenant: str = "t1", **fields: Any) -> Asset:
        data = {"name": asset_id, "type": AssetType.inverter} | fields
        return self.repos.assets.put(
            Asset(id=asset_id, tenant_id=tenant, site_id=site_id, created_at=T0, updated_at=T0, **data)
        )

    def work_order(self, wo_id: str, site_id: str = "site_1", tenant: str = "t1", **fields: Any) -> WorkOrder:
        data = {"title": wo_id, "type": WorkOrderType.corrective, "priority": "medium"} | fields
        return self.repos.work_orders.put(
            WorkOrder(id=wo_id, tenant_id=tenant, site_id=site_id, created_at=T0, updated_at=T0, **data)
        )

    def alert(self, alert_id: str, asset_id: str, site_id: str = "site_1", tenant: str = "t1", **fields: Any) -> Alert:
        data = {"severity": AlertSeverity.major, "message": "hot", "raised_at": T0} | fields
        return self.repos.alerts.put(
            Alert(
                id=alert_id,
                tenant_id=tenant,
                site_id=site_id,
                asset_id=asset_id,
                created_at=T0,
                updated_at=T0,
                **data,
            )
        )


def principal(role: Role = Role.admin, tenant: str = "t1", user: str = "usr_1") -> Principal:
    return Principal(tenant_id=tenant, user_id=user, role=role, tier=Tier.pro, key_id="key_1")
