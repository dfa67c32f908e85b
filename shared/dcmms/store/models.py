"""pynamodb table definitions: the one source of truth for tables, keys and indexes.

The local stack creates tables from these classes and the CDK stacks read ``table_definitions()``,
so what runs locally is what deploys. Each item keeps its filterable attributes at the top level
(for key conditions and filters) and the whole entity as one JSON document (``doc``), which is one
orjson call to read back instead of one conversion per attribute.
"""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import BooleanAttribute, NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from dcmms.config import Settings
from dcmms.store import API_KEYS_TABLE


class _Base(Model):
    """Tables bind to settings at run time (``bind``); ``base_name`` is the name without prefix.

    ``stream_view_type``: the table's DynamoDB stream (``NEW_AND_OLD_IMAGES`` for the tables the read model
    projects, ``dcmms.readmodel``), None for none.
    """

    base_name = ""
    stream_view_type: str | None = None

    class Meta:
        table_name = "unbound"
        region = "us-east-1"
        billing_mode = "PAY_PER_REQUEST"


def _gsi(name: str, hash_attr: str, range_attr: str) -> type[GlobalSecondaryIndex]:
    """An ALL-projected GSI class whose keys are the named attributes of the model."""

    meta = type("Meta", (), {"index_name": name, "projection": AllProjection()})
    attrs: dict[str, Any] = {
        "Meta": meta,
        hash_attr: UnicodeAttribute(hash_key=True),
        range_attr: UnicodeAttribute(range_key=True),
    }
    return type(f"GSI_{name}", (GlobalSecondaryIndex,), attrs)


class TenantModel(_Base):
    base_name = "tenants"
    id = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute()
    created_at = UnicodeAttribute()
    tier = UnicodeAttribute(null=True)  # the tenant's plan, for people signed in (API keys carry their own)


class UserModel(_Base):
    base_name = "users"
    tenant_id = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)
    doc = UnicodeAttribute()
    deleted_at = UnicodeAttribute(null=True)  # a tombstone: listings skip it, token checks still find it


class ApiKeyModel(_Base):
    """Keyed by the SHA-256 of the key: the key itself is never stored."""

    base_name = API_KEYS_TABLE
    key_hash = UnicodeAttribute(hash_key=True)
    key_id = UnicodeAttribute()
    tenant_id = UnicodeAttribute()
    user_id = UnicodeAttribute()
    role = UnicodeAttribute()
    tier = UnicodeAttribute()
    name = UnicodeAttribute()
    created_at = UnicodeAttribute()
    revoked = BooleanAttribute(default=False)
    by_tenant = _gsi("by_tenant", "tenant_id", "key_id")()
    # Issued through the management API (older seeded keys have none of these):
    prefix = UnicodeAttribute(null=True)
    created_by = UnicodeAttribute(null=True)
    expires_at = UnicodeAttribute(null=True)
    revoked_at = UnicodeAttribute(null=True)
    revoked_by = UnicodeAttribute(null=True)
    gateway_key_id = UnicodeAttribute(null=True)  # the API Gateway key it was imported as (its usage plan)


class AuditModel(_Base):
    """Changes to people and API keys, per tenant in time order (ids are ULIDs)."""

    base_name = "audit"
    tenant_id = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)
    doc = UnicodeAttribute()


class _EntityBase(_Base):
    stream_view_type: str | None = "NEW_AND_OLD_IMAGES"
    tenant_id = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)
    version = NumberAttribute()
    doc = UnicodeAttribute()


class SiteModel(_EntityBase):
    base_name = "sites"
    name = UnicodeAttribute()


class AssetModel(_EntityBase):
    base_name = "assets"
    site_key = UnicodeAttribute()  # tenant#site
    parent_key = UnicodeAttribute(null=True)  # tenant#parent, sparse: roots are not in by_parent
    type = UnicodeAttribute()
    status = UnicodeAttribute()
    by_site = _gsi("by_site", "site_key", "id")()
    by_parent = _gsi("by_parent", "parent_key", "id")()


class WorkOrderModel(_EntityBase):
    base_name = "work-orders"
    site_key = UnicodeAttribute()  # tenant#site
    site_status = UnicodeAttribute()  # tenant#site#status
    active_tenant = UnicodeAttribute(null=True)  # tenant, only while active (sparse)
    assignee_key = UnicodeAttribute(null=True)  # tenant#user, only while assigned and not finished (sparse)
    asset_key = UnicodeAttribute(null=True)  # tenant#asset
    rank_created = UnicodeAttribute()  # priority rank#created#id: priority first, then newest
    created_key = UnicodeAttribute()  # created#id: newest first
    status = UnicodeAttribute()
    priority = UnicodeAttribute()
    type = UnicodeAttribute()
    assigned_to = UnicodeAttribute(null=True)
    asset_id = UnicodeAttribute(null=True)
    by_site_status = _gsi("by_site_status", "site_status", "rank_created")()
    active = _gsi("active", "active_tenant", "rank_created")()
    by_assignee = _gsi("by_assignee", "assignee_key", "created_key")()
    by_tenant_created = _gsi("by_tenant_created", "tenant_id", "created_key")()
    by_site = _gsi("by_site", "site_key", "created_key")()
    by_asset = _gsi("by_asset", "asset_key", "created_key")()


class AlertModel(_EntityBase):
    base_name = "alerts"
    site_key = UnicodeAttribute()  # tenant#site
    site_status = UnicodeAttribute()  # tenant#site#status
    tenant_status = UnicodeAttribute()  # tenant#status
    asset_key = UnicodeAttribute()  # tenant#asset
    raised_key = UnicodeAttribute()  # raised#id: newest first
    status = UnicodeAttribute()
    severity = UnicodeAttribute()
    asset_id = UnicodeAttribute()
    by_site_status = _gsi("by_site_status", "site_status", "raised_key")()
    by_tenant_status = _gsi("by_tenant_status", "tenant_status", "raised_key")()
    by_site = _gsi("by_site", "site_key", "raised_key")()
    by_asset = _gsi("by_asset", "asset_key", "raised_key")()
    by_tenant_raised = _gsi("by_tenant_raised", "tenant_id", "raised_key")()


class AlertRuleModel(_EntityBase):
    base_name = "alert-rules"
    stream_view_type = None  # rules are read by key, never searched


class ReportModel(_EntityBase):
    """Report jobs; ``created_key`` (created#id) lists a tenant's newest first, whatever their ids (a scheduled
    report's id is dated by its period, ``dcmms.domain.reports.scheduled_report_id``)."""

    base_name = "reports"
    stream_view_type = None
    created_key = UnicodeAttribute()
    by_tenant_created = _gsi("by_tenant_created", "tenant_id", "created_key")()


class ReportSubscriptionModel(_EntityBase):
    base_name = "report-subscriptions"
    stream_view_type = None


class ProcedureModel(_EntityBase):
    """Procedures (checklist templates); each version is the item's ``version`` (the document keeps the steps)."""

    base_name = "procedures"
    stream_view_type = None


class PMScheduleModel(_EntityBase):
    """Preventive-maintenance schedules, with the attributes their list filters by."""

    base_name = "pm-schedules"
    stream_view_type = None
    site_id = UnicodeAttribute(null=True)
    asset_id = UnicodeAttribute(null=True)
    trigger_kind = UnicodeAttribute()


class LiveConnectionModel(_Base):
    """Live updates' WebSocket connections (``dcmms.live``, docs/live.md). Under each connection's id: one
    ``connection`` item (tenant, person, role, until when the person's token is valid) and one ``site#<site id>``
    item per site it subscribed to, so ``$disconnect`` deletes whatever one Query of the partition finds (no list to
    keep in step with subscribes racing it). Two sparse GSIs answer the fan-outs, each with one Query per tenant:
    ``by_tenant`` (``tenant_key`` on the connection items only) the tenant's connections, for alerts;
    ``subscriptions`` (``subscribed_tenant`` on the subscription items only) which of the tenant's sites are watched
    and by whom, for readings: the ingest asks it once per tenant every couple of seconds, however many sites the
    tenant has, and an empty answer costs the minimum read. ``expires_at`` is the table's TTL: API Gateway ends a
    connection after 2 h, and an item outlives that by 10 minutes even when no ``$disconnect`` arrived."""

    base_name = "live-connections"
    connection_id = UnicodeAttribute(hash_key=True)
    item = UnicodeAttribute(range_key=True)  # "connection" | "site#<site id>"
    tenant_id = UnicodeAttribute()
    tenant_key = UnicodeAttribute(null=True)  # the tenant, on the connection item only (by_tenant)
    subscribed_tenant = UnicodeAttribute(null=True)  # the tenant, on subscription items only (subscriptions)
    site_id = UnicodeAttribute(null=True)
    asset_id = UnicodeAttribute(null=True)  # a subscription narrowed to one asset's readings
    user_id = UnicodeAttribute()
    role = UnicodeAttribute()
    connected_at = UnicodeAttribute()
    valid_until = NumberAttribute()  # epoch seconds: the token's expiry; no frame is sent past it
    expires_at = TTLAttribute()
    by_tenant = _gsi("by_tenant", "tenant_key", "connection_id")()
    subscriptions = _gsi("subscriptions", "subscribed_tenant", "connection_id")()


TABLES: tuple[type[_Base], ...] = (
    AlertRuleModel,
    TenantModel,
    UserModel,
    AuditModel,
    ApiKeyModel,
    SiteModel,
    AssetModel,
    WorkOrderModel,
    AlertModel,
    ReportModel,
    ReportSubscriptionModel,
    ProcedureModel,
    PMScheduleModel,
    LiveConnectionModel,
)


def bind(settings: Settings) -> None:
    """Point every model at the configured tables and endpoint, sharing one DynamoDB client.

    pynamodb gives each table its own connection, hence its own botocore session and client: ~100 ms
    each to create (service model loading), paid per table on a cold start. One shared connection pays
    it once; botocore clients are thread-safe.
    """
    shared = None
    for model in TABLES:
        # A Meta of its own per model: subclasses otherwise share (and overwrite) the base's Meta.
        streams = {"stream_view_type": model.stream_view_type} if model.stream_view_type else {}
        model.Meta = type(  # type: ignore[misc,assignment]  # pynamodb reads Meta afresh at first connection
            "Meta",
            (_Base.Meta,),
            {
                **streams,
                "table_name": settings.table_prefix + model.base_name,
                "region": settings.aws_region,
                "host": settings.endpoint_for("dynamodb"),
                "connect_timeout_seconds": settings.dynamodb_timeout_s,
                "read_timeout_seconds": settings.dynamodb_timeout_s,
                "max_retry_attempts": 2,
                "max_pool_connections": 50,
            },
        )
        model._connection = None
        table = model._get_connection()  # builds the table's schema; no network
        if shared is None:
            shared = table.connection
        else:
            shared.add_meta_table(table.connection.get_meta_table(table.table_name))
            table.connection = shared


def build_client() -> None:
    """Create the botocore client the tables share, now (service model, endpoint, credentials provider;
    no request is sent): SnapStart's before-snapshot hook pays this once per published version."""
    TABLES[0]._get_connection().connection.client  # noqa: B018  # the property builds and keeps the client


def table_definitions() -> list[dict[str, Any]]:
    """Name, keys and indexes of every table, in the shape the CDK data construct consumes."""
    out = []
    for model in TABLES:
        schema = model._get_schema()
        out.append({"base_name": model.base_name, "stream_view_type": model.stream_view_type, **schema})
    return out


def create_tables(settings: Settings) -> None:
    """Create any missing table (on-demand billing). Used by the local stack and the tests."""
    bind(settings)
    for model in TABLES:
        if not model.exists():
            model.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
