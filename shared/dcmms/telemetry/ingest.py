"""Ingest of one Kinesis batch: validate every record, store the good ones in one write, keep the bad.

The whole batch is decoded first and written with a single ``TelemetryStore.write`` (one COPY), then
failures are mapped back to sequence numbers. A record that breaks a rule is written to the dead-letter
store with its payload and reason, and once that write is durable the record is done: it is *not*
reported failed, because with ``ReportBatchItemFailures`` Kinesis would redeliver the batch from it on
and one poison record would send every record behind it round again. Only what can still succeed on a
retry is reported: a dead-letter write that failed, or every good record when the store (or rule
evaluation on DynamoDB) fails; the store's natural key (asset, metric, ts) and the dead letters' first
write winning make any redelivery store nothing twice.
"""

from __future__ import annotations

import base64
import dataclasses
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson

from dcmms.observability import logger
from dcmms.observability.record import ingest_batch as record_ingest_batch

from .alerting import EvaluationReport, RuleEvaluator
from .postgres import TelemetryStore
from .record_format import RAW_RETENTION, AssetLookup, AssetRef, DecodedRecord, RecordRejected, decode_record
from .timestream import TimestreamSink


@dataclass(frozen=True, slots=True)
class StreamRecord:
    sequence_number: str
    partition_key: str
    data: bytes
    arrived_at: datetime
    # A sequence number is unique within its shard (emulators number each shard from 1), so a dead letter
    # is named by both; the event-source mapping's eventID carries it ("shardId-...:<sequence number>").
    shard_id: str = ""


class DeadLetterStore(Protocol):
    def put(self, record: StreamRecord, reason: str) -> str:
        """Keep the record and why it failed, durably, before returning the entry's key; raise if it could
        not. Per sequence number the first reason stays: a later put of the same record changes nothing."""
        ...


class LiveReadings(Protocol):
    """The live updates' publisher (``dcmms.live``): pushes a stored batch's newest readings to the browsers watching
    their sites, cheaply nothing when nobody watches."""

    def push_readings(self, records: Sequence[DecodedRecord]) -> Callable[[], None]:
        """Start pushing; returns what waits (bounded) for the frames to be delivered. Never raises."""
        ...


class S3DeadLetters:
    """Dead letters as one S3 object each: the payload (base64), the reason and where it came from."""

    def __init__(self, s3_client: Any, bucket: str, prefix: str = "telemetry-dlq/") -> None:
        self.s3 = s3_client
        self.bucket = bucket
        self.prefix = prefix

    def _key(self, record: StreamRecord) -> str:
        # Arrival day, shard and sequence number: all three stay the same when a record is redelivered.
        name = f"{record.shard_id}-{record.sequence_number}" if record.shard_id else record.sequence_number
        return f"{self.prefix}{record.arrived_at:%Y/%m/%d}/{name}.json"

    def put(self, record: StreamRecord, reason: str) -> str:
        """One conditional PutObject (``If-None-Match: *``): S3 answers only once the object is stored,
        and a record that is already there keeps its first, real reason (412 is success here)."""
        key = self._key(record)
        body = orjson.dumps(
            {
                "sequence_number": record.sequence_number,
                "shard_id": record.shard_id,
                "partition_key": record.partition_key,
                "arrived_at": record.arrived_at.isoformat(),
                "reason": reason,
                "payload_b64": base64.b64encode(record.data).decode(),
            }
        )
        try:
            self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/json", IfNoneMatch="*")
        except self.s3.exceptions.ClientError as exc:
            # 412: a dead letter for this sequence number exists. 409: a concurrent conditional write
            # of the same key is in flight, and S3 keeps exactly one of the two.
            if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") not in (409, 412):
                raise
        return key

    def list(self, limit: int = 100) -> list[dict[str, Any]]:
        """The oldest ``limit`` dead letters with their reasons and payloads."""
        out: list[dict[str, Any]] = []
        paginator = self.s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
            for obj in page.get("Contents", []):
                entry = orjson.loads(self.s3.get_object(Bucket=self.bucket, Key=obj["Key"])["Body"].read())
                out.append({"key": obj["Key"], **entry})
                if len(out) >= limit:
                    return out
        return out

    def delete(self, key: str) -> None:
        self.s3.delete_object(Bucket=self.bucket, Key=key)


class CachedAssetLookup:
    """(tenant, asset) -> AssetRef through a per-process cache; unknown assets are remembered briefly
    too, so a misconfigured gateway cannot turn every record into a DynamoDB read."""

    def __init__(self, load: AssetLookup, ttl_s: float = 300.0, negative_ttl_s: float = 30.0) -> None:
        self._load = load
        self._ttl_s = ttl_s
        self._negative_ttl_s = negative_ttl_s
        self._cache: dict[tuple[str, str], tuple[float, AssetRef | None]] = {}

    def __call__(self, tenant_id: str, asset_id: str) -> AssetRef | None:
        now = time.monotonic()
        hit = self._cache.get((tenant_id, asset_id))
        if hit is not None and hit[0] > now:
            return hit[1]
        ref = self._load(tenant_id, asset_id)
        self._cache[(tenant_id, asset_id)] = (now + (self._ttl_s if ref else self._negative_ttl_s), ref)
        return ref


def records_from_event(event: dict[str, Any]) -> list[StreamRecord]:
    """The records of a Kinesis event-source batch, payloads decoded from base64."""
    out = []
    for raw in event.get("Records", []):
        k = raw["kinesis"]
        arrived = datetime.fromtimestamp(float(k.get("approximateArrivalTimestamp", 0)), UTC)
        shard = str(raw.get("eventID", "")).partition(":")[0]
        out.append(
            StreamRecord(k["sequenceNumber"], k.get("partitionKey", ""), base64.b64decode(k["data"]), arrived, shard)
        )
    return out


@dataclass(frozen=True)
class BatchOutcome:
    failed: list[str]  # sequence numbers to report in batchItemFailures
    stored_rows: int
    records_ok: int
    dead_lettered: int
    events: int = 0  # metric values in the good records
    alerts: EvaluationReport | None = None


@dataclass
class IngestPipeline:
    """What one ingest execution environment keeps between batches (built by ``dcmms.runtime``)."""

    lookup: AssetLookup
    store: TelemetryStore
    dead_letters: DeadLetterStore
    evaluator: RuleEvaluator | None = None
    timestream: TimestreamSink | None = None
    live: LiveReadings | None = None  # live updates (dcmms.live); None where no WebSocket API is configured

    def handle(self, event: dict[str, Any]) -> dict[str, list[dict[str, str]]]:
        """One Kinesis event-source batch -> its ``batchItemFailures`` (ReportBatchItemFailures), in the
        batch's order: an empty list when every record is stored or dead-lettered."""
        records = records_from_event(event)
        failed = set(self.ingest(records).failed)
        return {
            "batchItemFailures": [{"itemIdentifier": r.sequence_number} for r in records if r.sequence_number in failed]
        }

    def ingest(self, records: Sequence[StreamRecord], now: datetime | None = None) -> BatchOutcome:
        return ingest_batch(
            records, self.lookup, self.store, self.dead_letters, now, self.evaluator, self.timestream, self.live
        )


def ingest_batch(
    records: Sequence[StreamRecord],
    lookup: AssetLookup,
    store: TelemetryStore,
    dead_letters: DeadLetterStore,
    now: datetime | None = None,
    evaluator: RuleEvaluator | None = None,
    timestream: TimestreamSink | None = None,
    live: LiveReadings | None = None,
) -> BatchOutcome:
    """Store the batch's good records, dead-letter the bad, then evaluate alert rules on what was stored; the newest
    readings are pushed to the sites' live subscribers meanwhile.

    A rule evaluation that fails on DynamoDB reports the good records failed, so the batch comes back
    and is evaluated again (alerts are idempotent per episode); without Redis, evaluation is skipped.
    """
    now = now or datetime.now(UTC)
    good: list[tuple[StreamRecord, DecodedRecord]] = []
    rejected: list[tuple[StreamRecord, str]] = []
    for record in records:
        try:
            good.append((record, decode_record(record.data, lookup, now, RAW_RETENTION)))
        except RecordRejected as exc:
            rejected.append((record, exc.reason))
    # The dead letters are written while the good records are stored: both wait on the network.
    pending = _dead_letter_async(dead_letters, rejected)
    stored = _store_and_evaluate(good, store, evaluator, timestream, live)
    undelivered = _await_dead_letters(pending)
    dead_lettered = len(rejected) - len(undelivered)
    return _recorded(
        dataclasses.replace(stored, failed=stored.failed + undelivered, dead_lettered=dead_lettered), records
    )


def _store_and_evaluate(
    good: list[tuple[StreamRecord, DecodedRecord]],
    store: TelemetryStore,
    evaluator: RuleEvaluator | None,
    timestream: TimestreamSink | None,
    live: LiveReadings | None = None,
) -> BatchOutcome:
    """Store the good records and evaluate rules on them; ``failed`` holds what a redelivery can still fix. Once
    stored, the readings go to the live subscribers while the rules are evaluated (the push's network waits overlap
    the evaluation's), and the push is settled before returning."""
    failed: list[str] = []
    events = sum(d.events for _, d in good)
    try:
        stored = store.write_grouped([(d.tenant_id, d.asset_id, d.readings) for _, d in good]) if good else 0
    except Exception:
        logger.exception("telemetry store write failed; the batch's good records will be redelivered")
        failed += [record.sequence_number for record, _ in good]
        return BatchOutcome(failed, 0, 0, 0)
    settle_live = live.push_readings([decoded for _, decoded in good]) if live is not None and good else None
    if timestream is not None and good:
        # PostgreSQL holds every good record already; Timestream's refusals are logged, not retried.
        sunk = timestream.write([decoded for _, decoded in good])
        if sunk.rejected:
            logger.warning("timestream rejected records", extra={"rejected": sunk.rejected[:20]})
    alerts = None
    if evaluator is not None and good:
        try:
            alerts = evaluator.evaluate([decoded for _, decoded in good])
        except evaluator.redis.errors as exc:
            evaluator.redis.report_failure(exc)
        except Exception:
            logger.exception("alert rule evaluation failed; the batch's good records will be redelivered")
            failed += [record.sequence_number for record, _ in good]
    if settle_live is not None:
        settle_live()
    return BatchOutcome(failed, stored, len(good), 0, events, alerts)


_DEAD_LETTER_WRITERS = 8
_pool: ThreadPoolExecutor | None = None


def _dead_letter_async(
    dead_letters: DeadLetterStore, rejected: list[tuple[StreamRecord, str]]
) -> list[tuple[StreamRecord, Future[str]]]:
    global _pool
    if not rejected:
        return []
    if _pool is None:  # one per execution environment, created on the first poison record
        _pool = ThreadPoolExecutor(_DEAD_LETTER_WRITERS, thread_name_prefix="dead-letter")
    return [(record, _pool.submit(dead_letters.put, record, reason)) for record, reason in rejected]


def _await_dead_letters(pending: list[tuple[StreamRecord, Future[str]]]) -> list[str]:
    """The sequence numbers whose dead letter could not be written: those must come round again."""
    undelivered = []
    for record, future in pending:
        try:
            future.result()
        except Exception:
            logger.exception(
                "dead-letter write failed; the record will be redelivered",
                extra={"sequence_number": record.sequence_number},
            )
            undelivered.append(record.sequence_number)
    return undelivered


def _recorded(outcome: BatchOutcome, records: Sequence[StreamRecord]) -> BatchOutcome:
    """Both exits of ingest_batch report the batch to the metrics, with the age of its oldest record."""
    arrivals = [r.arrived_at.timestamp() for r in records if r.arrived_at.timestamp() > 0]
    record_ingest_batch(outcome, min(arrivals, default=None))
    return outcome
