"""Putting telemetry records on Kinesis within PutRecords' limits: the simulator and the API's ingest route.

A partially failed PutRecords (throttled shards) is retried for its failed entries only, with backoff.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

MAX_RECORDS_PER_CALL = 500  # Kinesis PutRecords limits
MAX_BYTES_PER_CALL = 5 * 1024 * 1024


def chunks(records: Iterable[tuple[str, bytes]]) -> Iterator[list[tuple[str, bytes]]]:
    """PutRecords calls within the service limits: at most 500 records and 5 MiB each."""
    batch: list[tuple[str, bytes]] = []
    size = 0
    for key, data in records:
        record_size = len(key.encode()) + len(data)
        if batch and (len(batch) == MAX_RECORDS_PER_CALL or size + record_size > MAX_BYTES_PER_CALL):
            yield batch
            batch, size = [], 0
        batch.append((key, data))
        size += record_size
    if batch:
        yield batch


def put_records(
    kinesis: Any,
    stream: str,
    batch: list[tuple[str, bytes]],
    attempts: int = 5,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """PutRecords, retrying only the entries that failed (throttling), with backoff; returns the count
    that could not be put after ``attempts``."""
    pending = batch
    for attempt in range(attempts):
        reply = kinesis.put_records(StreamName=stream, Records=[{"PartitionKey": k, "Data": d} for k, d in pending])
        if not reply.get("FailedRecordCount"):
            return 0
        pending = [rec for rec, res in zip(pending, reply["Records"], strict=True) if "ErrorCode" in res]
        sleep(min(2.0, 0.05 * 2**attempt))
    return len(pending)
