"""Deployment settings: the ``dcmms`` block of the ``cdk.json`` context, validated into frozen dataclasses.

``defaults`` apply to every environment; ``environments.<name>`` overrides them key by key; the context keys
``dcmms:overrides`` (every environment) and ``dcmms:overrides:<name>`` (one), a dict or JSON text from ``-c``,
override both, which is how tests and one-off synths change a value without editing ``cdk.json``. Between the
two, ``dcmms:capacity`` / ``dcmms:capacity:<name>`` (the path of a ``dcmms capacity --json`` plan) set the sizes
the capacity planner computed. Unknown keys are errors, so a typo never silently deploys a
default.
"""

from __future__ import annotations

import dataclasses
import json
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

REPO_ROOT = Path(__file__).resolve().parent.parent
CDK_JSON = REPO_ROOT / "cdk.json"

T = TypeVar("T")


class ConfigError(ValueError):
    """The cdk.json context (or a -c override) does not describe a deployable environment."""


@dataclass(frozen=True)
class NetworkConfig:
    cidr: str
    max_azs: int
    # 0: no NAT at all; functions reach AWS through gateway and interface endpoints only.
    nat_gateways: int
    flow_log_retention_days: int


@dataclass(frozen=True)
class KinesisConfig:
    mode: Literal["provisioned", "on_demand"]
    # Provisioned: the shard count. On demand: the most shards expected, which sizes the ingest concurrency.
    shards: int
    retention_hours: int


@dataclass(frozen=True)
class IngestConfig:
    batch_size: int
    max_batching_window_s: int
    parallelization_factor: int
    retry_attempts: int
    max_record_age_s: int
    starting_position: Literal["TRIM_HORIZON", "LATEST"]
    # None: exactly shards x parallelization factor, the most batches Lambda runs at once.
    reserved_concurrency: int | None
    on_failure_retention_days: int


@dataclass(frozen=True)
class RedisConfig:
    node_type: str
    engine_version: str
    cluster_mode: bool
    shards: int
    replicas_per_shard: int
    port: int
    snapshot_retention_days: int


@dataclass(frozen=True)
class TelemetryDbConfig:
    # "rds": an RDS PostgreSQL instance behind RDS Proxy; "external": a Timescale (or any PostgreSQL)
    # endpoint whose host/port/username/password/dbname live in an existing Secrets Manager secret.
    mode: Literal["rds", "external"]
    engine_version: str
    instance_type: str
    allocated_storage_gb: int
    max_allocated_storage_gb: int
    multi_az: bool
    backup_retention_days: int
    port: int
    database_name: str
    external_secret_name: str | None
    # Read replicas of the RDS instance for dashboards and search (DCMMS_DATABASE_REPLICA_URLS), and one more
    # for analytics (DCMMS_DATABASE_ANALYTICS_URL); dcmms.readmodel.router routes each query by purpose and
    # falls back to the primary. Absent replica_instance_type: the primary's instance type.
    read_replicas: int
    analytics_replica: bool
    replica_instance_type: str | None


@dataclass(frozen=True)
class ProjectorConfig:
    """The read-model projector (catalogue trigger "dynamodb-stream"); its batching, retries and record age
    are the catalogue's StreamSource, as the local stack's poller delivers them."""

    # One batch per stream shard of each projected table runs at once: at least one per table, more for
    # tables whose streams have several shards (large or busy tables). The projector holds one primary
    # connection per execution environment (through RDS Proxy), so this also bounds its connections.
    reserved_concurrency: int
    on_failure_retention_days: int


@dataclass(frozen=True)
class ApiConfig:
    stage_name: str
    # How a new execution environment avoids a full cold start. "snapstart": Lambda SnapStart on published
    # versions, every scale-out restored from a snapshot taken after init; "provisioned": a floor of
    # provisioned concurrency on the alias, scaled on utilisation. Lambda allows one or the other per function.
    cold_start: Literal["snapstart", "provisioned"]
    reserved_concurrency: int
    provisioned_min: int
    provisioned_max: int
    utilization_target: float
    stage_rate_limit: float
    stage_burst_limit: int
    # The account-level API Gateway burst (5,000 by default); a tier above it is flagged at synth.
    account_burst_limit: int
    waf: bool
    waf_rate_limit_per_5min: int


@dataclass(frozen=True)
class EdgeConfig:
    domain_names: tuple[str, ...]
    # An ACM certificate in us-east-1 for domain_names; without one CloudFront serves *.cloudfront.net.
    certificate_arn: str | None
    # A CLOUDFRONT-scope WAFv2 web ACL (it must live in us-east-1); None: the API stage's regional WAF only.
    web_acl_arn: str | None
    price_class: Literal["PriceClass_100", "PriceClass_200", "PriceClass_All"]


@dataclass(frozen=True)
class MonitoringConfig:
    alarm_emails: tuple[str, ...]
    lambda_insights: bool
    api_p95_latency_ms: int
    api_5xx_rate: float
    cache_hit_rate: float
    memory_utilization: float
    iterator_age_ms: int
    # Replication lag (AWS/RDS ReplicaLag) above which a replica is alarmed: the bounds past which
    # dcmms.readmodel.router stops sending it queries (1 s dashboards/search, 5 s analytics).
    replica_lag_s: float
    analytics_replica_lag_s: float
    # The read model's staleness (ProjectionLag, and the projector's IteratorAge) alarmed above this.
    projection_lag_ms: int


@dataclass(frozen=True)
class ReportsConfig:
    """The reports capability (dcmms.reports): how long documents are kept and who sends the emails.

    Not in cdk.json: the per-environment values are ``REPORTS_DEFAULTS`` below (cdk.json's ``reports`` block and
    the ``-c`` overrides still win over them, key by key)."""

    # Objects under reports/ of the reports bucket expire this many days after they were written.
    retention_days: int
    # The SES identity (a verified domain, or an address) the report emails are sent as: the function may send
    # only as ``sender`` (ses:FromAddress) through this identity.
    ses_identity: str
    sender: str
    # While the account is in the SES sandbox, SES also authorizes each recipient as a resource of the call: the
    # verified recipient identities (addresses or domains) the function may then send to. Empty in production
    # access, where SES checks only the sender's identity.
    sandbox_recipients: tuple[str, ...] = ()


@dataclass(frozen=True)
class IdentityProviderConfig:
    """A tenant's own identity provider, federated into the environment's user pool (cdk/identity.py). Everyone who
    signs in through it belongs to ``tenant_id`` (the pre-token-generation trigger writes it into their tokens);
    their role is the group an admin of the tenant puts them in."""

    tenant_id: str
    # The provider's name in the pool (3-32 letters, digits or hyphens): what the web app passes as
    # identity_provider to the pool's /oauth2/authorize, and the prefix of its people's user names.
    name: str
    type: Literal["saml", "oidc"]
    # SAML: the provider's metadata document.
    metadata_url: str | None = None
    # OIDC: the issuer, the client registered for the pool there, and the Secrets Manager secret (name) holding
    # that client's secret as plain text (resolved by CloudFormation at deploy time, never in the template).
    issuer_url: str | None = None
    client_id: str | None = None
    client_secret_name: str | None = None
    # The provider's attribute carrying the person's email (the pool's user name); SAML's usual claim by default.
    email_attribute: str | None = None


@dataclass(frozen=True)
class CognitoConfig:
    """The environment's user pool (cdk/identity.py): people sign in with it; integrations keep API keys."""

    # Threat protection (adaptive authentication, compromised-credential checks) in full-function mode, which
    # needs the Plus feature plan; off, the pool is on Essentials (the least that allows access-token
    # customization, which the pre-token-generation trigger's V2_0 event needs). Plus bills every monthly active
    # user (~$0.02 each, no free tier) where Essentials bills ~$0.015 after 10,000 free: on in production,
    # off in development, whose test people would cost money for no protection worth having.
    threat_protection: bool
    # The pool's Cognito domain prefix (<prefix>.auth.<region>.amazoncognito.com), unique in the region across
    # AWS; None: the environment's prefix (dcmms-<env>). A domain is created only with identity providers.
    domain_prefix: str | None
    # Where the pool's hosted sign-in may send people back with their authorization code (the web app), and
    # where to after sign-out: needed with identity providers (federation is an OAuth flow).
    callback_urls: tuple[str, ...]
    logout_urls: tuple[str, ...]
    identity_providers: tuple[IdentityProviderConfig, ...]


# Development keeps reports 30 days: long enough to follow a month of daily reports and one monthly fleet report
# through download links and emails, short enough that test documents do not pile up. Production keeps a year: a
# monthly fleet report is compared with the same month of the previous year, and maintenance records are asked
# for in yearly audits; a document older than that can be generated again from the read model if needed.
REPORTS_DEFAULTS: Mapping[str, Mapping[str, Any]] = {
    "dev": {
        "retention_days": 30,
        "ses_identity": "dev.dcmms.example.com",
        "sender": "reports@dev.dcmms.example.com",
    },
    "prod": {
        "retention_days": 365,
        "ses_identity": "dcmms.example.com",
        "sender": "reports@dcmms.example.com",
    },
}


@dataclass(frozen=True)
class DeploymentConfig:
    """Everything one environment in one region needs; built by ``load``."""

    env_name: str
    region: str
    account: str | None
    production: bool
    log_retention_days: int
    dead_letter_retention_days: int
    network: NetworkConfig
    kinesis: KinesisConfig
    ingest: IngestConfig
    projector: ProjectorConfig
    redis: RedisConfig
    telemetry_db: TelemetryDbConfig
    api: ApiConfig
    edge: EdgeConfig
    monitoring: MonitoringConfig
    reports: ReportsConfig
    cognito: CognitoConfig
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def prefix(self) -> str:
        """Names of physical resources: ``dcmms-prod-...``."""
        return f"dcmms-{self.env_name}"

    @property
    def table_prefix(self) -> str:
        """``DCMMS_TABLE_PREFIX``: the code names a table ``table_prefix + base_name``."""
        return f"{self.prefix}-"

    @property
    def ingest_concurrency(self) -> int:
        """Reserved concurrency of the ingest function: at least one per concurrent batch."""
        floor = self.kinesis.shards * self.ingest.parallelization_factor
        configured = self.ingest.reserved_concurrency
        return floor if configured is None else configured


CAPACITY_SCHEMA = "dcmms.capacity/1"


def capacity_overrides(plan: Mapping[str, Any]) -> dict[str, Any]:
    """Settings from a ``dcmms capacity --json`` plan (docs/capacity.md): the sizes it computes, nothing else.

    DynamoDB warm throughput in the plan is not deployed by these stacks, and its read-replica count is
    advisory: the topology (``telemetry_db.read_replicas``, ``analytics_replica``) is set in cdk.json.
    """
    if plan.get("schema") != CAPACITY_SCHEMA:
        raise ConfigError(f"capacity plan: expected schema {CAPACITY_SCHEMA!r}, got {plan.get('schema')!r}")
    api, ingest = plan["lambda"]["api"], plan["lambda"]["ingest"]
    redis, pg = plan["redis"], plan["postgresql"]
    out: dict[str, Any] = {
        "kinesis": {"mode": "provisioned", "shards": plan["kinesis"]["shards"]},
        "api": {
            "cold_start": "provisioned",  # the plan sizes a provisioned floor, which excludes SnapStart
            "reserved_concurrency": api["reserved_concurrency"],
            "provisioned_min": api["provisioned_min"],
            "provisioned_max": api["provisioned_max"],
            "utilization_target": api["provisioned_utilization_target"],
        },
        "ingest": {
            "parallelization_factor": ingest["parallelization_factor"],
            "batch_size": ingest["batch_size"],
            "reserved_concurrency": ingest["concurrency"],
        },
        "redis": {
            "node_type": redis["node_type"],
            "cluster_mode": True,
            "shards": redis["shards"],
            "replicas_per_shard": redis["replicas_per_shard"],
        },
        "telemetry_db": {
            "instance_type": str(pg["instance"]).removeprefix("db."),
            "allocated_storage_gb": pg["allocated_gb"],
            "max_allocated_storage_gb": 2 * pg["allocated_gb"],  # storage autoscaling ceiling: twice the plan
            "multi_az": pg["multi_az"],
        },
    }
    if pg.get("burst_drain_s"):
        out["monitoring"] = {"iterator_age_ms": int(pg["burst_drain_s"] * 1000)}
    return out


def read_cdk_json_context(path: Path = CDK_JSON) -> dict[str, Any]:
    """The ``context`` block of cdk.json (the CDK CLI passes it itself; ``python -m cdk.app`` needs it read)."""
    return json.loads(path.read_text())["context"]


def _merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _convert(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _convert(inner, value, where)
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{where}: {value!r} is not one of {', '.join(map(repr, args))}")
        return value
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return tuple(_convert(args[0], v, f"{where}[]") for v in value)
    if origin in (Mapping, dict):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected an object, got {value!r}")
        return dict(value)
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, where)
    if tp is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if tp is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if tp in (str, bool) and isinstance(value, tp):
        return value
    raise ConfigError(f"{where}: expected {getattr(tp, '__name__', tp)}, got {value!r}")


def _optional(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType) and type(None) in typing.get_args(tp)


def _build(cls: type[T], raw: Any, where: str) -> T:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected an object, got {raw!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = set(raw) - set(fields)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    values = {}
    for name, f in fields.items():
        if name not in raw:
            # A JSON null does not survive the trip through the CDK context (jsii drops it): absent = None.
            if _optional(hints[name]):
                values[name] = None
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(f"{where}.{name}: missing")
            continue
        values[name] = _convert(hints[name], raw[name], f"{where}.{name}")
    return cls(**values)


# dcmms.config.Settings.environment accepts these (plus local/test, which never deploy).
DEPLOYABLE_ENVIRONMENTS = ("dev", "prod")


def _validate(cfg: DeploymentConfig) -> None:
    api, ingest = cfg.api, cfg.ingest
    if cfg.env_name not in DEPLOYABLE_ENVIRONMENTS:
        raise ConfigError(f"environment {cfg.env_name!r}: the application accepts only {DEPLOYABLE_ENVIRONMENTS}")
    if api.cold_start == "snapstart" and (api.provisioned_min or api.provisioned_max):
        raise ConfigError(
            "api: SnapStart and provisioned concurrency exclude each other: set provisioned_min and "
            'provisioned_max to 0, or cold_start to "provisioned"'
        )
    if api.cold_start == "provisioned" and not 1 <= api.provisioned_min <= api.provisioned_max:
        raise ConfigError("api: need 1 <= provisioned_min <= provisioned_max")
    if api.reserved_concurrency < api.provisioned_max:
        raise ConfigError("api.reserved_concurrency must cover provisioned_max (provisioned runs inside it)")
    if not 0.1 <= api.utilization_target <= 0.9:
        raise ConfigError("api.utilization_target is a fraction between 0.1 and 0.9")
    if not 1 <= ingest.batch_size <= 10_000:
        raise ConfigError("ingest.batch_size must be 1..10000 (Lambda's Kinesis maximum)")
    if not 1 <= ingest.parallelization_factor <= 10:
        raise ConfigError("ingest.parallelization_factor must be 1..10")
    if not 0 <= ingest.retry_attempts <= 10_000:
        raise ConfigError("ingest.retry_attempts must be finite (0..10000): never ship Kinesis' infinite default")
    if not 60 <= ingest.max_record_age_s <= 604_800:
        raise ConfigError("ingest.max_record_age_s must be 60..604800 seconds")
    if cfg.ingest_concurrency < cfg.kinesis.shards * ingest.parallelization_factor:
        raise ConfigError(
            f"ingest.reserved_concurrency {cfg.ingest_concurrency} is below shards x parallelization factor "
            f"({cfg.kinesis.shards} x {ingest.parallelization_factor}): batches would be throttled"
        )
    if cfg.redis.replicas_per_shard < 1:
        raise ConfigError("redis.replicas_per_shard must be >= 1 (multi-AZ failover needs a replica)")
    if cfg.redis.shards > 1 and not cfg.redis.cluster_mode:
        raise ConfigError("redis.shards > 1 needs redis.cluster_mode")
    db = cfg.telemetry_db
    if db.max_allocated_storage_gb < db.allocated_storage_gb:
        raise ConfigError("telemetry_db.max_allocated_storage_gb is below allocated_storage_gb")
    if db.mode == "external" and not db.external_secret_name:
        raise ConfigError("telemetry_db.mode 'external' needs telemetry_db.external_secret_name")
    if not 0 <= db.read_replicas <= 5:
        raise ConfigError("telemetry_db.read_replicas must be 0..5")
    if db.mode == "external" and (db.read_replicas or db.analytics_replica):
        raise ConfigError(
            "telemetry_db.read_replicas and analytics_replica need mode 'rds': an external database's replicas "
            "are not deployed by these stacks"
        )
    if (db.read_replicas or db.analytics_replica) and db.backup_retention_days < 1:
        raise ConfigError("telemetry_db read replicas need automated backups on the primary (backup_retention_days)")
    projected = _projected_tables()
    if cfg.projector.reserved_concurrency < max(1, projected):
        raise ConfigError(
            f"projector.reserved_concurrency {cfg.projector.reserved_concurrency} is below the {projected} "
            "projected tables: one table's stream would wait behind another's"
        )
    m = cfg.monitoring
    if not 0 < m.replica_lag_s <= m.analytics_replica_lag_s:
        raise ConfigError("monitoring: need 0 < replica_lag_s <= analytics_replica_lag_s")
    if bool(cfg.edge.domain_names) != bool(cfg.edge.certificate_arn):
        raise ConfigError("edge.domain_names and edge.certificate_arn go together")
    rep = cfg.reports
    if not 1 <= rep.retention_days <= 3650:
        raise ConfigError("reports.retention_days must be 1..3650")
    if rep.sender != rep.ses_identity and not rep.sender.endswith("@" + rep.ses_identity):
        raise ConfigError(
            f"reports.sender {rep.sender!r} is neither the SES identity {rep.ses_identity!r} nor an address of its domain"
        )
    _validate_cognito(cfg)


_PROVIDER_NAME = re.compile(r"^[A-Za-z0-9-]{3,32}$")
_DOMAIN_PREFIX = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


def _validate_cognito(cfg: DeploymentConfig) -> None:
    cog = cfg.cognito
    prefix = cog.domain_prefix or cfg.prefix
    if not _DOMAIN_PREFIX.match(prefix) or any(word in prefix for word in ("aws", "amazon", "cognito")):
        raise ConfigError(
            f"cognito.domain_prefix {prefix!r}: lower-case letters, digits and hyphens, without aws, amazon or cognito"
        )
    names = [p.name for p in cog.identity_providers]
    if len(set(names)) != len(names):
        raise ConfigError("cognito.identity_providers: provider names must be unique")
    for p in cog.identity_providers:
        where = f"cognito.identity_providers[{p.name}]"
        if not _PROVIDER_NAME.match(p.name) or p.name.lower() == "cognito":
            raise ConfigError(f"{where}: a name is 3-32 letters, digits or hyphens, and not 'Cognito'")
        if not p.tenant_id:
            raise ConfigError(f"{where}: tenant_id is required (everyone signing in through it belongs to it)")
        oidc = (p.issuer_url, p.client_id, p.client_secret_name)
        if p.type == "saml" and (not p.metadata_url or any(oidc)):
            raise ConfigError(f"{where}: a SAML provider needs metadata_url (and no OIDC settings)")
        if p.type == "oidc" and (not all(oidc) or p.metadata_url):
            raise ConfigError(f"{where}: an OIDC provider needs issuer_url, client_id and client_secret_name")
    if cog.identity_providers:
        if not cog.callback_urls:
            raise ConfigError("cognito.identity_providers need cognito.callback_urls (the web app's sign-in return)")
        for url in (*cog.callback_urls, *cog.logout_urls):
            if not url.startswith("https://") and not url.startswith("http://localhost"):
                raise ConfigError(f"cognito: {url!r} must be https (http only for localhost)")
        if cfg.network.nat_gateways < 1:
            # Federation needs the pool's domain, and Cognito serves no request of a pool with a domain through a
            # VPC endpoint: the API function's Cognito calls (people management, the JWKS) then need NAT.
            raise ConfigError(
                "cognito.identity_providers need network.nat_gateways >= 1: federation gives the pool a domain, and "
                "Cognito's VPC endpoint serves no pool that has one"
            )


def _projected_tables() -> int:
    """The most DynamoDB streams one catalogue function consumes (each needs a concurrent batch of its own)."""
    from dcmms.catalogue import FUNCTIONS

    return max(
        (len(f.stream.tables) for f in FUNCTIONS if f.trigger == "dynamodb-stream" and f.stream is not None),
        default=0,
    )


def resolve_regions(dcmms: Mapping[str, Any], env_name: str, region: str | None) -> list[str]:
    """The regions to synthesize: the environment's list, one region (code or spec alias), or ``all``."""
    aliases: Mapping[str, str] = dcmms["regions"]
    known = list(aliases.values())
    if region in (None, ""):
        env = dcmms["environments"][env_name]
        regions = env.get("regions", dcmms["defaults"].get("regions", known))
    elif region == "all":
        regions = known
    else:
        regions = [aliases.get(region, region)]
    for r in regions:
        if r not in known:
            raise ConfigError(f"region {r!r} is not one of the spec's regions: {', '.join(known)}")
    return list(regions)


def load(context: Mapping[str, Any], env_name: str, region: str, account: str | None = None) -> DeploymentConfig:
    """The settings of ``env_name`` in ``region`` from a CDK context (cdk.json plus any -c values)."""
    dcmms = context.get("dcmms")
    if not isinstance(dcmms, Mapping):
        raise ConfigError("the CDK context has no 'dcmms' block (is cdk.json's context loaded?)")
    envs = dcmms.get("environments", {})
    if env_name not in envs:
        raise ConfigError(f"unknown environment {env_name!r}; cdk.json defines {', '.join(envs)}")
    raw = _merge({"reports": REPORTS_DEFAULTS.get(env_name, {})}, _merge(dcmms["defaults"], envs[env_name]))
    for key in ("dcmms:capacity", f"dcmms:capacity:{env_name}"):
        plan = context.get(key)
        if plan:
            # a path to `dcmms capacity --json` output, or the plan itself
            document = json.loads(Path(plan).read_text()) if isinstance(plan, str) else plan
            raw = _merge(raw, capacity_overrides(document))
    for key in ("dcmms:overrides", f"dcmms:overrides:{env_name}"):
        overrides = context.get(key)
        if isinstance(overrides, str):
            overrides = json.loads(overrides)
        if overrides:
            raw = _merge(raw, overrides)
    raw.pop("regions", None)
    raw = {**raw, "env_name": env_name, "region": region, "account": account}
    cfg = _build(DeploymentConfig, raw, f"dcmms.environments.{env_name}")
    _validate(cfg)
    return cfg
