"""The operational use cases. Every method takes the calling Principal and touches only its tenant."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

import orjson
from pydantic import ValidationError

from dcmms.cache import Doc, RedisCache
from dcmms.domain import commands as cmd
from dcmms.domain.errors import Conflict, Forbidden, NotFound, PreconditionFailed, ValidationFailed
from dcmms.domain.ids import new_id
from dcmms.domain.kpis import site_kpis
from dcmms.domain.model import (
    ACTIVE_WORK_ORDER_STATUSES,
    TERMINAL_ALERT,
    Alert,
    AlertStatus,
    Asset,
    Entity,
    Principal,
    Role,
    Site,
    StatusChange,
    Tier,
    WorkOrder,
    WorkOrderStatus,
    WorkOrderType,
    utcnow,
)
from dcmms.domain.rules import PRIORITY_FOR_SEVERITY, AlertRule
from dcmms.domain.workflow import check_transition
from dcmms.store.errors import StaleVersion

if TYPE_CHECKING:
    from dcmms.store.repositories import (
        AlertRepository,
        AlertRuleRepository,
        AssetRepository,
        EntityRepository,
        ListResult,
        SiteRepository,
        WorkOrderRepository,
    )

E = TypeVar("E", bound=Entity)

# The spec's dashboard KPI freshness (section 4.1: query results 5 minutes).
KPI_TTL_S = 300
# Writers that lose a version race re-read and re-apply their change this many times before giving up.
_MAX_ATTEMPTS = 8


def _require_write(p: Principal) -> None:
    if not p.can_write:
        raise Forbidden(f"Role '{p.role.value}' is read-only.")


def _require_fleet(p: Principal) -> None:
    if not p.can_manage_fleet:
        raise Forbidden(f"Role '{p.role.value}' cannot change sites or assets; an admin or supervisor can.")


def _field_error(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"{field}: {message}", errors=[{"field": f"body.{field}", "message": message}])


def _revalidate(entity_type: type[E], data: dict[str, Any]) -> E:
    """Re-check the whole entity after a merge patch (e.g. ``null`` for a required field)."""
    try:
        return entity_type.model_validate(data)
    except ValidationError as exc:
        errors = [{"field": "body." + ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()]
        raise ValidationFailed("The change would leave the resource invalid.", errors=errors) from None


def doc_of(entity: Entity) -> Doc:
    return Doc(entity.version, entity.model_dump_json().encode())


def page_body(result: ListResult[Any]) -> bytes:
    """``{"items": [...], "next_cursor": ...}`` assembled from each entity's own JSON."""
    items = b",".join(item.model_dump_json().encode() for item in result.items)
    return b'{"items":[' + items + b'],"next_cursor":' + orjson.dumps(result.next_cursor) + b"}"


# cache kind -> (label in messages, repository attribute); must match each repository's cache_kind.
_KINDS = {
    "site": ("site", "sites"),
    "asset": ("asset", "assets"),
    "wo": ("work order", "work_orders"),
    "alert": ("alert", "alerts"),
    "rule": ("alert rule", "rules"),
}


class Maintenance:
    """Sites, assets, work orders and alerts. Created once per execution environment.

    Reads go through the Redis cache when one is given; every write updates it (versioned
    write-through) and bumps the list versions it affects. Repositories, and with them pynamodb and
    botocore, are imported on first use: a request answered from the cache never loads them.
    """

    def __init__(self, cache: RedisCache | None = None) -> None:
        self.cache = cache

    @cached_property
    def sites(self) -> SiteRepository:
        from dcmms.store.repositories import SiteRepository

        return SiteRepository()

    @cached_property
    def assets(self) -> AssetRepository:
        from dcmms.store.repositories import AssetRepository

        return AssetRepository()

    @cached_property
    def work_orders(self) -> WorkOrderRepository:
        from dcmms.store.repositories import WorkOrderRepository

        return WorkOrderRepository()

    @cached_property
    def alerts(self) -> AlertRepository:
        from dcmms.store.repositories import AlertRepository

        return AlertRepository()

    @cached_property
    def rules(self) -> AlertRuleRepository:
        from dcmms.store.repositories import AlertRuleRepository

        return AlertRuleRepository()

    # -- cache plumbing, shared by every read and write ----------------------------------------------

    def _read(self, kind: str, p: Principal, entity_id: str) -> Doc:
        """One entity's representation; the repository is touched only on a cache miss."""
        label, repo_attr = _KINDS[kind]

        def load() -> Doc:
            return doc_of(getattr(self, repo_attr).get(p.tenant_id, entity_id))

        if self.cache is None:
            return load()
        doc = self.cache.get_entity(kind, p.tenant_id, entity_id, load, track_reads=kind == "wo")
        if doc.deleted:
            raise NotFound(f"No {label} '{entity_id}'.")
        return doc

    def _page(self, kind: str, p: Principal, params: dict[str, Any], load: Callable[[], ListResult[Any]]) -> bytes:
        if self.cache is None:
            return page_body(load())
        site = params.get("site_id") if kind != "site" else None
        return self.cache.get_list(kind, p.tenant_id, site, params, lambda: page_body(load()))

    def _written(self, repo: EntityRepository[E], entity: E, deleted: bool = False) -> None:
        if self.cache is None:
            return
        kind, tenant = repo.cache_kind, entity.tenant_id
        if deleted:
            self.cache.delete_entity(kind, tenant, entity.id, entity.version)
        else:
            self.cache.put_entity(kind, tenant, entity.id, doc_of(entity))
        site_id = getattr(entity, "site_id", None)
        self.cache.invalidate_lists(kind, tenant, {site_id} if site_id else set())

    def _create(self, repo: EntityRepository[E], entity: E) -> E:
        created = repo.create(entity)
        self._written(repo, created)
        return created

    # -- optimistic concurrency, shared by every mutation -------------------------------------------

    def _mutate(
        self,
        repo: EntityRepository[E],
        p: Principal,
        entity_id: str,
        change: Callable[[E], dict[str, Any]],
        if_match: int | None,
    ) -> E:
        """Read, apply ``change``, write conditionally on the version read; retry lost races.

        With ``If-Match`` the caller pinned a version, so any other version is a 412 and there is no
        retry; without it the change is re-applied to the newer version, so no concurrent write is lost.
        """
        for _ in range(_MAX_ATTEMPTS):
            current = repo.get(p.tenant_id, entity_id)
            if if_match is not None and current.version != if_match:
                raise PreconditionFailed(
                    f"The {repo.kind} is at version {current.version}, not {if_match}; fetch it again.",
                    current_version=current.version,
                )
            data = current.model_dump() | change(current)
            data |= {"version": current.version + 1, "updated_at": utcnow()}
            updated = _revalidate(type(current), data)
            try:
                repo.replace(updated, expected_version=current.version)
            except StaleVersion:
                if if_match is not None:
                    raise PreconditionFailed(f"The {repo.kind} changed meanwhile; fetch it again.") from None
                continue
            self._written(repo, updated)
            return updated
        raise Conflict(f"The {repo.kind} is being changed by many writers at once; retry shortly.")

    @staticmethod
    def _new(entity_type: type[E], prefix: str, p: Principal, fields: dict[str, Any]) -> E:
        now = utcnow()
        return entity_type.model_validate(
            {**fields, "id": new_id(prefix), "tenant_id": p.tenant_id, "created_at": now, "updated_at": now}
        )

    # -- sites --------------------------------------------------------------------------------------

    def create_site(self, p: Principal, body: cmd.SiteCreate) -> Site:
        _require_fleet(p)
        return self._create(self.sites, self._new(Site, "site", p, body.model_dump()))

    def read_site(self, p: Principal, site_id: str) -> Doc:
        return self._read("site", p, site_id)

    def list_sites(self, p: Principal, limit: int, cursor: str | None) -> bytes:
        params = {"limit": limit, "cursor": cursor}
        return self._page("site", p, params, lambda: self.sites.list(p.tenant_id, limit, cursor))

    def update_site(self, p: Principal, site_id: str, body: cmd.SitePatch, if_match: int | None) -> Site:
        _require_fleet(p)
        return self._mutate(self.sites, p, site_id, lambda _: cmd.patch_fields(body), if_match)

    def delete_site(self, p: Principal, site_id: str, if_match: int | None) -> None:
        _require_fleet(p)
        site = self.sites.get(p.tenant_id, site_id)
        if if_match is not None and site.version != if_match:
            raise PreconditionFailed(f"The site is at version {site.version}, not {if_match}.")
        if self.assets.site_has_assets(p.tenant_id, site_id):
            raise Conflict(f"Site '{site_id}' still has assets; delete or move them first.")
        if self.work_orders.any_active_for_site(p.tenant_id, site_id):
            raise Conflict(f"Site '{site_id}' has open work orders; close or cancel them first.")
        self._delete(self.sites, site)

    def site_kpis(self, p: Principal, site_id: str) -> bytes:
        """The site's dashboard KPIs, memoized for ``KPI_TTL_S`` across all processes."""
        self._read("site", p, site_id)  # 404 for a missing or foreign site

        def compute() -> bytes:
            from dcmms.store.repositories import read_all

            t = p.tenant_id
            active = [s.value for s in ACTIVE_WORK_ORDER_STATUSES]
            unresolved = [AlertStatus.active.value, AlertStatus.acknowledged.value]
            return orjson.dumps(
                site_kpis(
                    site_id,
                    read_all(self.assets.list, t, site_id=site_id),
                    read_all(self.work_orders.list, t, site_id=site_id, statuses=active),
                    read_all(self.alerts.list, t, site_id=site_id, statuses=unresolved),
                    utcnow(),
                )
            )

        if self.cache is None:
            return compute()
        return self.cache.memoize("site-kpis", p.tenant_id, site_id, KPI_TTL_S, compute)

    # -- assets -------------------------------------------------------------------------------------

    def _check_parent(self, p: Principal, site_id: str, parent_id: str | None, asset_id: str | None = None) -> None:
        if parent_id is None:
            return
        if parent_id == asset_id:
            raise _field_error("parent_id", "an asset cannot be its own parent")
        try:
            parent = self.assets.get(p.tenant_id, parent_id)
        except NotFound:
            raise _field_error("parent_id", f"no asset '{parent_id}'") from None
        if parent.site_id != site_id:
            raise _field_error("parent_id", f"asset '{parent_id}' is on another site")
        # Walk up so a move cannot close a cycle; hierarchies are a few levels deep.
        seen = {parent_id}
        while parent.parent_id is not None:
            if parent.parent_id == asset_id or parent.parent_id in seen:
                raise _field_error("parent_id", "the move would make the hierarchy a cycle")
            seen.add(parent.parent_id)
            parent = self.assets.get(p.tenant_id, parent.parent_id)

    def _check_site(self, p: Principal, site_id: str) -> Site:
        try:
            return self.sites.get(p.tenant_id, site_id)
        except NotFound:
            raise _field_error("site_id", f"no site '{site_id}'") from None

    def create_asset(self, p: Principal, body: cmd.AssetCreate) -> Asset:
        _require_fleet(p)
        self._check_site(p, body.site_id)
        self._check_parent(p, body.site_id, body.parent_id)
        return self._create(self.assets, self._new(Asset, "ast", p, body.model_dump()))

    def read_asset(self, p: Principal, asset_id: str) -> Doc:
        return self._read("asset", p, asset_id)

    def list_assets(self, p: Principal, limit: int, cursor: str | None, **filters: Any) -> bytes:
        params = {"limit": limit, "cursor": cursor, **filters}
        return self._page(
            "asset", p, params, lambda: self.assets.list(p.tenant_id, limit=limit, cursor=cursor, **filters)
        )

    def update_asset(self, p: Principal, asset_id: str, body: cmd.AssetPatch, if_match: int | None) -> Asset:
        _require_fleet(p)
        fields = cmd.patch_fields(body)

        def change(current: Asset) -> dict[str, Any]:
            if "parent_id" in fields:
                self._check_parent(p, current.site_id, fields["parent_id"], current.id)
            return fields

        return self._mutate(self.assets, p, asset_id, change, if_match)

    def delete_asset(self, p: Principal, asset_id: str, if_match: int | None) -> None:
        _require_fleet(p)
        asset = self.assets.get(p.tenant_id, asset_id)
        if if_match is not None and asset.version != if_match:
            raise PreconditionFailed(f"The asset is at version {asset.version}, not {if_match}.")
        if self.assets.has_children(p.tenant_id, asset_id):
            raise Conflict(f"Asset '{asset_id}' has child assets; delete or re-parent them first.")
        if self.work_orders.any_active_for_asset(p.tenant_id, asset_id):
            raise Conflict(f"Asset '{asset_id}' has open work orders; close or cancel them first.")
        self._delete(self.assets, asset)

    def _delete(self, repo: EntityRepository[E], entity: E) -> None:
        try:
            repo.delete(entity)
        except StaleVersion:
            raise Conflict(f"The {repo.kind} changed while being deleted; retry.") from None
        self._written(repo, entity, deleted=True)

    # -- work orders --------------------------------------------------------------------------------

    def create_work_order(self, p: Principal, body: cmd.WorkOrderCreate) -> WorkOrder:
        _require_write(p)
        self._check_site(p, body.site_id)
        if body.asset_id is not None:
            try:
                asset = self.assets.get(p.tenant_id, body.asset_id)
            except NotFound:
                raise _field_error("asset_id", f"no asset '{body.asset_id}'") from None
            if asset.site_id != body.site_id:
                raise _field_error("asset_id", f"asset '{body.asset_id}' is not on site '{body.site_id}'")
        if body.source_alert_id is not None:
            try:
                self.alerts.get(p.tenant_id, body.source_alert_id)
            except NotFound:
                raise _field_error("source_alert_id", f"no alert '{body.source_alert_id}'") from None
        wo = self._create(
            self.work_orders, self._new(WorkOrder, "wo", p, body.model_dump() | {"created_by": p.user_id})
        )
        if body.source_alert_id is not None:
            # Link the alert back, unless another work order already took it.
            self._mutate(
                self.alerts,
                p,
                body.source_alert_id,
                lambda a: {} if a.work_order_id else {"work_order_id": wo.id},
                None,
            )
        return wo

    def read_work_order(self, p: Principal, wo_id: str) -> Doc:
        return self._read("wo", p, wo_id)

    def list_work_orders(self, p: Principal, limit: int, cursor: str | None, **filters: Any) -> bytes:
        params = {"limit": limit, "cursor": cursor, **filters}
        return self._page(
            "wo",
            p,
            params,
            lambda: self.work_orders.list(p.tenant_id, limit=limit, cursor=cursor, **filters),
        )

    def update_work_order(self, p: Principal, wo_id: str, body: cmd.WorkOrderPatch, if_match: int | None) -> WorkOrder:
        _require_write(p)
        fields = cmd.patch_fields(body)

        def change(current: WorkOrder) -> dict[str, Any]:
            if current.status in (WorkOrderStatus.closed, WorkOrderStatus.cancelled):
                raise Conflict(f"Work order '{wo_id}' is {current.status.value}; it can no longer change.")
            return fields

        return self._mutate(self.work_orders, p, wo_id, change, if_match)

    def transition_work_order(self, p: Principal, wo_id: str, body: cmd.Transition, if_match: int | None) -> WorkOrder:
        _require_write(p)

        def change(current: WorkOrder) -> dict[str, Any]:
            check_transition(current.status, body.to)
            now = utcnow()
            step = StatusChange.model_validate(
                {"from": current.status, "to": body.to, "at": now, "by": p.user_id, "note": body.note}
            )
            done = body.to in (WorkOrderStatus.completed, WorkOrderStatus.closed)
            return {
                "status": body.to,
                "history": [*current.history, step],
                "completed_at": (current.completed_at or now) if done else None,
            }

        return self._mutate(self.work_orders, p, wo_id, change, if_match)

    # -- alerts -------------------------------------------------------------------------------------

    def create_alert(self, p: Principal, body: cmd.AlertCreate) -> Alert:
        _require_write(p)
        try:
            asset = self.assets.get(p.tenant_id, body.asset_id)
        except NotFound:
            raise _field_error("asset_id", f"no asset '{body.asset_id}'") from None
        fields = body.model_dump() | {"site_id": asset.site_id, "raised_at": body.raised_at or utcnow()}
        return self._create(self.alerts, self._new(Alert, "alr", p, fields))

    def read_alert(self, p: Principal, alert_id: str) -> Doc:
        return self._read("alert", p, alert_id)

    def list_alerts(self, p: Principal, limit: int, cursor: str | None, **filters: Any) -> bytes:
        params = {"limit": limit, "cursor": cursor, **filters}
        return self._page(
            "alert", p, params, lambda: self.alerts.list(p.tenant_id, limit=limit, cursor=cursor, **filters)
        )

    def update_alert(self, p: Principal, alert_id: str, body: cmd.AlertPatch, if_match: int | None) -> Alert:
        _require_write(p)
        fields = cmd.patch_fields(body)
        if fields.get("work_order_id"):
            try:
                self.work_orders.get(p.tenant_id, fields["work_order_id"])
            except NotFound:
                raise _field_error("work_order_id", f"no work order '{fields['work_order_id']}'") from None
        return self._mutate(self.alerts, p, alert_id, lambda _: fields, if_match)

    def acknowledge_alert(self, p: Principal, alert_id: str, if_match: int | None, note: str | None = None) -> Alert:
        _require_write(p)

        def change(current: Alert) -> dict[str, Any]:
            if current.status is not AlertStatus.active:
                raise Conflict(
                    f"Alert '{alert_id}' is {current.status.value}; only an active alert can be acknowledged.",
                    current=current.status.value,
                )
            return {
                "status": AlertStatus.acknowledged,
                "acknowledged_at": utcnow(),
                "acknowledged_by": p.user_id,
                "acknowledge_note": note,
            }

        return self._mutate(self.alerts, p, alert_id, change, if_match)

    def resolve_alert(self, p: Principal, alert_id: str, if_match: int | None, note: str | None = None) -> Alert:
        _require_write(p)

        def change(current: Alert) -> dict[str, Any]:
            if current.status in TERMINAL_ALERT:
                raise Conflict(f"Alert '{alert_id}' is already resolved.", current=current.status.value)
            return {
                "status": AlertStatus.resolved,
                "resolved_at": utcnow(),
                "resolved_by": p.user_id,
                "resolution_note": note,
            }

        return self._mutate(self.alerts, p, alert_id, change, if_match)

    # -- alert rules ---------------------------------------------------------------------------------

    def create_rule(self, p: Principal, body: cmd.AlertRuleCreate) -> AlertRule:
        _require_fleet(p)
        now = utcnow()
        fields = body.model_dump() | {
            "id": new_id("rule"),
            "tenant_id": p.tenant_id,
            "created_at": now,
            "updated_at": now,
        }
        return self._create(self.rules, _revalidate(AlertRule, fields))

    def read_rule(self, p: Principal, rule_id: str) -> Doc:
        return self._read("rule", p, rule_id)

    def list_rules(self, p: Principal, limit: int, cursor: str | None) -> bytes:
        params = {"limit": limit, "cursor": cursor}
        return self._page("rule", p, params, lambda: self.rules.list(p.tenant_id, limit, cursor))

    def update_rule(self, p: Principal, rule_id: str, body: cmd.AlertRulePatch, if_match: int | None) -> AlertRule:
        _require_fleet(p)
        return self._mutate(self.rules, p, rule_id, lambda _: cmd.patch_fields(body), if_match)

    def delete_rule(self, p: Principal, rule_id: str, if_match: int | None) -> None:
        _require_fleet(p)
        rule = self.rules.get(p.tenant_id, rule_id)
        if if_match is not None and rule.version != if_match:
            raise PreconditionFailed(f"The alert rule is at version {rule.version}, not {if_match}.")
        self._delete(self.rules, rule)

    # -- alerts raised by rules (ingest) -------------------------------------------------------------

    def raise_rule_alert(
        self, tenant_id: str, rule: AlertRule, asset_id: str, site_id: str, episode: str, at: datetime, value: float
    ) -> tuple[Alert, WorkOrder | None]:
        """The alert of one episode of ``rule`` on an asset, and its work order if the rule asks.

        Ids derive from the episode, and creates are conditional, so a redelivered batch or a
        concurrent evaluator creates each alert and each work order exactly once.
        """
        alert = Alert(
            id=f"alr_{episode}",
            tenant_id=tenant_id,
            site_id=site_id,
            asset_id=asset_id,
            rule_id=rule.id,
            severity=rule.severity,
            message=f"{rule.name}: {rule.metric} = {value:g}",
            raised_at=at,
            created_at=at,
            updated_at=at,
        )
        alert = self._create_once(self.alerts, alert)
        work_order = None
        if rule.auto_work_order:
            work_order = WorkOrder(
                id=f"wo_{episode}",
                tenant_id=tenant_id,
                site_id=site_id,
                asset_id=asset_id,
                title=f"{rule.name} on {asset_id}",
                type=WorkOrderType.corrective,
                priority=PRIORITY_FOR_SEVERITY[rule.severity],
                status=WorkOrderStatus.open,
                source_alert_id=alert.id,
                created_by=f"rule:{rule.id}",
                created_at=at,
                updated_at=at,
            )
            work_order = self._create_once(self.work_orders, work_order)
            if alert.work_order_id is None:
                alert = self._mutate(
                    self.alerts,
                    _system(tenant_id),
                    alert.id,
                    lambda a: {} if a.work_order_id else {"work_order_id": work_order.id},
                    None,
                )
        return alert, work_order

    def resolve_rule_alert(self, tenant_id: str, alert_id: str) -> None:
        """Resolve an alert whose condition cleared (no-op when a person already resolved it)."""
        try:
            self._mutate(
                self.alerts,
                _system(tenant_id),
                alert_id,
                lambda a: (
                    {}
                    if a.status is AlertStatus.resolved
                    else {
                        "status": AlertStatus.resolved,
                        "resolved_at": utcnow(),
                        "resolved_by": "system:rules",
                        "resolution_note": "condition cleared",
                    }
                ),
                None,
            )
        except NotFound:
            return

    def alert_status(self, tenant_id: str, alert_id: str) -> AlertStatus | None:
        try:
            return self.alerts.get(tenant_id, alert_id).status
        except NotFound:
            return None

    def _create_once(self, repo: EntityRepository[E], entity: E) -> E:
        from pynamodb.exceptions import PutError

        try:
            return self._create(repo, entity)
        except PutError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":
                raise
            return repo.get(entity.tenant_id, entity.id)


def _system(tenant_id: str) -> Principal:
    return Principal(
        tenant_id=tenant_id, user_id="system:rules", role=Role.admin, tier=Tier.enterprise, key_id="system"
    )


__all__ = ["Maintenance"]
