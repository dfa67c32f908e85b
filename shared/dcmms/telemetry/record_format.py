"""The telemetry record format, version 1 (docs/telemetry.md), and its validation.

One Kinesis record carries one asset's readings. Decoding is one ``orjson.loads``; every rule that
can fail names itself in ``RecordRejected.reason``, which the ingest function reports per record and
keeps with the payload in the dead-letter store.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, TypeGuard

import orjson

from dcmms.domain.model import AssetType

from .metric_names import METRICS

VERSION = 1
MAX_READINGS = 1_000
MAX_FUTURE = timedelta(minutes=15)
RAW_RETENTION = timedelta(days=7)  # readings older than the raw retention are refused (TelemetryStore keeps 7 days)
_NUMBER_TYPES = frozenset({int, float})
_ID = re.compile(r"^[A-Za-z0-9_\-:.]{1,64}$")


class RecordRejected(Exception):
    """The record cannot be stored; ``reason`` says why in a short, stable phrase."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class AssetRef:
    """What the ingest path needs to know about an asset (from the registry)."""

    site_id: str
    type: AssetType


class Sample(NamedTuple):
    """One metric value at one instant (a tuple: a batch builds tens of thousands of them)."""

    ts: datetime
    metric: str
    value: float


@dataclass(frozen=True, slots=True)
class DecodedRecord:
    """A valid record. ``readings`` keeps each reading's metrics object as decoded (validated, not copied):
    a batch carries tens of thousands of values and the store takes them as they are."""

    tenant_id: str
    site_id: str
    asset_id: str
    asset_type: AssetType
    readings: list[tuple[datetime, dict[str, float]]]

    @property
    def samples(self) -> list[Sample]:
        return [Sample(ts, metric, float(value)) for ts, values in self.readings for metric, value in values.items()]

    @property
    def events(self) -> int:
        return sum(len(values) for _, values in self.readings)


AssetLookup = Callable[[str, str], AssetRef | None]


def _timestamp(raw: Any) -> datetime:
    if isinstance(raw, bool):
        raise RecordRejected("ts is not a timestamp")
    if isinstance(raw, int | float):
        if not math.isfinite(raw):
            raise RecordRejected("ts is not finite")
        return datetime.fromtimestamp(raw / 1000, UTC)
    if isinstance(raw, str):
        try:
            ts = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise RecordRejected(f"ts '{raw[:40]}' is not RFC 3339") from None
        if ts.tzinfo is None:
            raise RecordRejected("ts has no UTC offset")
        return ts.astimezone(UTC)
    raise RecordRejected("ts is not a timestamp")


def _is_id(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and _ID.match(value) is not None


def decode_record(data: bytes, lookup: AssetLookup, now: datetime, retention: timedelta) -> DecodedRecord:
    """Parse and validate one record; raises RecordRejected with the first rule it breaks."""
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise RecordRejected("malformed JSON") from None
    if not isinstance(doc, dict):
        raise RecordRejected("record is not a JSON object")
    if doc.get("v") != VERSION:
        raise RecordRejected(f"unsupported version {doc.get('v')!r}")
    tenant_id, site_id, asset_id = (doc.get(k) for k in ("tenant_id", "site_id", "asset_id"))
    if not (_is_id(tenant_id) and _is_id(site_id) and _is_id(asset_id)):
        raise RecordRejected("tenant_id, site_id and asset_id must be ids")
    asset = lookup(tenant_id, asset_id)
    if asset is None:
        raise RecordRejected("unknown tenant or asset")
    if asset.site_id != site_id:
        raise RecordRejected("asset is not on that site")
    readings = doc.get("readings")
    if not isinstance(readings, list) or not readings:
        raise RecordRejected("readings must be a non-empty list")
    if len(readings) > MAX_READINGS:
        raise RecordRejected(f"more than {MAX_READINGS} readings")
    allowed = METRICS[asset.type]
    oldest, newest = now - retention, now + MAX_FUTURE
    decoded: list[tuple[datetime, dict[str, float]]] = []
    for reading in readings:
        if not isinstance(reading, dict) or not isinstance(values := reading.get("metrics"), dict):
            raise RecordRejected("a reading needs ts and a metrics object")
        ts = _timestamp(reading.get("ts"))
        if ts > newest:
            raise RecordRejected("ts more than 15 minutes in the future")
        if ts < oldest:
            raise RecordRejected("ts older than the raw retention")
        # Whole-reading checks in C (set operations over the names and the value types); the per-value
        # loop runs only to name the culprit. orjson refuses NaN and infinities, so floats are finite.
        if not allowed.issuperset(values):
            unknown = next(m for m in values if m not in allowed)
            raise RecordRejected(f"unknown metric '{unknown[:64]}' for {asset.type.value}")
        if not _NUMBER_TYPES.issuperset(map(type, values.values())):  # type(): bool is an int subclass
            bad = next(m for m, v in values.items() if type(v) not in _NUMBER_TYPES)
            raise RecordRejected(f"{bad} is not a finite number")
        decoded.append((ts, values))
    return DecodedRecord(tenant_id, site_id, asset_id, asset.type, decoded)
