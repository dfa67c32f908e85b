"""Ingest: the Kinesis event source of the ingest function, with every failure path decided.

Kinesis' defaults retry a failing batch until its records expire (a week's worth of one shard blocked by
one bad record), so nothing here is a default: partial batch failures (the function reports sequence
numbers), bisect on error, finite retries, a maximum record age, and an on-failure destination. The
SQS destination receives what Lambda gave up on (shard, sequence range, reason) — alarmed as soon as
it is not empty; the full payloads of records the function itself refused are in the dead-letter
bucket (``dcmms dlq list``). Reserved concurrency covers shards x parallelization factor, the most
batches that can run at once, so a busy API never starves the stream.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from cdk import nag
from cdk.config import DeploymentConfig


class Ingest(Construct):
    def __init__(
        self, scope: Construct, id: str, *, cfg: DeploymentConfig, function: lambda_.Function, stream: kinesis.IStream
    ) -> None:
        super().__init__(scope, id)
        i = cfg.ingest
        self.on_failure = sqs.Queue(
            self,
            "OnFailure",
            queue_name=f"{cfg.prefix}-ingest-on-failure",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(i.on_failure_retention_days),
            removal_policy=RemovalPolicy.RETAIN if cfg.production else RemovalPolicy.DESTROY,
        )
        nag.acknowledge(
            self.on_failure,
            "AwsSolutions-SQS3",
            "This queue is itself the dead-letter destination of the Kinesis event source; it is alarmed when "
            "not empty and has no further queue behind it.",
        )
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
