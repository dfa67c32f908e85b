"""The read model at the spec's scale: search latency, and projector throughput.

Loads one tenant's read model with 200 sites, 50,000 assets, 10,000 active and 100,000 closed work orders
and 5,000 alerts (plausible names, serials, titles and descriptions; loaded by COPY), then:

- **search**: ``PostgresSearch.search`` (full text + trigram, ranked, snippets, limit 50) for a mix of
  queries — words, stems, partial identifiers, serials, typos, with and without type/status filters —
  p50/p95, beside the floor: the same result rows fetched by an indexed primary-key ``SELECT``;
- **projector**: stream records (work orders, 100 per batch as the mapping delivers) through
  ``Projector.project`` into an empty tenant, records/s, beside a plain ``COPY`` of the same rows into the
  same table (same indexes) as the floor.

Run: ``python -m tests.bench.read_model`` (part of ``make bench``).
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
import psycopg

from dcmms.readmodel.projector import COLUMNS, Projector
from dcmms.readmodel.router import DatabaseRouter
from dcmms.readmodel.schema import migrate
from dcmms.readmodel.search import PostgresSearch
from dcmms_dev.servers import start_postgres
from tests.bench.telemetry_query import percentile

TENANT = "bench-search"
PREFIX = "dcmms-"
ARN = f"arn:aws:dynamodb:us-east-1:000000000000:table/{PREFIX}work-orders/stream/2026-12-02T00:00:00.000"
MAKERS = [("SMA", "Sunny Central 2500"), ("Huawei", "SUN2000-330KTL"), ("Sungrow", "SG3125HV"), ("ABB", "PVS980")]
KINDS = ["inverter", "tracker", "combiner", "transformer", "weather_station", "string"]
FAULTS = [
    "Inverter fault",
    "Ground fault alarm",
    "Tracker motor stall",
    "Combiner box fuse blown",
    "Transformer oil temperature high",
    "Communication loss",
    "IGBT module failure",
    "Insulation resistance low",
    "Soiling losses above threshold",
    "Pyranometer calibration due",
]
WORDS = [
    "check",
    "replace",
    "inspect",
    "string",
    "module",
    "cable",
    "connector",
    "breaker",
    "torque",
    "thermal",
    "imaging",
    "hotspot",
    "bypass",
    "diode",
    "firmware",
    "update",
    "fan",
    "filter",
    "cleaning",
    "vegetation",
    "fence",
    "corrosion",
    "gasket",
    "seal",
    "humidity",
    "storm",
    "lightning",
    "surge",
    "arrester",
    "earthing",
    "panel",
    "glass",
    "crack",
    "delamination",
    "backsheet",
    "junction",
    "box",
    "relay",
    "contactor",
    "capacitor",
]
QUERIES = [
    ({"query": "inverter fault"}, "words"),
    ({"query": "ground faults"}, "stemmed"),
    ({"query": "INV-042"}, "partial identifier"),
    ({"query": "SMA-0007"}, "serial"),
    ({"query": "invertr"}, "typo"),
    ({"query": "trackr motor"}, "typo, two words"),
    ({"query": "sunny central"}, "model"),
    ({"query": "fuse blown", "kinds": ["work_order"], "statuses": ["open", "in_progress"]}, "filtered"),
    ({"query": "thermal imaging hotspot"}, "description words"),
    ({"query": "communication loss", "kinds": ["alert"]}, "alerts"),
]


def _copy(conn: psycopg.Connection, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> float:
    """COPY rows in (text format); seconds taken."""
    started = time.perf_counter()
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    conn.commit()
    return time.perf_counter() - started


def _docs(rng: random.Random, sites: int, assets: int, active: int, closed: int, alerts: int) -> dict[str, list]:
    stamp = "2026-11-01T00:00:00+00:00"
    base = {"tenant_id": TENANT, "created_at": stamp, "updated_at": stamp, "version": 1}
    out: dict[str, list] = {"sites": [], "assets": [], "work_orders": [], "alerts": []}
    for s in range(sites):
        out["sites"].append(
            base | {"id": f"site-{s}", "name": f"Solar Park {s}", "kind": "solar", "capacity_mw": 100.0}
        )
    for a in range(assets):
        maker, model = MAKERS[a % len(MAKERS)]
        kind = KINDS[a % len(KINDS)]
        out["assets"].append(
            base
            | {
                "id": f"asset-{a}",
                "site_id": f"site-{a % sites}",
                "name": f"{kind[:3].upper()}-{a % 250:03d}-{a // 250:02d}",
                "type": kind,
                "status": "operational",
                "manufacturer": maker,
                "model": model,
                "serial": f"{maker.upper()}-{a:04d}",
                "custom_fields": {"string": f"B{a % 20}"},
            }
        )
    for w in range(active + closed):
        status = rng.choice(["open", "assigned", "in_progress"]) if w < active else "closed"
        out["work_orders"].append(
            base
            | {
                "id": f"wo-{w}",
                "site_id": f"site-{w % sites}",
                "asset_id": f"asset-{rng.randrange(assets)}",
                "title": f"{rng.choice(FAULTS)} at {KINDS[w % len(KINDS)][:3].upper()}-{w % 250:03d}",
                "description": " ".join(rng.choices(WORDS, k=12)),
                "type": "corrective",
                "priority": rng.choice(["low", "medium", "high", "critical"]),
                "status": status,
                "custom_fields": {},
                "history": [],
            }
        )
    for n in range(alerts):
        out["alerts"].append(
            base
            | {
                "id": f"alert-{n}",
                "site_id": f"site-{n % sites}",
                "asset_id": f"asset-{n}",
                "severity": "major",
                "status": "active",
                "message": f"{rng.choice(FAULTS)} on asset-{n}",
                "raised_at": stamp,
            }
        )
    return out


def _row(table: str, doc: dict[str, Any]) -> tuple[Any, ...]:
    values = [doc.get(c) for c in ("tenant_id", "id", "version", "created_at", "updated_at", *COLUMNS[table])]
    values = [orjson.dumps(v).decode() if isinstance(v, dict) else v for v in values]
    return (*values, orjson.dumps(doc).decode())


def _columns(table: str) -> tuple[str, ...]:
    return ("tenant_id", "id", "version", "created_at", "updated_at", *COLUMNS[table], "doc")


def _record(doc: dict[str, Any], n: int) -> dict[str, Any]:
    return {
        "eventName": "INSERT",
        "eventSourceARN": ARN,
        "dynamodb": {
            "Keys": {"tenant_id": {"S": doc["tenant_id"]}, "id": {"S": doc["id"]}},
            "NewImage": {
                "tenant_id": {"S": doc["tenant_id"]},
                "id": {"S": doc["id"]},
                "version": {"N": "1"},
                "doc": {"S": orjson.dumps(doc).decode()},
            },
            "SequenceNumber": f"{n:021d}",
            "ApproximateCreationDateTime": time.time(),
        },
    }


def run(args: argparse.Namespace) -> None:
    rng = random.Random(13)
    with tempfile.TemporaryDirectory(prefix="dcmms-bench-") as tmp:
        server = start_postgres(Path(tmp))
        router = DatabaseRouter(server.url)
        try:
            with router.primary() as conn:
                migrate(conn)
            docs = _docs(rng, args.sites, args.assets, args.active, args.closed, args.alerts)
            loaded = time.perf_counter()
            with psycopg.connect(server.url) as conn:
                for table, items in docs.items():
                    _copy(conn, f"ops.{table}", _columns(table), [_row(table, d) for d in items])
                conn.autocommit = True
                conn.execute("VACUUM ANALYZE")
            print(
                f"read model: {args.sites} sites, {args.assets:,} assets, {args.active:,} active + {args.closed:,} "
                f"closed work orders, {args.alerts:,} alerts loaded in {time.perf_counter() - loaded:.0f} s"
            )
            _search(server.url, router, args.repeat)
            _projector(server.url, router, rng, args.project)
        finally:
            router.close()
            server.stop()


def _search(url: str, router: DatabaseRouter, repeat: int) -> None:
    index = PostgresSearch(router)
    timings: dict[str, list[float]] = {"search": [], "floor": []}
    per_query: dict[int, list[float]] = {}
    counts: dict[int, int] = {}
    with psycopg.connect(url) as conn:
        for n in range(repeat + 2):  # the first two rounds warm the caches and are not counted
            for q, (params, _label) in enumerate(QUERIES):
                kinds = params.get("kinds", ["site", "asset", "work_order", "alert"])
                started = time.perf_counter()
                hits, _ = index.search(TENANT, params["query"], kinds, [], params.get("statuses", []), 50, None)
                searched = time.perf_counter()
                by_table: dict[str, list[str]] = {}
                for h in hits:
                    by_table.setdefault(h.type, []).append(h.id)
                for kind, ids in by_table.items():
                    table = {"site": "sites", "asset": "assets", "work_order": "work_orders", "alert": "alerts"}[kind]
                    conn.execute(
                        f"SELECT id, doc FROM ops.{table} WHERE tenant_id = %s AND id = ANY(%s)", (TENANT, ids)
                    ).fetchall()
                fetched = time.perf_counter()
                if n >= 2:
                    timings["search"].append((searched - started) * 1000)
                    timings["floor"].append((fetched - searched) * 1000)
                    per_query.setdefault(q, []).append((searched - started) * 1000)
                    counts[q] = len(hits)
    print(f"search, {len(QUERIES)} queries x {repeat} rounds, limit 50; milliseconds")
    print(f"{'':52}{'p50':>8}{'p95':>8}{'p99':>8}")
    for q, (params, label) in enumerate(QUERIES):
        p50, p95, p99 = (percentile(per_query[q], p) for p in (50, 95, 99))
        print(f"    {params['query']!r:<26}{label:<18}{counts[q]:>3} hits{p50:>8.1f}{p95:>8.1f}{p99:>8.1f}")
    for label, key in (("PostgresSearch.search", "search"), ("floor: the same rows by primary key", "floor")):
        p50, p95, p99 = (percentile(timings[key], p) for p in (50, 95, 99))
        print(f"{label:52}{p50:>8.2f}{p95:>8.2f}{p99:>8.2f}")
    ratio = percentile(timings["search"], 95) / max(percentile(timings["floor"], 95), 1e-9)
    print(f"search p95 / floor p95: {ratio:.1f} (goal: p95 < 50 ms here; the spec asks p95 < 1 s)")


def _projector(url: str, router: DatabaseRouter, rng: random.Random, count: int) -> None:
    docs = _docs(rng, 10, 100, count, 0, 0)["work_orders"]
    for d in docs:
        d["tenant_id"] = "bench-projector"
    records = [_record(d, n) for n, d in enumerate(docs)]
    projector = Projector(router, PREFIX)
    started = time.perf_counter()
    for start in range(0, len(records), 100):
        outcome = projector.project(records[start : start + 100])
        assert outcome.applied == len(records[start : start + 100]), outcome
    projected_s = time.perf_counter() - started
    with psycopg.connect(url) as conn:
        for d in docs:
            d["tenant_id"] = "bench-copy"
        copy_s = _copy(conn, "ops.work_orders", _columns("work_orders"), [_row("work_orders", d) for d in docs])
    with psycopg.connect(url) as conn:
        for d in docs:
            d["tenant_id"] = "bench-copy-100"
        rows = [_row("work_orders", d) for d in docs]
        copy_100_s = sum(
            _copy(conn, "ops.work_orders", _columns("work_orders"), rows[i : i + 100]) for i in range(0, len(rows), 100)
        )
    rate, floor, floor_100 = count / projected_s, count / copy_s, count / copy_100_s
    print(f"projector: {count:,} work-order records in batches of 100; records/s")
    print(f"    Projector.project                          {rate:>10,.0f}")
    print(f"    floor: COPY of the same rows, one COPY     {floor:>10,.0f}   ratio {rate / floor:.2f}")
    print(f"    floor: COPY of the same rows, 100 per COPY {floor_100:>10,.0f}   ratio {rate / floor_100:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=200)
    parser.add_argument("--assets", type=int, default=50_000)
    parser.add_argument("--active", type=int, default=10_000)
    parser.add_argument("--closed", type=int, default=100_000)
    parser.add_argument("--alerts", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=20, help="rounds of the query mix")
    parser.add_argument("--project", type=int, default=20_000, help="stream records through the projector")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
