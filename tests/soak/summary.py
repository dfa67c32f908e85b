"""The soak's arithmetic, pure so it is unit-tested: windows of throughput and iterator age, the verdict."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 1))
    return float(ordered[int(rank) - 1])


def windows(
    stats: Sequence[Mapping[str, Any]], started: float, per_record: int, width_s: float = 60.0
) -> list[dict[str, Any]]:
    """Per ``width_s`` window of the consumer's once-a-second lines (from ``started``): events/s delivered
    (from the growth of ``delivered``, over the seconds the window holds lines for: the last one may be
    short) and the iterator ages of the batches handled in it."""
    out: list[dict[str, Any]] = []
    previous = 0
    for line in stats:
        index = int(max(0.0, line["t"] - started) // width_s)
        while len(out) <= index:
            out.append({"from_s": len(out) * width_s, "records": 0, "ages": [], "seconds": 0})
        out[index]["records"] += line["delivered"] - previous
        out[index]["seconds"] += 1  # the consumer writes one line a second
        out[index]["ages"] += line["ages_ms"]
        previous = line["delivered"]
    rows = []
    for w in out:
        ages = w["ages"]
        rows.append(
            {
                "from_s": w["from_s"],
                "events_per_s": w["records"] * per_record / max(1, min(width_s, w["seconds"])),
                "batches": len(ages),
                "age_p50_ms": percentile(ages, 0.50),
                "age_p95_ms": percentile(ages, 0.95),
                "age_max_ms": max(ages) if ages else None,
            }
        )
    return rows


def verdict(produced_records: int, per_record: int, delivered: int, stored_rows: int, dead_letters: int) -> dict:
    """Nothing lost and nothing doubled: every record put was handed over once and every event is stored once.

    ``stored_rows`` counts rows in telemetry_raw, whose key (series, ts) holds each event at most once, so
    a row count equal to the events put means none is missing; a delivery count above the records put
    means some were handed over again (a redelivery), which the count names rather than hides.
    """
    expected = produced_records * per_record
    return {
        "events_put": expected,
        "events_stored": stored_rows,
        "missing_events": max(0, expected - stored_rows),
        "unexpected_events": max(0, stored_rows - expected),
        "records_put": produced_records,
        "records_delivered": delivered,
        "redelivered_records": max(0, delivered - produced_records),
        "undelivered_records": max(0, produced_records - delivered),
        "dead_letters": dead_letters,
        "ok": stored_rows == expected and delivered == produced_records and dead_letters == 0,
    }
