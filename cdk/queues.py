"""Job queues: an SQS queue and its dead-letter queue per catalogue ``QueueSource``, and the event-source
mapping that delivers it to its function.

A queue is ``<prefix>-<queue>`` (SQS-managed encryption, TLS only), its visibility timeout six times the
consuming function's timeout (AWS's advice for SQS event sources: a batch being retried by Lambda's poller
never reappears to another poller meanwhile). A message received ``max_receive_count`` times moves to
``<prefix>-<queue>-dlq`` (kept 14 days, alarmed when not empty, redriven with ``start-message-move-task``,
docs/deploy.md). The mapping delivers ``batch_size`` messages, the function reports failed ones
(``batchItemFailures``) so one bad job never returns its batch's good ones, and the poller's concurrency is
capped below the function's reserved concurrency (``poller_concurrency``), so messages are not throttled back
onto the queue.

The queues are created before the functions (their URLs are in the functions' environment, ``cdk.access``)
and connected to their consumers after (``connect``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from cdk import nag
from cdk.config import DeploymentConfig
from dcmms.catalogue import FunctionSpec

VISIBILITY_PER_TIMEOUT = 6
RETENTION = Duration.days(4)  # SQS' default, stated: the dead-letter queue must keep messages longer
DEAD_LETTER_RETENTION = Duration.days(14)  # SQS' maximum


def url_variable(queue: str) -> str:
    """The function setting holding a queue's URL: ``DCMMS_REPORTS_QUEUE_URL`` for the "reports" queue
    (``dcmms.config.Settings.reports_queue_url``)."""
    return f"DCMMS_{queue.upper().replace('-', '_')}_QUEUE_URL"


def name_variable(queue: str) -> str:
    """The function setting holding a queue's name (``Settings.reports_queue``)."""
    return f"DCMMS_{queue.upper().replace('-', '_')}_QUEUE"


def poller_concurrency(spec: FunctionSpec, reserved: int | None) -> int | None:
    """The most batches the queue's poller runs at once: within the function's reserved concurrency, less one
    for the function's schedule runs when it has schedules (a throttled delivery goes back to the queue and
    counts as a receive, so a poller allowed the whole reservation would dead-letter jobs); SQS' floor is 2."""
    if reserved is None:
        return None
    return max(2, reserved - (1 if spec.schedules else 0))


class JobQueues(Construct):
    def __init__(self, scope: Construct, id: str, *, cfg: DeploymentConfig, specs: Iterable[FunctionSpec]) -> None:
        super().__init__(scope, id)
        self.cfg = cfg
        self.consumers: dict[str, FunctionSpec] = {}  # queue name -> the function it is delivered to
        for spec in specs:
            if spec.trigger != "sqs":
                continue
            if spec.queue is None:
                raise ValueError(f"catalogue function {spec.name!r} has trigger 'sqs' but no queue")
            if spec.queue.queue in self.consumers:
                raise ValueError(f"queue {spec.queue.queue!r} has two consumers in the catalogue")
            self.consumers[spec.queue.queue] = spec
        self.queues: dict[str, sqs.Queue] = {}
        self.dead_letters: dict[str, sqs.Queue] = {}
        self.sources: dict[str, sources.SqsEventSource] = {}
        removal = RemovalPolicy.RETAIN if cfg.production else RemovalPolicy.DESTROY
        for name, spec in self.consumers.items():
            assert spec.queue is not None
            dead_letters = sqs.Queue(
                self,
                f"{name}-DeadLetters",
                queue_name=f"{cfg.prefix}-{name}-dlq",
                encryption=sqs.QueueEncryption.SQS_MANAGED,
                enforce_ssl=True,
                retention_period=DEAD_LETTER_RETENTION,
                removal_policy=removal,
            )
            nag.acknowledge(
                dead_letters,
                "AwsSolutions-SQS3",
                f"This queue is itself the dead-letter queue of the {name} job queue; it is alarmed when not empty "
                "and redriven to its source queue once the cause is fixed.",
            )
            self.dead_letters[name] = dead_letters
            self.queues[name] = sqs.Queue(
                self,
                name,
                queue_name=f"{cfg.prefix}-{name}",
                encryption=sqs.QueueEncryption.SQS_MANAGED,
                enforce_ssl=True,
                visibility_timeout=Duration.seconds(VISIBILITY_PER_TIMEOUT * spec.timeout_s),
                retention_period=RETENTION,
                dead_letter_queue=sqs.DeadLetterQueue(
                    queue=dead_letters, max_receive_count=spec.queue.max_receive_count
                ),
                removal_policy=removal,
            )

    def queue_url(self, name: str) -> str:
        if name not in self.queues:
            raise KeyError(f"no catalogue function consumes a queue named {name!r}")
        return self.queues[name].queue_url

    def connect(self, functions: Mapping[str, lambda_.Function], reserved: Mapping[str, int | None]) -> None:
        """The event-source mapping of each queue to its function (which it grants the queue's consume actions:
        ReceiveMessage, DeleteMessage, ChangeMessageVisibility, GetQueueAttributes/Url, on this queue only)."""
        for name, spec in self.consumers.items():
            assert spec.queue is not None
            source = sources.SqsEventSource(
                self.queues[name],
                batch_size=spec.queue.batch_size,
                report_batch_item_failures=True,
                max_concurrency=poller_concurrency(spec, reserved.get(spec.name)),
            )
            functions[spec.name].add_event_source(source)
            self.sources[name] = source
