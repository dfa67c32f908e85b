"""A stand-in ingest handler that fails every record: drives the local poller's retry path."""

from __future__ import annotations

CALLS: list[int] = []


def lambda_handler(event: dict, context: object) -> dict:
    CALLS.append(len(event["Records"]))
    return {"batchItemFailures": [{"itemIdentifier": r["kinesis"]["sequenceNumber"]} for r in event["Records"]]}
