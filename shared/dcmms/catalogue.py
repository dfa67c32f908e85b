"""The catalogue of Lambda functions: one list that the CDK stacks and the local stack both read.

Handlers are dotted paths, as Lambda names them, so ``dcmms`` never imports ``functions``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo


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
class Schedule:
    """One EventBridge Scheduler schedule of a function (CDK deploys it; the local stack's scheduler runs it).

    ``expression``: ``rate(N unit)`` or ``cron(min hour day-of-month month day-of-week year)`` evaluated in
    ``timezone``. ``name`` tells a function's schedules apart (the deployed schedule is
    ``<prefix>-<function>[-<name>]``). ``payload`` is the event the function receives (None: an empty object);
    a string value ``<aws.scheduler.scheduled-time>`` becomes the run's scheduled time (ISO 8601, UTC), so a
    retried invocation carries the same time as the first and can be made idempotent by it.
    """

    expression: str
    name: str = ""
    timezone: str = "UTC"
    payload: Mapping[str, Any] | None = None


SCHEDULED_TIME = "<aws.scheduler.scheduled-time>"


@dataclass(frozen=True)
class QueueSource:
    """An SQS queue (``<prefix>-<queue>``) whose messages an event-source mapping delivers to the function:
    ``batch_size`` messages per invocation, partial batch failures reported (``batchItemFailures``), a message
    received ``max_receive_count`` times moved to the queue's dead-letter queue. The visibility timeout is six
    times the function's timeout, as AWS advises for SQS event sources."""

    queue: str
    batch_size: int = 1
    max_receive_count: int = 3


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    handler: str  # "functions.api.handler.lambda_handler"
    # "authorizer": API Gateway's request authorizer (cdk/api.py); "cognito": a user pool trigger (cdk/identity.py);
    # "websocket": the routes of API Gateway's WebSocket API (cdk/live.py; locally dcmms_dev/websocket.py).
    trigger: Literal["http", "kinesis", "dynamodb-stream", "schedule", "sqs", "authorizer", "cognito", "websocket"]
    memory_mb: int = 1024
    timeout_s: int = 29
    reserved_concurrency: int | None = None
    # EventBridge Scheduler schedules: the only trigger of a "schedule" function, extra ones for others.
    schedules: tuple[Schedule, ...] = ()
    environment: dict[str, str] = field(default_factory=dict)
    stream: StreamSource | None = None  # for trigger == "kinesis" or "dynamodb-stream"
    queue: QueueSource | None = None  # for trigger == "sqs"
    # The dependency layer: "base" (pyproject's dependencies) or an extra of pyproject's that the function
    # needs on top of them (its own layer, so e.g. the report libraries never weigh on the API's cold start).
    layer: str = "base"
    # In the VPC's isolated subnets (what reaches Redis, PostgreSQL and the interface endpoints), or outside it: a
    # function that needs none of them starts without a network interface and reaches AWS's public endpoints.
    in_vpc: bool = True


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
        schedules=(Schedule("rate(5 minutes)"),),
    ),
    FunctionSpec(
        "telemetry-partitions",
        "functions.telemetry_partitions.handler.lambda_handler",
        "schedule",
        memory_mb=512,
        timeout_s=900,
        reserved_concurrency=1,
        schedules=(Schedule("rate(1 day)"),),
    ),
    # Single-flight by a Redis lock as well; reserved concurrency 1 keeps schedules from piling up.
    FunctionSpec(
        "warmer",
        "functions.warmer.handler.lambda_handler",
        "schedule",
        memory_mb=512,
        timeout_s=300,
        reserved_concurrency=1,
        schedules=(Schedule("rate(15 minutes)"),),
    ),
    # Preventive maintenance (services.pm): generates the work that PM schedules make due, once per occurrence
    # (derived work-order ids), every 15 minutes; one run at a time, though a concurrent one would create nothing twice.
    FunctionSpec(
        "pm",
        "functions.pm.handler.lambda_handler",
        "schedule",
        memory_mb=1024,
        timeout_s=600,
        reserved_concurrency=1,
        schedules=(Schedule("rate(15 minutes)"),),
    ),
    # Reports (dcmms.reports): generates one report per queue message (the API's on-demand requests and the
    # schedules' runs), from the analytics replica, into the reports bucket; emails subscribers through SES.
    # The schedules only decide what is due and enqueue it: site-daily every 15 minutes for the sites whose
    # local time is 06:00-06:14 at the scheduled time (every UTC offset is a multiple of 15 minutes), and
    # fleet-monthly on the 1st at 12:00 UTC (when every site's previous local month has ended).
    FunctionSpec(
        "reports",
        "functions.reports.handler.lambda_handler",
        "sqs",
        memory_mb=2048,
        timeout_s=300,
        reserved_concurrency=10,
        queue=QueueSource("reports", batch_size=1, max_receive_count=3),
        schedules=(
            Schedule(
                "cron(0/15 * * * ? *)",
                name="site-daily",
                payload={"report_schedule": "site-daily", "scheduled_at": SCHEDULED_TIME},
            ),
            Schedule(
                "cron(0 12 1 * ? *)",
                name="fleet-monthly",
                payload={"report_schedule": "fleet-monthly", "scheduled_at": SCHEDULED_TIME},
            ),
        ),
        layer="reports",
    ),
    # API Gateway's request authorizer (dcmms.gateway.authorizer), before every API request: an API key or a
    # person's token -> Allow, naming the usage-plan key API Gateway meters the request against. Outside the VPC:
    # it reads DynamoDB (one GetItem per key, tenant or person and process, then cached) and API Gateway through
    # their public endpoints and Cognito's JWKS, none of which needs the VPC, and it starts without a network
    # interface. No reserved concurrency: at the spec's 2,500 requests/s peak and ~10 ms warm it keeps ~25
    # environments busy, within the account's unreserved pool (docs/deploy.md).
    FunctionSpec(
        "authorizer",
        "functions.authorizer.handler.lambda_handler",
        "authorizer",
        memory_mb=1024,
        timeout_s=10,
        in_vpc=False,
    ),
    # Cognito's pre-token-generation trigger (event V2_0, dcmms.gateway.pretoken): custom:tenant_id in the ID and
    # access tokens, from the person's attribute or, for a federated person, their identity provider's tenant.
    # Cognito waits 5 s for a trigger; it touches nothing but its event.
    FunctionSpec(
        "pretoken",
        "functions.pretoken.handler.lambda_handler",
        "cognito",
        memory_mb=256,
        timeout_s=5,
        in_vpc=False,
    ),
    # Live updates (dcmms.live, docs/live.md): the WebSocket API's $connect (the person's token verified), $disconnect
    # and $default (subscribe, unsubscribe, ping) routes, by event["requestContext"]["routeKey"], and the frames the
    # functions inside the VPC relay to it, which it posts to API Gateway's @connections endpoint. Outside the VPC:
    # DynamoDB, Cognito's JWKS and @connections are public endpoints, and a function in the VPC (no NAT) could not
    # reach @connections at all. Connects and messages are rare and short; the relayed fan-outs bound its duration.
    FunctionSpec(
        "live",
        "functions.live.handler.lambda_handler",
        "websocket",
        memory_mb=512,
        timeout_s=15,
        in_vpc=False,
    ),
)


def schedule_interval_s(expression: str) -> int:
    """Seconds between runs of an EventBridge ``rate(N unit)`` expression."""
    value, unit = expression.removeprefix("rate(").removesuffix(")").split()
    seconds = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}
    return int(value) * seconds[unit]


def by_name(name: str) -> FunctionSpec:
    return next(f for f in FUNCTIONS if f.name == name)


_CRON_FIELDS = ((0, 59), (0, 23), (1, 31), (1, 12), (1, 7), (1970, 2199))  # minute hour dom month dow year
_DOW_NAMES = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}


def _cron_values(text: str, low: int, high: int) -> frozenset[int] | None:
    """The values one cron field allows (None: any); ``*``, ``?``, ``a``, ``a-b``, ``a/n``, ``*/n``, lists."""
    if text in ("*", "?"):
        return None
    values: set[int] = set()
    for part in text.split(","):
        part = part.upper()
        for name, number in _DOW_NAMES.items():
            part = part.replace(name, str(number))
        span, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if span == "*":
            first, last = low, high
        elif "-" in span:
            first, last = (int(v) for v in span.split("-"))
        else:
            first = int(span)
            last = high if step_text else first
        values.update(range(first, last + 1, step))
    return frozenset(values)


def next_run(schedule: Schedule, after: datetime) -> datetime:
    """The first time strictly after ``after`` (aware) that ``schedule`` fires, as an aware UTC datetime.

    ``rate()`` schedules fire every interval counted from ``after``; ``cron()`` ones at the whole minutes their
    fields allow in the schedule's timezone (EventBridge's six fields; ``L``, ``W`` and ``#`` are not used by the
    catalogue and not supported here). What the local stack's scheduler and the tests use to advance time.
    """
    if schedule.expression.startswith("rate("):
        return (after + timedelta(seconds=schedule_interval_s(schedule.expression))).astimezone(UTC)
    fields = schedule.expression.removeprefix("cron(").removesuffix(")").split()
    if len(fields) != 6:
        raise ValueError(f"not an EventBridge cron expression: {schedule.expression!r}")
    allowed = [_cron_values(text, low, high) for text, (low, high) in zip(fields, _CRON_FIELDS, strict=True)]
    zone = ZoneInfo(schedule.timezone)
    moment = after.astimezone(zone).replace(second=0, microsecond=0) + timedelta(minutes=1)
    for _ in range(366 * 24 * 60):  # at most a year of minutes
        dow = moment.isoweekday() % 7 + 1  # EventBridge: 1 = Sunday
        checks = (moment.minute, moment.hour, moment.day, moment.month, dow, moment.year)
        if all(values is None or value in values for value, values in zip(checks, allowed, strict=True)):
            return moment.astimezone(UTC)
        moment += timedelta(minutes=1)
    raise ValueError(f"{schedule.expression!r} does not fire within a year of {after.isoformat()}")
