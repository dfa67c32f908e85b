"""The catalogue of Lambda functions: one list that the CDK stacks and the local stack both read.

Handlers are dotted paths, as Lambda names them, so ``dcmms`` never imports ``functions``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class StreamSource:
    """How a stream's event-source mapping delivers to its function. The CDK stacks deploy these settings
    (per environment, from cdk.json; tests/infra holds development to these values) and the local stack's
    poller delivers exactly so: batches of ``batch_size``, partial batch failures retried from the first
    failed record ``retry_attempts`` times, a function error bisecting the batch, then the on-failure
    destination."""

    batch_size: int = 500
    retry_attempts: int = 3
    max_record_age_s: int = 3600
    bisect_on_error: bool = True
    report_batch_item_failures: bool = True
    # A DynamoDB Streams source: the tables (base names) whose streams feed the function; empty for Kinesis.
    tables: tuple[str, ...] = ()


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    handler: str  # "functions.api.handler.lambda_handler"
    trigger: Literal["http", "kinesis", "dynamodb-stream", "schedule"]
    memory_mb: int = 1024
    timeout_s: int = 29
    reserved_concurrency: int | None = None
    schedule: str | None = None  # EventBridge Scheduler expression, for trigger == "schedule"
    environment: dict[str, str] = field(default_factory=dict)
    stream: StreamSource | None = None  # for trigger == "kinesis" or "dynamodb-stream"


FUNCTIONS: tuple[FunctionSpec, ...] = (
    # API Gateway's integration timeout is 29 s; requests are expected to finish in milliseconds.
    FunctionSpec("api", "functions.api.handler.lambda_handler", "http", memory_mb=1769, timeout_s=29),
    # Kinesis-triggered; the ingest construct of the CDK stacks adds the batching window, parallelization
    # and the on-failure destination to ``stream``.
    FunctionSpec(
        "ingest",
        "functions.ingest.handler.lambda_handler",
        "kinesis",
        memory_mb=1024,
        timeout_s=60,
        stream=StreamSource(),
    ),
    # DynamoDB Streams of the operational tables -> the PostgreSQL read model (dcmms.readmodel). Records stay
    # 24 h in a stream; a record older than that is gone anyway, and `dcmms reindex` rebuilds from the tables.
    FunctionSpec(
        "projector",
        "functions.projector.handler.lambda_handler",
        "dynamodb-stream",
        memory_mb=512,
        timeout_s=60,
        stream=StreamSource(
            batch_size=100,
            retry_attempts=5,
            max_record_age_s=86400,
            tables=("sites", "assets", "work-orders", "alerts"),
        ),
    ),
    # Creates the next days' partitions and drops those past retention (raw 7 days, rollups 90 days).
    FunctionSpec(
        "kpi",
        "functions.kpi.handler.lambda_handler",
        "schedule",
        memory_mb=512,
        timeout_s=300,
        reserved_concurrency=1,
        schedule="rate(5 minutes)",
    ),
    FunctionSpec(
        "telemetry-partitions",
        "functions.telemetry_partitions.handler.lambda_handler",
        "schedule",
        memory_mb=512,
        timeout_s=900,
        reserved_concurrency=1,
        schedule="rate(1 day)",
    ),
    # Single-flight by a Redis lock as well; reserved concurrency 1 keeps schedules from piling up.
    FunctionSpec(
        "warmer",
        "functions.warmer.handler.lambda_handler",
        "schedule",
        memory_mb=512,
        timeout_s=300,
        reserved_concurrency=1,
        schedule="rate(15 minutes)",
    ),
)


def schedule_interval_s(expression: str) -> int:
    """Seconds between runs of an EventBridge ``rate(N unit)`` expression."""
    value, unit = expression.removeprefix("rate(").removesuffix(")").split()
    seconds = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}
    return int(value) * seconds[unit]


def by_name(name: str) -> FunctionSpec:
    return next(f for f in FUNCTIONS if f.name == name)
