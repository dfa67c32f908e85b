"""Ingest throughput: Kinesis events through the ingest Lambda handler, beside a raw binary COPY floor.

The handler path is the real one: ``functions.ingest.handler.lambda_handler`` with a Kinesis event in,
records decoded and validated (assets from DynamoDB on moto, cached), rows committed to PostgreSQL with
their rollups, alert rules evaluated on Redis. The floor is a binary ``COPY`` of the same
(series_id, ts, value) rows into the same table (``telemetry_raw``, under series ids of their own),
interleaved batch by batch so machine drift hits both alike. The handler runs in this one Python process (one core); the
PostgreSQL server is a separate process. Run: ``python -m tests.bench.ingest``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import psycopg
import pytest

from dcmms.domain.model import AssetType, SiteKind
from dcmms.local.events import FakeLambdaContext, kinesis_event
from dcmms.local.seed import _asset, _site, default_rules, provision_tenant
from dcmms.local.stack import prepared_stack
from dcmms.store.repositories import AlertRuleRepository, AssetRepository, SiteRepository
from dcmms.telemetry.pgstore import TelemetryStore
from tests.bench.telemetry_store import copy_floor
from tests.support.handlers import import_handler

TENANT = "bench-ingest"
# Ten inverter metrics around normal values: no rule fires, so the figure is the steady state.
METRICS = {
    "ac_power_kw": 1800.0,
    "dc_power_kw": 1850.0,
    "dc_voltage_v": 1100.0,
    "dc_current_a": 1680.0,
    "ac_voltage_v": 690.0,
    "ac_current_a": 1500.0,
    "ac_frequency_hz": 50.0,
    "heatsink_temp_c": 48.0,
    "cabinet_temp_c": 35.0,
    "energy_kwh": 123456.0,
}
# The floor's rows go into the same table (telemetry_raw: the same partitions, key and BRIN index) under
# series ids no real series has, so they never collide with the handler's rows nor touch the rollups.
FLOOR_SERIES_OFFSET = 1_000_000_000


def fleet(assets: int) -> tuple[str, list[str]]:
    """A tenant with the default rules and one site of ``assets`` inverters; returns (site id, asset ids)."""
    rng = random.Random(7)
    seed = provision_tenant(TENANT, "Ingest bench", SiteKind.solar)
    site = _site(seed, "Bench site", SiteKind.solar, 50.0, "UTC", 40.0, -3.7)
    inverters = [_asset(site, f"INV-{n:03d}", AssetType.inverter, None, rng) for n in range(assets)]
    SiteRepository().batch_create([site])
    AssetRepository().batch_create(inverters)
    AlertRuleRepository().batch_create(default_rules(TENANT))
    return site.id, [a.id for a in inverters]


def events(
    site_id: str, assets: list[str], batches: int, records: int, readings: int, start: datetime
) -> list[tuple[dict, list[tuple[str, datetime, str, float]]]]:
    """Kinesis events of ``records`` records (round-robin over the assets) of ``readings`` x 10 metrics,
    one second apart, never repeating a (asset, ts); with each event, its rows for the COPY floor."""
    out = []
    cursor = start
    for b in range(batches):
        entries, rows = [], []
        for r in range(records):
            asset = assets[r % len(assets)]
            if r and r % len(assets) == 0:
                cursor += timedelta(seconds=readings)
            stamps = [cursor + timedelta(seconds=k) for k in range(readings)]
            payload = []
            for k, ts in enumerate(stamps):
                values = {m: round(base + (b + r + k) % 7 * 0.5, 2) for m, base in METRICS.items()}
                payload.append({"ts": int(ts.timestamp() * 1000), "metrics": values})
                rows += [(asset, ts, m, v) for m, v in values.items()]
            data = orjson.dumps(
                {"v": 1, "tenant_id": TENANT, "site_id": site_id, "asset_id": asset, "readings": payload}
            )
            entries.append((asset, data))
        cursor += timedelta(seconds=readings)
        out.append((kinesis_event(entries, first_sequence=1_000_000 * (b + 1)), rows))
    return out


def run(batches: int, assets: int, records: int, readings: int) -> dict[str, float]:
    env = pytest.MonkeyPatch()
    with tempfile.TemporaryDirectory(prefix="dcmms-bench-") as tmp, prepared_stack(Path(tmp)) as (_, settings):
        site_id, asset_ids = fleet(assets)
        TelemetryStore(settings.database_url).migrate()
        handler = import_handler("functions.ingest.handler", settings, env)
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
        work = events(site_id, asset_ids, batches + 1, records, readings, start)
        (warmup, _), work = work[0], work[1:]
        with contextlib.redirect_stdout(io.StringIO()):
            handler(warmup, FakeLambdaContext())  # series ids, asset and rule caches: steady state from here
        with psycopg.connect(settings.database_url) as conn:
            ids = dict(
                conn.execute(
                    "SELECT asset_id || '/' || metric, series_id FROM telemetry_series WHERE tenant_id = %s", (TENANT,)
                )
            )
            handler_s = handler_cpu_s = floor_s = 0.0
            events_in = 0
            for event, rows in work:
                floor_rows = [(FLOOR_SERIES_OFFSET + ids[f"{a}/{m}"], ts, v) for a, ts, m, v in rows]
                t0, c0 = time.perf_counter(), time.process_time()
                with contextlib.redirect_stdout(io.StringIO()):  # the handler's EMF lines
                    response = handler(event, FakeLambdaContext())
                t1, c1 = time.perf_counter(), time.process_time()
                copy_floor(conn, floor_rows, "telemetry_raw")
                t2 = time.perf_counter()
                if response["batchItemFailures"]:
                    raise AssertionError(f"{len(response['batchItemFailures'])} records failed")
                handler_s, handler_cpu_s, floor_s = handler_s + t1 - t0, handler_cpu_s + c1 - c0, floor_s + t2 - t1
                events_in += len(rows)
            stored = conn.execute(
                "SELECT count(*) FROM telemetry_raw r JOIN telemetry_series s USING (series_id) WHERE s.tenant_id = %s",
                (TENANT,),
            ).fetchone()[0]
    env.undo()
    expected = events_in + len(warmup["Records"]) * readings * len(METRICS)
    if stored != expected:
        raise AssertionError(f"stored {stored} of {expected} events")
    return {
        "events": events_in,
        "per_batch": events_in / batches,
        "records": records,
        "handler": events_in / handler_s,
        "handler_cpu": handler_cpu_s / handler_s,
        "floor": events_in / floor_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=12)
    parser.add_argument("--assets", type=int, default=100)
    parser.add_argument("--records", type=int, default=500, help="Kinesis records per invocation")
    parser.add_argument("--readings", type=int, default=10, help="timestamps per record (x 10 metrics)")
    args = parser.parse_args()
    result = run(args.batches, args.assets, args.records, args.readings)
    print(
        f"{result['events']:,.0f} events in invocations of {result['records']} records"
        f" ({result['per_batch']:,.0f} events), interleaved"
    )
    print(f"{'':44}{'events/s':>12}{'vs floor':>10}")
    for label, key in [
        ("ingest handler (Kinesis event -> committed)", "handler"),
        ("raw binary COPY of the same rows", "floor"),
    ]:
        print(f"{label:44}{result[key]:>12,.0f}{result[key] / result['floor']:>10.2f}")
    print(f"handler process CPU while handling: {result['handler_cpu']:.2f} of one core (goal: >= 100,000 events/s)")


if __name__ == "__main__":
    main()
