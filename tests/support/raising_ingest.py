"""A stand-in ingest handler that raises (a function error) on any batch holding the poison payload."""

from __future__ import annotations

import base64

POISON = b"raise-on-me"
CALLS: list[tuple[int, bool]] = []  # (records in the batch, whether it raised)


def lambda_handler(event: dict, context: object) -> dict:
    poisoned = any(base64.b64decode(r["kinesis"]["data"]) == POISON for r in event["Records"])
    CALLS.append((len(event["Records"]), poisoned))
    if poisoned:
        raise RuntimeError("the function crashed on this batch")
    return {"batchItemFailures": []}
