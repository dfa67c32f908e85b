"""Repositories: the only code that sees pynamodb models. They take and return domain entities."""

from __future__ import annotations

from abc import ABC
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import reduce
from typing import Any, Generic, TypeVar

from pynamodb.exceptions import DeleteError, DoesNotExist, PutError
from pynamodb.expressions.condition import Condition

from dcmms.domain.apikeys import hash_api_key
from dcmms.domain.errors import NotFound
from dcmms.domain.identity import ApiKey, AuditEntry, key_prefix
from dcmms.domain.model import (
    ACTIVE_WORK_ORDER_STATUSES,
    ASSIGNED_QUEUE_STATUSES,
    Alert,
    Asset,
    Entity,
    Principal,
    Role,
    Site,
    Tenant,
    Tier,
    User,
    WorkOrder,
    iso,
    utcnow,
)
from dcmms.domain.pm import PMSchedule
from dcmms.domain.procedures import Procedure
from dcmms.domain.reports import Report, ReportSubscription
from dcmms.domain.rules import AlertRule

from .errors import AlreadyExists, StaleVersion
from .models import (
    AlertModel,
    AlertRuleModel,
    ApiKeyModel,
    AssetModel,
    AuditModel,
    PMScheduleModel,
    ProcedureModel,
    ReportModel,
    ReportSubscriptionModel,
    SiteModel,
    TenantModel,
    UserModel,
    WorkOrderModel,
)
from .paging import Page, Plan, decode_cursor, encode_cursor, read_page
from .results import ListResult

E = TypeVar("E", bound=Entity)
T = TypeVar("T")


def _all(conditions: Sequence[Condition | None]) -> Condition | None:
    present = [c for c in conditions if c is not None]
    return reduce(lambda a, b: a & b, present) if present else None


def _conditional_failed(exc: PutError | DeleteError) -> bool:
    return exc.cause_response_code == "ConditionalCheckFailedException"


def _listing(plan: Plan, limit: int, cursor: str | None, convert: Callable[[Any], T]) -> ListResult[T]:
    """One page of ``plan`` after the client's cursor, each item converted, and the cursor to the next."""
    after = decode_cursor(cursor, plan.name) if cursor else None
    page: Page = read_page(plan, limit, after)
    next_cursor = encode_cursor(plan.name, page.next_key) if page.next_key else None
    return ListResult([convert(i) for i in page.items], next_cursor)


class EntityRepository(ABC, Generic[E]):
    """Get, create, versioned replace, delete and paged listing for one entity table."""

    model: type[Any]
    entity: type[E]
    kind: str  # used in messages: "work order", "site" ...

    def _to_item(self, e: E) -> Any:
        """The pynamodb item for ``e``: its key, index and filter attributes, and the JSON document (a table with
        no index or filter attributes stores just the key, version and document)."""
        return self._base(e)

    def _from_item(self, item: Any) -> E:
        return self.entity.model_validate_json(item.doc)

    def _base(self, e: E, **attrs: Any) -> Any:
        return self.model(e.tenant_id, e.id, version=e.version, doc=e.model_dump_json(), **attrs)

    def get(self, tenant_id: str, entity_id: str) -> E:
        """The entity, or NotFound; another tenant's id is indistinguishable from a missing one."""
        try:
            # Strongly consistent: a read that follows a write (e.g. a cache fill) must see it.
            return self._from_item(self.model.get(tenant_id, entity_id, consistent_read=True))
        except DoesNotExist:
            raise NotFound(f"No {self.kind} '{entity_id}'.") from None

    def create(self, e: E) -> E:
        """Store a new entity; AlreadyExists when its id is taken (a conditional write)."""
        try:
            self._to_item(e).save(condition=self.model.id.does_not_exist())
        except PutError as exc:
            if _conditional_failed(exc):
                raise AlreadyExists(f"{self.kind} '{e.id}'") from exc
            raise
        return e

    def replace(self, e: E, expected_version: int) -> E:
        """Write ``e`` only if the stored version is still ``expected_version``."""
        try:
            self._to_item(e).save(condition=self.model.version == expected_version)
        except PutError as exc:
            if _conditional_failed(exc):
                raise StaleVersion from exc
            raise
        return e

    def delete(self, e: E) -> None:
        try:
            self.model(e.tenant_id, e.id).delete(condition=self.model.version == e.version)
        except DeleteError as exc:
            if _conditional_failed(exc):
                raise StaleVersion from exc
            raise

    def batch_create(self, entities: Sequence[E]) -> None:
        """Unconditional batch write (25 items a request, retried by pynamodb): for seeding."""
        with self.model.batch_write() as batch:
            for e in entities:
                batch.save(self._to_item(e))

    def _by_id(self, name: str, tenant_id: str, limit: int, cursor: str | None) -> ListResult[E]:
        """The tenant's items in id order: the listing of the tables with no index."""
        return self._list(Plan(name, self.model.query, self.model.id, [tenant_id], descending=False), limit, cursor)

    def _list(self, plan: Plan, limit: int, cursor: str | None) -> ListResult[E]:
        return _listing(plan, limit, cursor, self._from_item)


class SiteRepository(EntityRepository[Site]):
    model, entity, kind = SiteModel, Site, "site"

    def _to_item(self, e: Site) -> Any:
        return self._base(e, name=e.name)

    def list(self, tenant_id: str, limit: int, cursor: str | None = None) -> ListResult[Site]:
        return self._by_id("sites", tenant_id, limit, cursor)


class AssetRepository(EntityRepository[Asset]):
    model, entity, kind = AssetModel, Asset, "asset"

    def _to_item(self, e: Asset) -> Any:
        return self._base(
            e,
            site_key=f"{e.tenant_id}#{e.site_id}",
            parent_key=f"{e.tenant_id}#{e.parent_id}" if e.parent_id else None,
            type=e.type.value,
            status=e.status.value,
        )

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
        m = AssetModel
        filters: list[Condition | None] = [
            m.type.is_in(*types) if types else None,
            m.status.is_in(*statuses) if statuses else None,
        ]
        if parent_id:
            filters.append(m.site_key == f"{tenant_id}#{site_id}" if site_id else None)
            plan = Plan("assets:parent", m.by_parent.query, m.id, [f"{tenant_id}#{parent_id}"], False, _all(filters))
        elif site_id:
            plan = Plan("assets:site", m.by_site.query, m.id, [f"{tenant_id}#{site_id}"], False, _all(filters))
        else:
            plan = Plan("assets", m.query, m.id, [tenant_id], False, _all(filters))
        return self._list(plan, limit, cursor)

    def locate(self, tenant_id: str, asset_id: str) -> tuple[str, str] | None:
        """(site_id, type) of an asset, or None: what the ingest path checks records against."""
        try:
            item = AssetModel.get(tenant_id, asset_id, attributes_to_get=["site_key", "type"])
        except DoesNotExist:
            return None
        return item.site_key.split("#", 1)[1], item.type

    def has_children(self, tenant_id: str, asset_id: str) -> bool:
        return any(True for _ in AssetModel.by_parent.query(f"{tenant_id}#{asset_id}", limit=1))

    def site_has_assets(self, tenant_id: str, site_id: str) -> bool:
        return any(True for _ in AssetModel.by_site.query(f"{tenant_id}#{site_id}", limit=1))


class WorkOrderRepository(EntityRepository[WorkOrder]):
    model, entity, kind = WorkOrderModel, WorkOrder, "work order"

    def _to_item(self, e: WorkOrder) -> Any:
        t = e.tenant_id
        created = iso(e.created_at)
        active = e.status in ACTIVE_WORK_ORDER_STATUSES
        queued = e.assigned_to is not None and e.status in ASSIGNED_QUEUE_STATUSES
        return self._base(
            e,
            site_key=f"{t}#{e.site_id}",
            site_status=f"{t}#{e.site_id}#{e.status.value}",
            active_tenant=t if active else None,
            assignee_key=f"{t}#{e.assigned_to}" if queued else None,
            asset_key=f"{t}#{e.asset_id}" if e.asset_id else None,
            rank_created=f"{e.priority.rank}#{created}#{e.id}",
            created_key=f"{created}#{e.id}",
            status=e.status.value,
            priority=e.priority.value,
            type=e.type.value,
            assigned_to=e.assigned_to,
            asset_id=e.asset_id,
        )

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
        """Pick the index that answers the filters with key conditions; the rest become filters.

        Order: priority then newest when the plan reads (site, status) or the active index; newest
        first otherwise (see docs/access-patterns.md).
        """
        m, t = WorkOrderModel, tenant_id
        only_active = bool(statuses) and set(statuses) <= {s.value for s in ACTIVE_WORK_ORDER_STATUSES}
        status_filter = m.status.is_in(*statuses) if statuses else None
        common = [
            m.priority.is_in(*priorities) if priorities else None,
            m.type.is_in(*types) if types else None,
        ]
        by_assignee = m.assigned_to == assigned_to if assigned_to else None
        by_asset = m.asset_id == asset_id if asset_id else None
        by_site = m.site_key == f"{t}#{site_id}" if site_id else None
        if site_id and statuses:
            parts = [f"{t}#{site_id}#{s}" for s in statuses]
            plan = Plan(
                "wo:site_status",
                m.by_site_status.query,
                m.rank_created,
                parts,
                filter=_all([*common, by_assignee, by_asset]),
            )
        elif asset_id:
            plan = Plan(
                "wo:asset",
                m.by_asset.query,
                m.created_key,
                [f"{t}#{asset_id}"],
                filter=_all([*common, status_filter, by_assignee, by_site]),
            )
        elif assigned_to and only_active:
            plan = Plan(
                "wo:assignee",
                m.by_assignee.query,
                m.created_key,
                [f"{t}#{assigned_to}"],
                filter=_all([*common, status_filter, by_site]),
            )
        elif site_id:
            plan = Plan(
                "wo:site",
                m.by_site.query,
                m.created_key,
                [f"{t}#{site_id}"],
                filter=_all([*common, status_filter, by_assignee]),
            )
        elif only_active:
            plan = Plan(
                "wo:active", m.active.query, m.rank_created, [t], filter=_all([*common, status_filter, by_assignee])
            )
        else:
            plan = Plan(
                "wo:tenant",
                m.by_tenant_created.query,
                m.created_key,
                [t],
                filter=_all([*common, status_filter, by_assignee]),
            )
        return self._list(plan, limit, cursor)

    def any_active_for_asset(self, tenant_id: str, asset_id: str) -> bool:
        m = WorkOrderModel
        active = m.status.is_in(*(s.value for s in ACTIVE_WORK_ORDER_STATUSES))
        return any(True for _ in m.by_asset.query(f"{tenant_id}#{asset_id}", filter_condition=active, limit=1))

    def any_active_for_site(self, tenant_id: str, site_id: str) -> bool:
        return any(
            True
            for s in ACTIVE_WORK_ORDER_STATUSES
            for _ in WorkOrderModel.by_site_status.query(f"{tenant_id}#{site_id}#{s.value}", limit=1)
        )


class AlertRepository(EntityRepository[Alert]):
    model, entity, kind = AlertModel, Alert, "alert"

    def _to_item(self, e: Alert) -> Any:
        t = e.tenant_id
        return self._base(
            e,
            site_key=f"{t}#{e.site_id}",
            site_status=f"{t}#{e.site_id}#{e.status.value}",
            tenant_status=f"{t}#{e.status.value}",
            asset_key=f"{t}#{e.asset_id}",
            raised_key=f"{iso(e.raised_at)}#{e.id}",
            status=e.status.value,
            severity=e.severity.value,
            asset_id=e.asset_id,
        )

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
        m, t = AlertModel, tenant_id
        sev = m.severity.is_in(*severities) if severities else None
        status_filter = m.status.is_in(*statuses) if statuses else None
        if asset_id:
            by_site = m.site_key == f"{t}#{site_id}" if site_id else None
            plan = Plan(
                "alerts:asset",
                m.by_asset.query,
                m.raised_key,
                [f"{t}#{asset_id}"],
                filter=_all([sev, status_filter, by_site]),
            )
        elif site_id and statuses:
            parts = [f"{t}#{site_id}#{s}" for s in statuses]
            plan = Plan("alerts:site_status", m.by_site_status.query, m.raised_key, parts, filter=sev)
        elif site_id:
            plan = Plan("alerts:site", m.by_site.query, m.raised_key, [f"{t}#{site_id}"], filter=sev)
        elif statuses:
            parts = [f"{t}#{s}" for s in statuses]
            plan = Plan("alerts:status", m.by_tenant_status.query, m.raised_key, parts, filter=sev)
        else:
            plan = Plan("alerts:tenant", m.by_tenant_raised.query, m.raised_key, [t], filter=sev)
        return self._list(plan, limit, cursor)


class AlertRuleRepository(EntityRepository[AlertRule]):
    model, entity, kind = AlertRuleModel, AlertRule, "alert rule"

    def list(self, tenant_id: str, limit: int, cursor: str | None = None) -> ListResult[AlertRule]:
        return self._by_id("rules", tenant_id, limit, cursor)


class ReportRepository(EntityRepository[Report]):
    model, entity, kind = ReportModel, Report, "report"

    def _to_item(self, e: Report) -> Any:
        return self._base(e, created_key=f"{iso(e.created_at)}#{e.id}")

    def _base(self, e: Report, **attrs: Any) -> Any:  # the document keeps "from" as the API shows it
        return self.model(e.tenant_id, e.id, version=e.version, doc=e.model_dump_json(by_alias=True), **attrs)

    def list(self, tenant_id: str, limit: int, cursor: str | None = None) -> ListResult[Report]:
        """Newest first."""
        index = ReportModel.by_tenant_created
        plan = Plan("reports", index.query, ReportModel.created_key, [tenant_id], descending=True)
        return self._list(plan, limit, cursor)


class ReportSubscriptionRepository(EntityRepository[ReportSubscription]):
    model, entity, kind = ReportSubscriptionModel, ReportSubscription, "report subscription"

    def list(self, tenant_id: str, limit: int, cursor: str | None = None) -> ListResult[ReportSubscription]:
        return self._by_id("report-subscriptions", tenant_id, limit, cursor)


class ProcedureRepository(EntityRepository[Procedure]):
    model, entity, kind = ProcedureModel, Procedure, "procedure"

    def list(self, tenant_id: str, limit: int, cursor: str | None = None) -> ListResult[Procedure]:
        return self._by_id("procedures", tenant_id, limit, cursor)


class PMScheduleRepository(EntityRepository[PMSchedule]):
    model, entity, kind = PMScheduleModel, PMSchedule, "PM schedule"

    def _to_item(self, e: PMSchedule) -> Any:
        return self._base(e, site_id=e.site_id, asset_id=e.asset_id, trigger_kind=e.trigger.kind)

    def list(
        self,
        tenant_id: str,
        limit: int,
        cursor: str | None = None,
        *,
        site_id: str | None = None,
        asset_id: str | None = None,
        trigger_kind: str | None = None,
    ) -> ListResult[PMSchedule]:
        m = PMScheduleModel
        filters: list[Condition | None] = [
            m.site_id == site_id if site_id else None,
            m.asset_id == asset_id if asset_id else None,
            m.trigger_kind == trigger_kind if trigger_kind else None,
        ]
        plan = Plan("pm-schedules", m.query, m.id, [tenant_id], descending=False, filter=_all(filters))
        return self._list(plan, limit, cursor)


class DirectoryRepository:
    """Tenants, users and API keys."""

    def tenant_ids(self) -> list[str]:
        """Every tenant. A scan of the (small) tenants table: for scheduled jobs, never a request path."""
        return [t.id for t in TenantModel.scan(attributes_to_get=["id"])]

    def tenant_name(self, tenant_id: str) -> str:
        """The tenant's name (its id when it has no record)."""
        try:
            return str(TenantModel.get(tenant_id).name)
        except DoesNotExist:
            return tenant_id

    def tenant_tier(self, tenant_id: str) -> Tier:
        """The tenant's plan (``pro`` when it names none); what people's rate limits are counted in."""
        try:
            tier = TenantModel.get(tenant_id).tier
        except DoesNotExist:
            return Tier.pro
        return Tier(tier) if tier else Tier.pro

    def create_tenant(self, tenant: Tenant) -> Tenant:
        TenantModel(tenant.id, name=tenant.name, created_at=iso(tenant.created_at)).save()
        return tenant

    def create_user(self, user: User) -> User:
        UserModel(user.tenant_id, user.id, doc=user.model_dump_json()).save()
        return user

    def store_api_key(self, raw_key: str, key_id: str, user: User, tier: Tier, name: str, created: str) -> None:
        """A key owned by ``user`` with the user's role (seeding and the load test)."""
        ApiKeyModel(
            hash_api_key(raw_key),
            key_id=key_id,
            tenant_id=user.tenant_id,
            user_id=user.id,
            role=user.role.value,
            tier=tier.value,
            name=name,
            created_at=created,
            prefix=key_prefix(raw_key),
        ).save()

    # -- people -----------------------------------------------------------------------------------------

    def user(self, tenant_id: str, user_id: str) -> User | None:
        """The person's record, tombstones included (strongly consistent: it decides whether a token stands)."""
        try:
            return User.model_validate_json(UserModel.get(tenant_id, user_id, consistent_read=True).doc)
        except DoesNotExist:
            return None

    def put_user(self, user: User) -> User:
        UserModel(
            user.tenant_id,
            user.id,
            doc=user.model_dump_json(),
            deleted_at=iso(user.deleted_at) if user.deleted_at else None,
        ).save()
        return user

    def list_users(self, tenant_id: str, limit: int, cursor: str | None = None) -> ListResult[User]:
        """The tenant's people in id order, without the deleted."""
        live = UserModel.deleted_at.does_not_exist()
        plan = Plan("users", UserModel.query, UserModel.id, [tenant_id], descending=False, filter=live)
        return _listing(plan, limit, cursor, lambda i: User.model_validate_json(i.doc))

    # -- API keys -----------------------------------------------------------------------------------------

    def create_api_key(self, raw_key: str, key: ApiKey, user_id: str, tier: Tier, gateway_key_id: str | None) -> None:
        """Store a key issued through the management API (as its hash; AlreadyExists on a clash of hashes)."""
        try:
            ApiKeyModel(
                hash_api_key(raw_key),
                key_id=key.id,
                tenant_id=key.tenant_id,
                user_id=user_id,
                role=key.role.value,
                tier=tier.value,
                name=key.name,
                created_at=iso(key.created_at),
                prefix=key.prefix,
                created_by=key.created_by,
                expires_at=iso(key.expires_at) if key.expires_at else None,
                gateway_key_id=gateway_key_id,
            ).save(condition=ApiKeyModel.key_hash.does_not_exist())
        except PutError as exc:
            if _conditional_failed(exc):
                raise AlreadyExists(f"api key '{key.id}'") from exc
            raise

    def list_api_keys(self, tenant_id: str, limit: int, cursor: str | None = None) -> ListResult[ApiKey]:
        """The tenant's keys, revoked ones included, in id order (by_tenant)."""
        plan = Plan("api-keys", ApiKeyModel.by_tenant.query, ApiKeyModel.key_id, [tenant_id], descending=False)
        return _listing(plan, limit, cursor, _api_key)

    def api_key(self, tenant_id: str, key_id: str) -> KeyRecord | None:
        """The key (its hash, to revoke it, and where it was imported) or None; another tenant's is None."""
        for item in ApiKeyModel.by_tenant.query(tenant_id, ApiKeyModel.key_id == key_id, limit=1):
            return KeyRecord(item.key_hash, _api_key(item), Tier(item.tier), item.gateway_key_id)
        return None

    def revoke_api_key(self, digest: str, at: datetime, by: str) -> None:
        """Refuse the key from now on (kept, marked, for the tenant's listing and audit)."""
        ApiKeyModel(digest).update(
            actions=[
                ApiKeyModel.revoked.set(True),
                ApiKeyModel.revoked_at.set(iso(at)),
                ApiKeyModel.revoked_by.set(by),
            ],
            condition=ApiKeyModel.key_hash.exists(),
        )

    def principal_for_key(self, raw_key: str) -> Principal | None:
        """The key's principal, or None when the key is unknown, revoked or expired."""
        return self.principal_for_hash(hash_api_key(raw_key))

    def principal_for_hash(self, digest: str) -> Principal | None:
        try:
            item = ApiKeyModel.get(digest)
        except DoesNotExist:
            return None
        if item.revoked:
            return None
        expires = datetime.fromisoformat(item.expires_at) if item.expires_at else None
        if expires is not None and expires <= utcnow():
            return None
        return Principal(
            tenant_id=item.tenant_id,
            user_id=item.user_id,
            role=Role(item.role),
            tier=Tier(item.tier),
            key_id=item.key_id,
            expires_at=expires,
        )


@dataclass(frozen=True)
class KeyRecord:
    digest: str
    key: ApiKey
    tier: Tier
    gateway_key_id: str | None


def _api_key(item: Any) -> ApiKey:
    def moment(value: str | None) -> datetime | None:
        return datetime.fromisoformat(value) if value else None

    return ApiKey(
        id=item.key_id,
        tenant_id=item.tenant_id,
        name=item.name,
        role=Role(item.role),
        prefix=item.prefix or "",
        created_at=datetime.fromisoformat(item.created_at),
        created_by=item.created_by,
        expires_at=moment(item.expires_at),
        revoked=bool(item.revoked),
        revoked_at=moment(item.revoked_at),
        revoked_by=item.revoked_by,
    )


class AuditRepository:
    """The audit trail of changes to people and keys, newest first."""

    def append(self, entry: AuditEntry) -> None:
        AuditModel(entry.tenant_id, entry.id, doc=entry.model_dump_json()).save()

    def list(self, tenant_id: str, limit: int, cursor: str | None = None) -> ListResult[AuditEntry]:
        plan = Plan("audit", AuditModel.query, AuditModel.id, [tenant_id], descending=True)
        return _listing(plan, limit, cursor, lambda i: AuditEntry.model_validate_json(i.doc))
