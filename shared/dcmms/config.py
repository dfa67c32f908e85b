"""Settings: one typed model, read from the environment once per execution environment.

Nothing else in dcmms reads a setting from ``os.environ`` (Lambda's own ``AWS_LAMBDA_*`` variables are read
where they decide something: observability, snapstart). Every setting carries the ``DCMMS_`` prefix, e.g.
``DCMMS_REDIS_URL``. In Lambda the CDK stacks set them; locally ``dcmms dev`` and the test harness do.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ENV_PREFIX = "DCMMS_"


class Settings(BaseModel):
    """Validated once; values come from ``DCMMS_<FIELD>`` variables (pydantic converts the strings).

    A plain pydantic model rather than pydantic-settings: the latter measured ~30 ms of import at cold
    start for a feature (environment variables) that takes six lines here (docs/decisions.md).
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    environment: Literal["local", "test", "dev", "prod"] = "local"
    service_name: str = "dcmms"
    aws_region: str = "us-east-1"
    # None in AWS (the SDK's default endpoints); the moto server's URL locally.
    aws_endpoint_url: str | None = None
    # DynamoDB and DynamoDB Streams: None in AWS; DynamoDB Local's URL locally (else aws_endpoint_url).
    dynamodb_endpoint_url: str | None = None
    # Kinesis: None in AWS; kinesalite's URL locally (else aws_endpoint_url).
    kinesis_endpoint_url: str | None = None
    table_prefix: str = "dcmms-"
    kinesis_stream: str = "dcmms-telemetry"
    # Records that cannot be ingested, with payload and reason (S3; inspect with `dcmms dlq list`).
    dead_letter_bucket: str = "dcmms-telemetry-dlq"
    # Optional Timestream sink beside PostgreSQL, for accounts that already use Timestream.
    timestream_database: str | None = None
    timestream_table: str = "telemetry"
    # Reports (dcmms.reports): the bucket the documents are written to (encrypted, expired by a lifecycle rule),
    # the queue the API and the schedules put report jobs on (its URL, set by the stacks; locally looked up by
    # name), the sender of the subscription emails (an SES identity) and how long a download link is valid.
    reports_bucket: str = "dcmms-reports"
    reports_queue: str = "dcmms-reports"
    reports_queue_url: str | None = None
    report_sender: str = "reports@dcmms.local"
    report_link_ttl_s: int = 900
    # People sign in with Cognito (the API also takes their ID tokens as Bearer credentials): the pool and the web
    # app's client; the pool's JWKS is fetched from Cognito (locally from moto's server) unless given.
    cognito_user_pool_id: str | None = None
    cognito_client_id: str | None = None
    cognito_jwks_url: str | None = None
    # API Gateway (set by the stacks; unset locally, where no gateway stands in front): the usage plan of each
    # tier, into which the management API imports the keys it issues (JSON {tier: plan id}), and the gateway
    # key of each tier's plan for people, which the request authorizer names as a signed-in person's usage key
    # (JSON {tier: api key id}). JSON text, read through ``usage_plans`` and ``people_usage_keys`` (settings are
    # hashable: functions cache per settings).
    usage_plan_ids: str | None = None
    people_usage_key_ids: str | None = None
    redis_url: str = "redis://127.0.0.1:6379/0"
    # ElastiCache in cluster mode: redis_url is the configuration endpoint and the client follows the slots.
    redis_cluster: bool = False
    database_url: str = "postgresql://dcmms@127.0.0.1:5432/dcmms"
    # Read replicas of database_url for dashboards and search, comma-separated (empty: the primary answers),
    # and the analytics replica for telemetry aggregations and reports (unset: the read replicas, then the
    # primary). readmodel.router skips one that is down or lagging past its bound.
    database_replica_urls: str = ""
    database_analytics_url: str | None = None
    # Every call to a dependency has a deadline: a slow Redis must not hold a request hostage.
    redis_timeout_s: float = 0.25
    database_connect_timeout_s: int = 2
    dynamodb_timeout_s: float = 2.0
    health_timeout_s: float = 1.0
    # Memory the function is given (Lambda's AWS_LAMBDA_FUNCTION_MEMORY_SIZE); None: the machine's RAM.
    memory_limit_mb: int | None = Field(default=None)
    max_body_bytes: int = 1024 * 1024
    # How long a resolved credential (an API key's record, a person's standing) stays cached in Redis; the
    # per-process caches keep it at most 30 s more, so a revoked key or a disabled person is refused everywhere
    # within principal_cache_ttl_s + 30 s, and at once where Redis was reachable to drop the entry.
    principal_cache_ttl_s: float = 30.0
    public_base_url: str = ""
    # Rate limits: None for the shipped limits.json, else a path to a JSON file or the JSON itself.
    rate_limits: str | None = None
    # X-Ray tracing through Powertools Tracer; off locally (no X-Ray daemon), on in AWS via the stacks.
    tracing: bool = False
    # Bearer token GET /metrics requires outside the local stack (containers); unset there, /metrics is not served.
    metrics_token: str | None = None
    # Live updates (dcmms.live, docs/live.md): API Gateway's WebSocket API pushes alerts and readings to browsers.
    # live_endpoint_url: the WebSocket API's @connections endpoint, https://<api id>.execute-api.<region>.amazonaws.com/
    # <stage> (locally the local stack's http://127.0.0.1:<port>/ws), set where frames are posted to connections; the
    # browsers' URL is the same with ws(s)://. live_relay_function: the live function's name, set on the functions
    # inside the VPC instead (no route to the public @connections endpoint there): they hand their frames to it by an
    # asynchronous invoke. Neither set: nothing is pushed (browsers fall back to conditional polling).
    live_endpoint_url: str | None = None
    live_relay_function: str | None = None
    # At most one readings frame per asset per this many seconds (the newest values win), and how long a process
    # trusts what it read of a site's subscribers (a new subscriber waits at most this long for its first frame).
    live_readings_interval_s: float = 2.0
    live_subscribers_ttl_s: float = 2.0

    @property
    def usage_plans(self) -> dict[str, str]:
        """Tier -> API Gateway usage plan id (empty: no gateway, e.g. the local stack)."""
        return _json_map(self.usage_plan_ids)

    @property
    def people_usage_keys(self) -> dict[str, str]:
        """Tier -> id of the API Gateway key that meters signed-in people of that tier."""
        return _json_map(self.people_usage_key_ids)

    @property
    def cognito_issuer(self) -> str | None:
        """The ``iss`` of the pool's tokens (the same locally: moto issues them as Cognito does)."""
        if not self.cognito_user_pool_id:
            return None
        return f"https://cognito-idp.{self.aws_region}.amazonaws.com/{self.cognito_user_pool_id}"

    @property
    def cognito_jwks(self) -> str | None:
        """Where the pool's signing keys are published: Cognito's (or moto's) ``/.well-known/jwks.json``."""
        if self.cognito_jwks_url or not self.cognito_user_pool_id:
            return self.cognito_jwks_url
        base = self.endpoint_for("cognito-idp") or f"https://cognito-idp.{self.aws_region}.amazonaws.com"
        return f"{base.rstrip('/')}/{self.cognito_user_pool_id}/.well-known/jwks.json"

    @property
    def replica_urls(self) -> tuple[str, ...]:
        return tuple(url.strip() for url in self.database_replica_urls.split(",") if url.strip())

    @property
    def live_socket_url(self) -> str | None:
        """Where browsers open the live-updates WebSocket (``?token=`` appended): the @connections endpoint's
        URL with ``ws(s)://`` (API Gateway serves both at the stage's URL; so does the local stack at ``/ws``)."""
        if not self.live_endpoint_url:
            return None
        scheme, _, rest = self.live_endpoint_url.partition("://")
        return ("wss" if scheme == "https" else "ws") + "://" + rest.rstrip("/")

    def endpoint_for(self, service: str) -> str | None:
        """The endpoint a botocore client of ``service`` talks to (None: AWS's own)."""
        if service in ("dynamodb", "dynamodbstreams") and self.dynamodb_endpoint_url:
            return self.dynamodb_endpoint_url
        if service == "kinesis" and self.kinesis_endpoint_url:
            return self.kinesis_endpoint_url
        return self.aws_endpoint_url

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values = {name: env[ENV_PREFIX + name.upper()] for name in cls.model_fields if ENV_PREFIX + name.upper() in env}
        return cls.model_validate(values)


def _json_map(text: str | None) -> dict[str, str]:
    if not text:
        return {}
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError(f"expected a JSON object, got {text!r}")
    return {str(k): str(v) for k, v in value.items()}


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_environ()
