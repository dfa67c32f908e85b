"""What Lambda's event-source mappings do in AWS, for the local stack: read a stream's shards and invoke a
catalogue function with its ``StreamSource`` settings (the ones the CDK stacks deploy).

One delivery discipline for both kinds of stream (``StreamPoller``): batches of ``batch_size``; on a
partial batch failure redeliver from the first failed record on, ``retry_attempts`` times; on a function
error (an exception) bisect the batch, which costs no retry; then hand the records that still failed to
the on-failure destination. Kinesis (``LocalKinesisPoller``, the ingest function) and DynamoDB Streams
(``LocalDynamoDBStreamsPoller``, the projector) differ only in how shards are read, what the event looks
like and where failures go.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, Literal

from dcmms.catalogue import QueueSource, StreamSource
from dcmms.clients import aws_client
from dcmms.config import Settings


class StreamPoller(threading.Thread, ABC):
    """The shared delivery loop; subclasses read shards (``run``), build events and take failures."""

    def __init__(
        self, name: str, settings: Settings, handler: str, source: StreamSource | None, max_retries: int | None
    ) -> None:
        super().__init__(name=name, daemon=True)
        self.settings = settings
        self.handler = handler
        self.source = source or StreamSource()
        self.batch_size = self.source.batch_size
        self.max_retries = self.source.retry_attempts if max_retries is None else max_retries
        self._halt = threading.Event()
        self.ready = threading.Event()  # set once every shard is being read: later writes are seen
        self.batches = 0  # handler invocations
        self.delivered = 0  # records handed to the handler, redeliveries included

    @abstractmethod
    def event(self, shard: str, records: list[dict[str, Any]]) -> dict[str, Any]:
        """The Lambda event the mapping builds from a shard's records."""

    @abstractmethod
    def sequence(self, record: Mapping[str, Any]) -> str:
        """A record's sequence number: what ``batchItemFailures`` name."""

    @abstractmethod
    def on_failure(self, shard: str, records: list[dict[str, Any]]) -> None:
        """Hand the records retries could not deliver to the on-failure destination."""

    def deliver(self, shard: str, records: list[dict[str, Any]]) -> None:
        """One batch of a shard's records, to success or to the on-failure destination."""
        gave_up = self._attempt(shard, records, self.max_retries)
        if gave_up:
            self.on_failure(shard, gave_up)

    def _attempt(self, shard: str, records: list[dict[str, Any]], retries: int) -> list[dict[str, Any]]:
        """Deliver until nothing fails or the retries are spent; returns the records that still failed."""
        from dcmms_dev.stack import invoke

        pending = records
        while True:
            self.batches += 1
            self.delivered += len(pending)
            try:
                reply = invoke(self.handler, self.event(shard, pending)) or {}
            except Exception as exc:  # a function error: the whole batch failed
                print(f"{self.name}: function error on {len(pending)} record(s): {exc!r}", file=sys.stderr)
                if self.source.bisect_on_error and len(pending) > 1:
                    half = len(pending) // 2
                    return self._attempt(shard, pending[:half], retries) + self._attempt(shard, pending[half:], retries)
                failed = {self.sequence(r) for r in pending}
            else:
                failed = {f["itemIdentifier"] for f in reply.get("batchItemFailures") or []}
            if not failed:
                return []
            if retries == 0:
                return [r for r in pending if self.sequence(r) in failed]
            retries -= 1
            first = min(i for i, r in enumerate(pending) if self.sequence(r) in failed)
            pending = pending[first:]  # as the mapping does: redeliver from the first failure on

    def stop(self) -> None:
        self._halt.set()


class LocalKinesisPoller(StreamPoller):
    """The Kinesis event-source mapping: every shard from LATEST; the on-failure destination is locally the
    dead-letter store with the records' payloads (``retries exhausted``), so ``dcmms dlq replay`` can bring
    them back. A record is dead-lettered there at most once, and never over the reason the function gave."""

    def __init__(
        self, settings: Settings, handler: str, source: StreamSource | None = None, max_retries: int | None = None
    ) -> None:
        super().__init__("local-kinesis-poller", settings, handler, source, max_retries)

    def run(self) -> None:
        kinesis = aws_client("kinesis", self.settings)
        stream = self.settings.kinesis_stream
        shards = [s["ShardId"] for s in kinesis.list_shards(StreamName=stream)["Shards"]]
        iterators = {
            shard: kinesis.get_shard_iterator(StreamName=stream, ShardId=shard, ShardIteratorType="LATEST")[
                "ShardIterator"
            ]
            for shard in shards
        }
        self.ready.set()
        while not self._halt.is_set():
            busy = False
            for shard in shards:
                try:
                    reply = kinesis.get_records(ShardIterator=iterators[shard], Limit=self.batch_size)
                except Exception as exc:  # the emulator restarting or a transient error: poll again
                    print(f"kinesis poll failed: {exc!r}", file=sys.stderr)
                    continue
                iterators[shard] = reply["NextShardIterator"]
                if reply["Records"]:
                    busy = True
                    self.deliver(shard, reply["Records"])
            if not busy:
                self._halt.wait(0.5)

    def event(self, shard: str, records: list[dict[str, Any]]) -> dict[str, Any]:
        from dcmms_dev.events import kinesis_event_from_shard

        return kinesis_event_from_shard(shard, records)

    def sequence(self, record: Mapping[str, Any]) -> str:
        return str(record["SequenceNumber"])

    def on_failure(self, shard: str, records: list[dict[str, Any]]) -> None:
        from dcmms.telemetry.ingest import S3DeadLetters, StreamRecord

        dead = S3DeadLetters(aws_client("s3", self.settings), self.settings.dead_letter_bucket)
        for r in records:
            arrived = r["ApproximateArrivalTimestamp"]
            dead.put(
                StreamRecord(r["SequenceNumber"], r["PartitionKey"], r["Data"], arrived, shard), "retries exhausted"
            )


# Records per GetRecords call (the API's maximum, as Lambda reads). Reading a shard again at once after a call
# that found records (it keeps up with the writes) slowed DynamoDB Local's writes badly as its streams grew:
# the spec seed took ~240 s against ~40 s without streams; so a shard is read again at once only while it has
# a backlog (a full page), otherwise after the poll interval.
STREAMS_READ_LIMIT = 1000


def projector_failure_queue(settings: Settings) -> str:
    """The SQS queue the projector's mappings send what they give up on (locally in moto, as in AWS)."""
    return f"{settings.table_prefix}projector-on-failure"


class LocalDynamoDBStreamsPoller(StreamPoller):
    """The DynamoDB Streams event-source mappings of one function, one per table of ``source.tables``, read
    from the emulator's Streams API (DynamoDB Local): every shard from TRIM_HORIZON (what the tables held
    before the poller started is delivered too, as a mapping created with TRIM_HORIZON does); a shard that
    closes is dropped, new shards are found by describing the stream again, and a child shard is read only
    after its parent is done, so an item's records arrive in order. What retries cannot deliver goes to the
    SQS on-failure queue as Lambda sends it: the batch's shard, sequence range and stream, not its records.
    """

    rescan_s = 2.0

    def __init__(
        self,
        settings: Settings,
        handler: str,
        source: StreamSource | None = None,
        max_retries: int | None = None,
        start_at: Literal["TRIM_HORIZON", "LATEST"] = "TRIM_HORIZON",
    ) -> None:
        """``start_at``: where the shards open at start are read from (LATEST: only what is written after the
        poller is ``ready``; shards that appear later are read from their start either way)."""
        super().__init__("local-dynamodb-streams-poller", settings, handler, source, max_retries)
        self.stream_arns: dict[str, str] = {}  # shard id -> its stream's ARN
        self._last: dict[str, str] = {}  # shard id -> the last sequence number delivered from it
        self._start_at = start_at

    def run(self) -> None:
        dynamodb = aws_client("dynamodb", self.settings)
        streams = aws_client("dynamodbstreams", self.settings)
        arns = [
            dynamodb.describe_table(TableName=self.settings.table_prefix + base)["Table"]["LatestStreamArn"]
            for base in self.source.tables
        ]
        iterators: dict[str, str] = {}  # open shards being read
        finished: set[str] = set()
        rescan_at = 0.0
        while not self._halt.is_set():
            if time.monotonic() >= rescan_at:
                self._discover(streams, arns, iterators, finished)
                rescan_at = time.monotonic() + self.rescan_s
                self.ready.set()
            busy = False
            for shard, iterator in list(iterators.items()):
                try:
                    reply = streams.get_records(ShardIterator=iterator, Limit=STREAMS_READ_LIMIT)
                except Exception as exc:  # an expired iterator, the emulator restarting: find the shard again
                    print(f"dynamodb streams poll failed on {shard}: {exc!r}", file=sys.stderr)
                    del iterators[shard]
                    continue
                following = reply.get("NextShardIterator")
                if following:
                    iterators[shard] = following
                else:  # closed and read to its end
                    del iterators[shard]
                    finished.add(shard)
                records = reply["Records"]
                busy = busy or len(records) == STREAMS_READ_LIMIT  # a backlog: read on without waiting
                for start in range(0, len(records), self.batch_size):  # as the mapping batches what it read
                    batch = records[start : start + self.batch_size]
                    self.deliver(shard, batch)
                    self._last[shard] = self.sequence(batch[-1])
            if not busy:  # each shard is read at most 4 times a second, as Lambda polls a stream's shards
                self._halt.wait(0.25)

    def _discover(self, streams: Any, arns: list[str], iterators: dict[str, str], finished: set[str]) -> None:
        for arn in arns:
            shards = _all_shards(streams, arn)
            known = {s["ShardId"] for s in shards}
            for shard in shards:
                shard_id = shard["ShardId"]
                if shard_id in iterators or shard_id in finished:
                    continue
                parent = shard.get("ParentShardId")
                if parent and parent in known and parent not in finished:
                    continue  # its parent's records come first
                self.stream_arns[shard_id] = arn
                if not self.ready.is_set() and self._start_at == "LATEST":
                    if "EndingSequenceNumber" in shard.get("SequenceNumberRange", {}):
                        finished.add(shard_id)  # closed before we started: nothing new will come from it
                        continue
                    iterators[shard_id] = streams.get_shard_iterator(
                        StreamArn=arn, ShardId=shard_id, ShardIteratorType="LATEST"
                    )["ShardIterator"]
                    continue
                iterators[shard_id] = self._iterator(streams, arn, shard_id)

    def _iterator(self, streams: Any, arn: str, shard: str) -> str:
        """From where this poller left the shard (a shard found again after a failed read), else its start."""
        last = self._last.get(shard)
        if last is not None:
            try:
                return str(
                    streams.get_shard_iterator(
                        StreamArn=arn, ShardId=shard, ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=last
                    )["ShardIterator"]
                )
            except streams.exceptions.TrimmedDataAccessException:
                pass  # its records are gone: the stream's oldest is the next there is
        return str(
            streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        )

    def event(self, shard: str, records: list[dict[str, Any]]) -> dict[str, Any]:
        from dcmms_dev.events import dynamodb_stream_event

        return dynamodb_stream_event(self.stream_arns[shard], records)

    def sequence(self, record: Mapping[str, Any]) -> str:
        return str(record["dynamodb"]["SequenceNumber"])

    def on_failure(self, shard: str, records: list[dict[str, Any]]) -> None:
        sqs = aws_client("sqs", self.settings)
        url = sqs.get_queue_url(QueueName=projector_failure_queue(self.settings))["QueueUrl"]
        first, last = records[0]["dynamodb"], records[-1]["dynamodb"]
        message = {
            "requestContext": {"condition": "RetryAttemptsExhausted", "functionArn": self.handler},
            "DDBStreamBatchInfo": {
                "shardId": shard,
                "startSequenceNumber": first["SequenceNumber"],
                "endSequenceNumber": last["SequenceNumber"],
                "approximateArrivalOfFirstRecord": first["ApproximateCreationDateTime"].isoformat(),
                "approximateArrivalOfLastRecord": last["ApproximateCreationDateTime"].isoformat(),
                "batchSize": len(records),
                "streamArn": self.stream_arns[shard],
            },
        }
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps(message))
        print(f"{self.name}: {len(records)} record(s) sent to the on-failure queue", file=sys.stderr)


def _all_shards(streams: Any, arn: str) -> list[dict[str, Any]]:
    shards: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"StreamArn": arn}
    while True:
        description = streams.describe_stream(**kwargs)["StreamDescription"]
        shards += description["Shards"]
        last = description.get("LastEvaluatedShardId")
        if not last:
            return shards
        kwargs["ExclusiveStartShardId"] = last


def queue_name(settings: Settings, source: QueueSource) -> str:
    """The SQS queue of a catalogue ``QueueSource`` (``<prefix><queue>``, as the stacks name it)."""
    return f"{settings.table_prefix}{source.queue}"


def create_queue(settings: Settings, source: QueueSource, visibility_timeout_s: int) -> str:
    """The queue and its dead-letter queue (after ``max_receive_count`` receives), as the stacks deploy them;
    returns the queue's URL (idempotent)."""
    sqs = aws_client("sqs", settings)
    name = queue_name(settings, source)
    dlq_url = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": source.max_receive_count})
    attributes = {"VisibilityTimeout": str(visibility_timeout_s), "RedrivePolicy": redrive}
    return str(sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"])


class LocalSqsPoller(threading.Thread):
    """What an SQS event-source mapping does: receive up to ``batch_size`` messages, invoke the function with
    them, delete those it did not name in ``batchItemFailures``; a failed message becomes visible again after
    ``retry_delay_s`` (in AWS: the visibility timeout) and moves to the dead-letter queue after the queue's
    receive limit."""

    def __init__(self, settings: Settings, handler: str, source: QueueSource, retry_delay_s: int = 2) -> None:
        super().__init__(name=f"local-sqs-poller-{source.queue}", daemon=True)
        self.settings, self.handler, self.source, self.retry_delay_s = settings, handler, source, retry_delay_s
        self._halt = threading.Event()
        self.batches = 0

    def run(self) -> None:
        sqs = aws_client("sqs", self.settings)
        url = sqs.get_queue_url(QueueName=queue_name(self.settings, self.source))["QueueUrl"]
        while not self._halt.is_set():
            try:
                reply = sqs.receive_message(
                    QueueUrl=url,
                    MaxNumberOfMessages=self.source.batch_size,
                    WaitTimeSeconds=0,  # the client's read deadline is 1 s: poll, then wait below
                    AttributeNames=["ApproximateReceiveCount", "SentTimestamp"],
                )
            except Exception as exc:  # the emulator stopping, a transient error: poll again
                print(f"{self.name}: receive failed: {exc!r}", file=sys.stderr)
                self._halt.wait(1.0)
                continue
            messages = reply.get("Messages") or []
            if messages:
                self.deliver(sqs, url, messages)
            else:
                self._halt.wait(0.25)

    def deliver(self, sqs: Any, url: str, messages: list[dict[str, Any]]) -> None:
        from dcmms_dev.events import sqs_event
        from dcmms_dev.stack import invoke

        self.batches += 1
        try:
            reply = invoke(self.handler, sqs_event(url, messages)) or {}
            failed = {f["itemIdentifier"] for f in reply.get("batchItemFailures") or []}
        except Exception as exc:  # a function error: every message of the batch comes back
            print(f"{self.name}: function error on {len(messages)} message(s): {exc!r}", file=sys.stderr)
            failed = {m["MessageId"] for m in messages}
        for m in messages:
            if m["MessageId"] in failed:
                sqs.change_message_visibility(
                    QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=self.retry_delay_s
                )
            else:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])

    def stop(self) -> None:
        self._halt.set()
