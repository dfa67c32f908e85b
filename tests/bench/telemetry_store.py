"""Write throughput of ``TelemetryStore.write`` beside a raw ``COPY`` floor, measured interleaved in one run.

The floor is the cheapest way PostgreSQL can take the same (series_id, ts, value) rows durably and
de-duplicable: a binary COPY into a logged plain table with a (series_id, ts) primary key. The store does
more per row (series lookup, staging, conflict check, BRIN, two rollup upserts), and the ratio says what
that costs. Run: ``python -m tests.bench.telemetry_store``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from dcmms.telemetry.postgres import Reading, TelemetryStore
from dcmms_dev.servers import start_postgres

TENANT = "bench"
_FLOOR_TABLE = """
CREATE TABLE copy_floor (series_id bigint, ts timestamptz, value double precision, PRIMARY KEY (series_id, ts))
"""


def make_batches(batches: int, assets: int, metrics: int, stamps: int, start: datetime) -> list[list[Reading]]:
    """``batches`` batches of assets x metrics x stamps readings, one second apart, never repeating a timestamp."""
    out = []
    for b in range(batches):
        times = [start + timedelta(seconds=b * stamps + k) for k in range(stamps)]
        out.append(
            [
                Reading(TENANT, f"asset-{a:04d}", f"metric-{m:02d}", ts, float(a * m + k))
                for k, ts in enumerate(times)
                for a in range(assets)
                for m in range(metrics)
            ]
        )
    return out


def copy_floor(
    conn: psycopg.Connection, rows: Sequence[tuple[int, datetime, float]], table: str = "copy_floor"
) -> None:
    """One committed binary COPY of ``rows`` into ``table``: the reference the store is compared with."""
    with conn.cursor() as cur, cur.copy(f"COPY {table} (series_id, ts, value) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(["int8", "timestamptz", "float8"])
        for row in rows:
            copy.write_row(row)
    conn.commit()


def run(batches: int, assets: int, metrics: int, stamps: int) -> dict[str, float]:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    work = make_batches(batches + 1, assets, metrics, stamps, start)
    warmup, work = work[0], work[1:]
    with tempfile.TemporaryDirectory(prefix="dcmms-bench-") as tmp:
        server = start_postgres(Path(tmp))
        store = TelemetryStore(server.url)
        try:
            store.migrate()
            store.write(warmup)  # creates the series and fills the id cache: steady state from here
            with psycopg.connect(server.url) as conn:
                conn.execute(_FLOOR_TABLE)
                conn.commit()
                ids: dict[str, int] = dict(
                    conn.execute("SELECT asset_id || '/' || metric, series_id FROM telemetry_series")
                )
                floor_rows = [[(ids[f"{r.asset_id}/{r.metric}"], r.ts, r.value) for r in batch] for batch in work]
                store_s = floor_s = redelivery_s = 0.0
                stored = 0
                for batch, rows in zip(work, floor_rows, strict=True):  # interleaved: drift hits both alike
                    t0 = time.perf_counter()
                    stored += store.write(batch)
                    t1 = time.perf_counter()
                    copy_floor(conn, rows)
                    t2 = time.perf_counter()
                    if store.write(batch) != 0:
                        raise AssertionError("a re-delivered batch stored rows")
                    t3 = time.perf_counter()
                    store_s, floor_s, redelivery_s = store_s + t1 - t0, floor_s + t2 - t1, redelivery_s + t3 - t2
        finally:
            store.close()
            server.stop()
    total = sum(len(batch) for batch in work)
    if stored != total:
        raise AssertionError(f"stored {stored} of {total} rows")
    return {
        "rows": total,
        "batch": len(work[0]),
        "store": total / store_s,
        "redelivery": total / redelivery_s,
        "floor": total / floor_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--assets", type=int, default=100)
    parser.add_argument("--metrics", type=int, default=10)
    parser.add_argument("--stamps", type=int, default=5)
    args = parser.parse_args()
    result = run(args.batches, args.assets, args.metrics, args.stamps)
    print(f"{result['rows']:,.0f} rows in batches of {result['batch']:,.0f}, interleaved")
    print(f"{'':36}{'rows/s':>12}{'vs floor':>10}")
    for label, key in [
        ("TelemetryStore.write (new rows)", "store"),
        ("TelemetryStore.write (re-delivery)", "redelivery"),
        ("raw COPY, indexed logged table", "floor"),
    ]:
        print(f"{label:36}{result[key]:>12,.0f}{result[key] / result['floor']:>10.2f}")


if __name__ == "__main__":
    main()
