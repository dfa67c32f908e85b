"""Stream consumers: the Kinesis event source of the ingest function and the DynamoDB Streams event sources
of the read-model projector, with every failure path decided.

Kinesis' defaults retry a failing batch until its records expire (a week's worth of one shard blocked by
one bad record), and DynamoDB Streams' do the same for a day, so nothing here is a default: partial batch
failures (the function reports sequence numbers), bisect on error, finite retries, a maximum record age,
and an on-failure destination. The SQS destination receives what Lambda gave up on (shard, sequence range,
reason) — alarmed as soon as it is not empty; the full payloads of records the ingest function itself
refused are in the dead-letter bucket (``dcmms dlq list``), and a projection that lost records is rebuilt
from the tables (``dcmms reindex``). Reserved concurrency covers the most batches that can run at once
(cdk/functions.py), so a busy API never starves a stream.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from cdk import nag
from cdk.config import DeploymentConfig
from dcmms.catalogue import FunctionSpec


def on_failure_queue(scope: Construct, cfg: DeploymentConfig, consumer: str, retention_days: int) -> sqs.Queue:
    """The on-failure destination of a stream consumer's event sources: SQS-encrypted, TLS-only, alarmed
    when not empty (cdk/monitoring.py), kept in production when the stack goes."""
    queue = sqs.Queue(
        scope,
        "OnFailure",
        queue_name=f"{cfg.prefix}-{consumer}-on-failure",
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=Duration.days(retention_days),
        removal_policy=RemovalPolicy.RETAIN if cfg.production else RemovalPolicy.DESTROY,
    )
    nag.acknowledge(
        queue,
        "AwsSolutions-SQS3",
        f"This queue is itself the dead-letter destination of the {consumer} function's stream event sources; "
        "it is alarmed when not empty and has no further queue behind it.",
    )
    return queue


class Ingest(Construct):
    def __init__(
        self, scope: Construct, id: str, *, cfg: DeploymentConfig, function: lambda_.Function, stream: kinesis.IStream
    ) -> None:
        super().__init__(scope, id)
        i = cfg.ingest
        self.on_failure = on_failure_queue(self, cfg, "ingest", i.on_failure_retention_days)
        self.source = sources.KinesisEventSource(
            stream,
            starting_position=lambda_.StartingPosition[i.starting_position],
            batch_size=i.batch_size,
            max_batching_window=Duration.seconds(i.max_batching_window_s),
            parallelization_factor=i.parallelization_factor,
            report_batch_item_failures=True,
            bisect_batch_on_error=True,
            retry_attempts=i.retry_attempts,
            max_record_age=Duration.seconds(i.max_record_age_s),
            on_failure=sources.SqsDlq(self.on_failure),
        )
        function.add_event_source(self.source)


class Projection(Construct):
    """One DynamoDB Streams event source per table the catalogue's StreamSource names, delivering as the
    local stack's poller does (batch size, partial failures, bisect, retries, record age: the catalogue's),
    from the oldest record still in the stream, to one on-failure queue. The mappings grant the function
    the stream reads; it has no access to the tables themselves (cdk/access.py)."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        cfg: DeploymentConfig,
        spec: FunctionSpec,
        function: lambda_.Function,
        tables: Mapping[str, dynamodb.ITable],  # the tables that have a stream
    ) -> None:
        super().__init__(scope, id)
        source = spec.stream
        if source is None or not source.tables:
            raise ValueError(f"catalogue function {spec.name!r} consumes DynamoDB streams but names no tables")
        missing = [t for t in source.tables if t not in tables]
        if missing:
            raise ValueError(f"catalogue function {spec.name!r}: table(s) {missing} have no DynamoDB stream")
        self.on_failure = on_failure_queue(self, cfg, spec.name, cfg.projector.on_failure_retention_days)
        self.sources: dict[str, sources.DynamoEventSource] = {}
        for base_name in source.tables:
            event_source = sources.DynamoEventSource(
                tables[base_name],
                starting_position=lambda_.StartingPosition.TRIM_HORIZON,
                batch_size=source.batch_size,
                report_batch_item_failures=source.report_batch_item_failures,
                bisect_batch_on_error=source.bisect_on_error,
                retry_attempts=source.retry_attempts,
                max_record_age=Duration.seconds(source.max_record_age_s),
                on_failure=sources.SqsDlq(self.on_failure),
            )
            function.add_event_source(event_source)
            self.sources[base_name] = event_source
