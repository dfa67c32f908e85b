"""Per-execution-environment singletons shared by the functions (api, warmer, ...): the composition root.

Each is created on first use and reused by every invocation of the same environment.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any

from dcmms import clients
from dcmms.api.shapes import page_body
from dcmms.cache import CacheStats, RedisCache, ResilientRedis
from dcmms.config import Settings
from dcmms.ratelimit import RateLimiter, load_policy
from dcmms.services import Maintenance

if TYPE_CHECKING:
    from dcmms.api.tokens import TokenVerifier
    from dcmms.cache.credentials import CredentialCache
    from dcmms.live.publisher import Publisher, Transport
    from dcmms.live.sockets import LiveSockets
    from dcmms.readmodel.dashboard import PostgresDashboards
    from dcmms.readmodel.downtime import PostgresDowntime
    from dcmms.readmodel.kpis import Refresh
    from dcmms.readmodel.projector import Projector
    from dcmms.readmodel.reports import PostgresReportData
    from dcmms.readmodel.router import DatabaseRouter
    from dcmms.readmodel.search import PostgresSearch
    from dcmms.reports.delivery import S3ReportFiles, SqsReportQueue
    from dcmms.services.identity import IdentityAdmin
    from dcmms.services.ports import Repositories
    from dcmms.services.reports import ReportService
    from dcmms.store.connections import LiveConnections
    from dcmms.store.repositories import (
        AlertRepository,
        AlertRuleRepository,
        AssetRepository,
        AuditRepository,
        DirectoryRepository,
        PMScheduleRepository,
        ProcedureRepository,
        ReportRepository,
        ReportSubscriptionRepository,
        SiteRepository,
        WorkOrderRepository,
    )
    from dcmms.telemetry.ingest import IngestPipeline
    from dcmms.telemetry.meters import PostgresMeters
    from dcmms.telemetry.postgres import TelemetryStore


def bind_dynamodb(settings: Settings) -> None:
    """Point the pynamodb models at ``settings``' tables and time their calls: the one place DynamoDB is
    configured. It imports pynamodb, so it runs on first use of a repository, not at cold start."""
    from dcmms.store.models import bind
    from dcmms.store.timing import observe_dynamodb_calls

    observe_dynamodb_calls()
    bind(settings)


class StoreRepositories:
    """The DynamoDB repositories, each built on first use: pynamodb and botocore are imported with the
    first cache miss, so a request answered from Redis never loads them (docs/decisions.md).

    Given settings, the models are bound to them before the first repository is built; without, the
    caller has bound them (tests and tooling that create their tables).
    """

    def __init__(self, settings: Settings | None = None) -> None:
        self._settings = settings

    def _bound(self) -> None:
        if self._settings is not None:
            bind_dynamodb(self._settings)
            self._settings = None

    @cached_property
    def sites(self) -> SiteRepository:
        from dcmms.store.repositories import SiteRepository

        self._bound()
        return SiteRepository()

    @cached_property
    def directory(self) -> DirectoryRepository:
        from dcmms.store.repositories import DirectoryRepository

        self._bound()
        return DirectoryRepository()

    @cached_property
    def audit(self) -> AuditRepository:
        from dcmms.store.repositories import AuditRepository

        self._bound()
        return AuditRepository()

    @cached_property
    def assets(self) -> AssetRepository:
        from dcmms.store.repositories import AssetRepository

        self._bound()
        return AssetRepository()

    @cached_property
    def work_orders(self) -> WorkOrderRepository:
        from dcmms.store.repositories import WorkOrderRepository

        self._bound()
        return WorkOrderRepository()

    @cached_property
    def alerts(self) -> AlertRepository:
        from dcmms.store.repositories import AlertRepository

        self._bound()
        return AlertRepository()

    @cached_property
    def rules(self) -> AlertRuleRepository:
        from dcmms.store.repositories import AlertRuleRepository

        self._bound()
        return AlertRuleRepository()

    @cached_property
    def procedures(self) -> ProcedureRepository:
        from dcmms.store.repositories import ProcedureRepository

        self._bound()
        return ProcedureRepository()

    @cached_property
    def pm_schedules(self) -> PMScheduleRepository:
        from dcmms.store.repositories import PMScheduleRepository

        self._bound()
        return PMScheduleRepository()

    @cached_property
    def reports(self) -> ReportRepository:
        from dcmms.store.repositories import ReportRepository

        self._bound()
        return ReportRepository()

    @cached_property
    def report_subscriptions(self) -> ReportSubscriptionRepository:
        from dcmms.store.repositories import ReportSubscriptionRepository

        self._bound()
        return ReportSubscriptionRepository()

    @cached_property
    def live_connections(self) -> LiveConnections:
        from dcmms.store.connections import LiveConnections

        self._bound()
        return LiveConnections()


def build_maintenance(
    cache: RedisCache | None = None, repositories: Repositories | None = None, meters: Callable[[], Any] | None = None
) -> Maintenance:
    """The services wired together: over the DynamoDB repositories unless others are given, with list pages
    written as the API serves them; ``meters`` reads PM meters from the telemetry rollups."""
    return Maintenance(repositories or StoreRepositories(), cache, page_body, meters)


@lru_cache(maxsize=4)
def resilient_redis(settings: Settings) -> ResilientRedis:
    return ResilientRedis(clients.redis_client(settings))


@lru_cache(maxsize=4)
def rate_limiter(settings: Settings) -> RateLimiter:
    """The limiter shares the cache's Redis and its breaker: an outage is logged once, not per request."""
    redis = resilient_redis(settings)
    return RateLimiter(
        redis.client,
        load_policy(settings.rate_limits),
        on_redis_error=redis.report_failure,
        redis_available=lambda: redis.available,
    )


@lru_cache(maxsize=4)
def store_repositories(settings: Settings) -> StoreRepositories:
    """One set of repositories per environment, shared by the services, authentication and ingest."""
    return StoreRepositories(settings)


@lru_cache(maxsize=4)
def maintenance(settings: Settings) -> Maintenance:
    """The use cases with their Redis cache; DynamoDB is bound and connected on first use. Alert changes are pushed
    to the tenant's browsers (live updates) where a WebSocket API is configured."""
    services = build_maintenance(
        RedisCache(resilient_redis(settings), CacheStats()), store_repositories(settings), lambda: meters(settings)
    )
    services.alerts.live = lambda: live_publisher(settings)  # built on the first change: not at cold start
    return services


@lru_cache(maxsize=4)
def telemetry_store(settings: Settings) -> TelemetryStore:  # psycopg is imported on first telemetry call
    """Writes and latest values on the primary; aggregations through the router's ``analytics`` purpose (the
    analytics replica within 5 s of lag, else the primary)."""
    from dcmms.telemetry.postgres import TelemetryStore

    return TelemetryStore(
        settings.database_url, analytics=lambda query: database_router(settings).read("analytics", query)
    )


@lru_cache(maxsize=4)
def kinesis(settings: Settings) -> Any:  # a botocore Kinesis client, created on first submitted record
    return clients.aws_client("kinesis", settings)


@lru_cache(maxsize=4)
def ingest_pipeline(settings: Settings) -> IngestPipeline:
    """What the ingest function keeps between batches: asset lookup, PostgreSQL, S3 dead letters, the
    rule evaluator and, when configured, the Timestream sink."""
    from dcmms.domain.model import AssetType
    from dcmms.telemetry.alerting import RuleEvaluator
    from dcmms.telemetry.ingest import CachedAssetLookup, IngestPipeline, S3DeadLetters
    from dcmms.telemetry.record_format import AssetRef
    from dcmms.telemetry.timestream import TimestreamSink

    assets = store_repositories(settings)

    def locate(tenant_id: str, asset_id: str) -> AssetRef | None:
        found = assets.assets.locate(tenant_id, asset_id)
        return AssetRef(found[0], AssetType(found[1])) if found else None

    timestream = (
        TimestreamSink(
            clients.aws_client("timestream-write", settings), settings.timestream_database, settings.timestream_table
        )
        if settings.timestream_database
        else None
    )
    return IngestPipeline(
        lookup=CachedAssetLookup(locate),
        store=telemetry_store(settings),
        dead_letters=S3DeadLetters(clients.aws_client("s3", settings), settings.dead_letter_bucket),
        evaluator=RuleEvaluator(maintenance(settings).alerts, resilient_redis(settings)),
        timestream=timestream,
        live=live_publisher(settings),
    )


@lru_cache(maxsize=4)
def database_router(settings: Settings) -> DatabaseRouter:
    """The primary and its replicas (settings), for the read model; psycopg is imported on first use."""
    from dcmms.readmodel.router import DatabaseRouter
    from dcmms.telemetry.postgres import configure_reader

    return DatabaseRouter(
        settings.database_url,
        settings.replica_urls,
        settings.database_analytics_url,
        connect_timeout_s=settings.database_connect_timeout_s,
        configure=configure_reader,
    )


def migrate_read_model(settings: Settings) -> None:
    """Create the read model's schema, tables and indexes on the primary (idempotent)."""
    from dcmms.readmodel.schema import migrate

    with database_router(settings).primary() as conn:
        migrate(conn)


@lru_cache(maxsize=4)
def projector(settings: Settings) -> Projector:
    """What the projector function keeps between batches: the router's primary pool; the read model's
    tables are created when an execution environment starts (idempotent)."""
    from dcmms.readmodel.projector import Projector

    migrate_read_model(settings)
    return Projector(database_router(settings), settings.table_prefix)


@lru_cache(maxsize=4)
def kpi_schema(settings: Settings) -> None:
    """The tables the KPI views read (telemetry's, the read model's), then the views; once per process."""
    from dcmms.readmodel import kpis

    telemetry_store(settings).migrate()
    migrate_read_model(settings)
    with database_router(settings).primary() as conn:
        kpis.migrate(conn)


def refresh_kpis(settings: Settings) -> Refresh:
    """Refresh the materialized dashboard KPIs on the primary, unless another refresh is running."""
    from dcmms.readmodel import kpis

    kpi_schema(settings)
    with database_router(settings).primary() as conn:
        return kpis.refresh(conn)


@lru_cache(maxsize=4)
def dashboards(settings: Settings) -> PostgresDashboards:
    from dcmms.readmodel.dashboard import PostgresDashboards

    return PostgresDashboards(database_router(settings))


@lru_cache(maxsize=4)
def downtime(settings: Settings) -> PostgresDowntime:
    from dcmms.readmodel.downtime import PostgresDowntime

    return PostgresDowntime(database_router(settings))


@lru_cache(maxsize=4)
def search_index(settings: Settings) -> PostgresSearch:
    from dcmms.readmodel.search import PostgresSearch

    return PostgresSearch(database_router(settings))


def read_model_status(settings: Settings) -> dict[str, Any]:
    """The projection lag and the replicas' state, for GET /health."""
    from dcmms.readmodel.status import read_model_status as status

    return status(database_router(settings))


@lru_cache(maxsize=4)
def report_queue(settings: Settings) -> SqsReportQueue:
    """Where report jobs are put (the API's requests, the schedules' runs); boto3 on first use."""
    from dcmms.reports.delivery import SqsReportQueue

    return SqsReportQueue(clients.aws_client("sqs", settings), settings.reports_queue_url, settings.reports_queue)


@lru_cache(maxsize=4)
def report_files(settings: Settings) -> S3ReportFiles:
    import boto3
    import botocore.config

    from dcmms.reports.delivery import S3ReportFiles

    # boto3 for its managed (multipart, parallel) uploads: a telemetry export runs to hundreds of MB; deadlines
    # fit a part's upload, not the API's 1 s.
    # SigV4 presigned URLs (X-Amz-Expires): the only kind that names its lifetime, and what KMS-encrypted objects need.
    config = botocore.config.Config(
        connect_timeout=2, read_timeout=60, retries={"max_attempts": 3}, signature_version="s3v4"
    )
    s3 = boto3.session.Session().client(
        "s3", region_name=settings.aws_region, endpoint_url=settings.endpoint_for("s3"), config=config
    )
    return S3ReportFiles(s3, settings.reports_bucket)


@lru_cache(maxsize=4)
def report_data(settings: Settings) -> PostgresReportData:
    from dcmms.readmodel.reports import PostgresReportData

    kpi_schema(settings)  # the daily rows and views the reports read exist before the first KPI refresh fills them
    return PostgresReportData(database_router(settings))


def report_service(settings: Settings, maintenance: Maintenance) -> ReportService:
    """The API's reports: jobs in DynamoDB, queued on SQS, documents presigned from S3 (each built on first use)."""
    from dcmms.services.reports import ReportService

    def metrics_of(asset_type: str) -> frozenset[str]:
        from dcmms.domain.model import AssetType
        from dcmms.telemetry.metric_names import METRICS

        return METRICS[AssetType(asset_type)]

    repositories = store_repositories(settings)
    return ReportService(
        maintenance.fleet,
        lambda: repositories.reports,
        lambda: repositories.report_subscriptions,
        lambda: report_queue(settings),
        lambda: report_files(settings),
        metrics_of,
        settings.report_link_ttl_s,
    )


def run_pm(settings: Settings, now: Any = None) -> dict[str, int]:
    """The pm function's run: every tenant's due preventive work (``services.pm``), summed counts."""
    services = maintenance(settings)
    totals: dict[str, int] = {"tenants": 0}
    for tenant_id in sorted(store_repositories(settings).directory.tenant_ids()):
        totals["tenants"] += 1
        for key, value in services.pm.run(tenant_id, now).items():
            totals[key] = totals.get(key, 0) + value
    return totals


@lru_cache(maxsize=4)
def meters(settings: Settings) -> PostgresMeters:
    """PM meters and conditions from the hourly rollups, on the analytics replica; psycopg on first use."""
    from dcmms.telemetry.meters import PostgresMeters

    return PostgresMeters(lambda query: database_router(settings).read("analytics", query))


@lru_cache(maxsize=4)
def token_verifier(settings: Settings, shared_cache: bool = True) -> TokenVerifier | None:
    """People's Cognito tokens, verified against the pool's JWKS (fetched on first use, then cached); None when
    no user pool is configured. PyJWT is imported here, on the first Bearer request, not at cold start.
    ``shared_cache=False``: the tenant's tier and the person's standing are cached in this process only (the
    request authorizer, outside the VPC, has no Redis)."""
    if not (settings.cognito_user_pool_id and settings.cognito_client_id):
        return None
    from dcmms.api.tokens import TokenVerifier

    # (one instance per process when shared: the management API drops entries from the very cache tokens read)
    cache = credential_cache(settings) if shared_cache else _private_credential_cache(settings)

    def tier_of(tenant_id: str) -> Any:
        return cache.tenant_tier(tenant_id, lambda: store_repositories(settings).directory.tenant_tier(tenant_id))

    def standing(tenant_id: str, user_id: str) -> Any:
        return cache.person(tenant_id, user_id, lambda: store_repositories(settings).directory.user(tenant_id, user_id))

    issuer, jwks = settings.cognito_issuer, settings.cognito_jwks
    assert issuer is not None and jwks is not None
    return TokenVerifier(issuer, settings.cognito_client_id, jwks, tier_of, settings.health_timeout_s, standing)


@lru_cache(maxsize=4)
def credential_cache(settings: Settings) -> CredentialCache:
    """The process's cache of resolved credentials (API keys' principals, people's standing, tenants' tiers), over
    Redis."""
    from dcmms.cache.credentials import CredentialCache

    return CredentialCache(resilient_redis(settings), settings.principal_cache_ttl_s)


def _private_credential_cache(settings: Settings) -> CredentialCache:
    """The same, without Redis (for a process that has none: the request authorizer)."""
    from dcmms.cache.credentials import CredentialCache

    return CredentialCache(None, settings.principal_cache_ttl_s)


@lru_cache(maxsize=4)
def identity_admin(settings: Settings) -> IdentityAdmin:
    """The management API's service: people in the pool (Cognito), keys in DynamoDB and the usage plans, the audit
    trail; each client built on first use."""
    from dcmms.services.identity import IdentityAdmin

    repositories = store_repositories(settings)

    def people() -> Any:
        from dcmms.store.identity import CognitoPeople

        if not settings.cognito_user_pool_id:
            return None
        return CognitoPeople(clients.aws_client("cognito-idp", settings), settings.cognito_user_pool_id)

    def gateway() -> Any:
        from dcmms.store.identity import UsagePlanKeys

        if not settings.usage_plans:
            return None
        return UsagePlanKeys(clients.aws_client("apigateway", settings), settings.usage_plans)

    return IdentityAdmin(
        lambda: repositories.directory, lambda: repositories.audit, people, gateway, credential_cache(settings)
    )


@lru_cache(maxsize=4)
def live_transport(settings: Settings) -> Transport | None:
    """How this process's live-update frames reach the browsers (``dcmms.live.publisher``): relayed to the live
    function (``live_relay_function``: the functions inside the VPC), or posted to API Gateway's ``@connections``
    endpoint (``live_endpoint_url``: the live function, and every process of the local stack); None: neither is
    configured, nothing is pushed."""
    if settings.live_relay_function:
        from dcmms.live.publisher import RelayTransport

        return RelayTransport(lambda: clients.aws_client("lambda", settings), settings.live_relay_function)
    if settings.live_endpoint_url:
        from dcmms.live.publisher import DirectTransport, management_api

        endpoint, repositories = settings.live_endpoint_url, store_repositories(settings)
        return DirectTransport(
            lambda: management_api(endpoint, settings.aws_region), lambda: repositories.live_connections
        )
    return None


@lru_cache(maxsize=4)
def live_publisher(settings: Settings) -> Publisher | None:
    """Who is told of alert changes and new readings (live updates); None where nothing is pushed."""
    transport = live_transport(settings)
    if transport is None:
        return None
    from dcmms.live.publisher import Publisher

    repositories = store_repositories(settings)
    return Publisher(
        lambda: repositories.live_connections,
        transport,
        readings_interval_s=settings.live_readings_interval_s,
        subscribers_ttl_s=settings.live_subscribers_ttl_s,
    )


@lru_cache(maxsize=4)
def live_sockets(settings: Settings) -> LiveSockets:
    """The live function's routes: people's tokens verified as the API verifies a Bearer token (the function runs
    outside the VPC, so tenants' tiers and people's standing are cached in the process only), a site looked up in
    the caller's tenant, the connections table, and the transport for the frames relayed to it."""
    from dcmms.domain.errors import NotFound, Unauthorized
    from dcmms.domain.model import Principal
    from dcmms.live.sockets import LiveSockets

    repositories = store_repositories(settings)

    def verify(token: str) -> Principal:
        verifier = token_verifier(settings, shared_cache=False)
        if verifier is None:
            raise Unauthorized("This deployment has no user pool: live updates need a signed-in person.")
        return verifier.principal(token)

    def site_exists(tenant_id: str, site_id: str) -> bool:
        try:
            repositories.sites.get(tenant_id, site_id)
        except NotFound:
            return False
        return True

    return LiveSockets(verify, lambda: repositories.live_connections, site_exists, lambda: live_transport(settings))
