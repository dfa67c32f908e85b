"""Aggregation latency: a 24-hour, 5-minute ``avg`` of one asset's metric over 7 days of 1-minute data for
100 assets x 10 metrics (~10 M raw rows and as many minute rollups), through ``TelemetryStore.aggregate``.

Printed beside two references measured in the same run: the same aggregation computed from the raw rows
(what the query would cost without rollups) and a bare round trip (``SELECT 1``, the floor no query can
beat). The data is generated in SQL, one reading per series per minute, so each minute rollup holds one
reading (the hourly rollup is not loaded: this query does not read it). Run: ``python -m tests.bench.telemetry_query``.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from dcmms.telemetry.postgres import TelemetryStore
from dcmms_dev.servers import start_postgres

TENANT = "bench-query"
_LOAD = [
    """INSERT INTO telemetry_series (tenant_id, asset_id, metric)
       SELECT %(tenant)s, 'asset-' || a, 'metric-' || m FROM generate_series(1, %(assets)s) a, generate_series(1, %(metrics)s) m""",
    """INSERT INTO telemetry_raw (series_id, ts, value)
       SELECT s.series_id, t, 500 + 400 * sin(extract(epoch FROM t) / 3600 + s.series_id) + random()
       FROM telemetry_series s, generate_series(%(start)s, %(end)s - interval '1 minute', interval '1 minute') t
       WHERE s.tenant_id = %(tenant)s""",
    """INSERT INTO telemetry_1m (series_id, bucket, count, sum, min, max, last, last_ts)
       SELECT series_id, ts, 1, value, value, value, value, ts FROM telemetry_raw""",
    "ANALYZE",
]
_FROM_RAW = """
SELECT date_bin('5 minutes', ts, '2000-01-01 00:00:00+00') AS b, avg(value) FROM telemetry_raw
WHERE series_id = (SELECT series_id FROM telemetry_series WHERE tenant_id = %s AND asset_id = %s AND metric = %s)
  AND ts >= %s AND ts < %s GROUP BY 1 ORDER BY 1
"""


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def run(days: int, assets: int, metrics: int, queries: int) -> dict[str, object]:
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(days=days)
    rng = random.Random(5)
    with tempfile.TemporaryDirectory(prefix="dcmms-bench-") as tmp:
        server = start_postgres(Path(tmp))
        store = TelemetryStore(server.url)
        try:
            store.migrate(now=start, days_ahead=days + 1)
            t0 = time.perf_counter()
            with psycopg.connect(server.url) as conn:
                for statement in _LOAD:
                    conn.execute(
                        statement, {"tenant": TENANT, "assets": assets, "metrics": metrics, "start": start, "end": end}
                    )
                    conn.commit()
                rows = conn.execute("SELECT count(*) FROM telemetry_raw").fetchone()[0]
            load_s = time.perf_counter() - t0
            timings: dict[str, list[float]] = {"rollup": [], "raw": [], "floor": []}
            with psycopg.connect(server.url) as conn:
                conn.execute("SET TimeZone = 'UTC'")
                for n in range(queries + 10):  # the first 10 warm the caches and are not counted
                    asset, metric = f"asset-{rng.randint(1, assets)}", f"metric-{rng.randint(1, metrics)}"
                    q_end = end - timedelta(minutes=5 * rng.randrange(0, (days - 1) * 288))
                    q_start = q_end - timedelta(hours=24)
                    a = time.perf_counter()
                    points = store.aggregate(TENANT, asset, metric, q_start, q_end, "5m", "avg")
                    b = time.perf_counter()
                    raw = conn.execute(_FROM_RAW, (TENANT, asset, metric, q_start, q_end)).fetchall()
                    c = time.perf_counter()
                    conn.execute("SELECT 1").fetchone()
                    d = time.perf_counter()
                    if len(points) != 288 or len(raw) != 288:
                        raise AssertionError(f"expected 288 five-minute points, got {len(points)} and {len(raw)}")
                    if n >= 10:
                        for key, seconds in (("rollup", b - a), ("raw", c - b), ("floor", d - c)):
                            timings[key].append(seconds * 1000)
        finally:
            store.close()
            server.stop()
    return {"rows": rows, "load_s": load_s, "timings": timings}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--assets", type=int, default=100)
    parser.add_argument("--metrics", type=int, default=10)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    result = run(args.days, args.assets, args.metrics, args.queries)
    timings: dict[str, list[float]] = result["timings"]  # type: ignore[assignment]
    print(f"{result['rows']:,} raw rows (+ as many minute rollups) loaded in {result['load_s']:.0f} s")
    print(f"24 h at 5 min (288 points) for one asset metric, {args.queries} queries; milliseconds")
    print(f"{'':44}{'p50':>8}{'p95':>8}{'p99':>8}{'p95 / floor':>13}")
    floor_p95 = percentile(timings["floor"], 95)
    for label, key in [
        ("TelemetryStore.aggregate (minute rollup)", "rollup"),
        ("same aggregation from the raw rows", "raw"),
        ("round trip floor (SELECT 1)", "floor"),
    ]:
        p50, p95, p99 = (percentile(timings[key], p) for p in (50, 95, 99))
        print(f"{label:44}{p50:>8.2f}{p95:>8.2f}{p99:>8.2f}{p95 / floor_p95:>13.1f}")
    print(f"(goal: p95 < 50 ms; mean of the rollup query {statistics.fmean(timings['rollup']):.2f} ms)")


if __name__ == "__main__":
    main()
