"""Ingest throughput: Kinesis events through the ingest Lambda handler, beside a raw binary COPY floor.

The handler path is the real one: ``functions.ingest.handler.lambda_handler`` with a Kinesis event in,
records decoded and validated (assets from DynamoDB on moto, cached), rows committed to PostgreSQL with
their rollups, alert rules evaluated on Redis. The floor is a binary ``COPY`` of the same
(series_id, ts, value) rows into the same table (``telemetry_raw``, under series ids of their own),
interleaved batch by batch so machine drift hits both alike. The handler runs in this one Python process (one core); the
PostgreSQL server is a separate process. Run: ``python -m tests.bench.ingest``.

Beside the clean batches, the same kind of batches with 1 % poison records (malformed JSON, an unknown
asset, a reading from the future, ...; each dead-lettered to S3 on moto with its reason) are handled,
interleaved with the clean ones: the figure is their good events/s as a share of the clean batches'.
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

from dcmms import clients
from dcmms.domain.model import AssetType, SiteKind
from dcmms.store.repositories import AlertRuleRepository, AssetRepository, SiteRepository
from dcmms.telemetry.ingest import S3DeadLetters
from dcmms.telemetry.postgres import TelemetryStore
from dcmms_dev.events import FakeLambdaContext, kinesis_event
from dcmms_dev.seed import _asset, _site, default_rules, provision_tenant
from dcmms_dev.stack import prepared_stack
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


POISON_EVERY = 100  # 1 %: record 50, 150, 250, ... of each poisoned batch


def _poison(n: int, site_id: str, asset: str) -> bytes:
    """A record each kind of validation refuses, in turn."""
    kinds = [
        b'{"v": 1, "tenant_id": "' + TENANT.encode() + b'", "readings": [',  # malformed JSON
        orjson.dumps({"v": 1, "tenant_id": TENANT, "site_id": site_id, "asset_id": "ast_gone", "readings": []}),
        orjson.dumps(
            {
                "v": 1,
                "tenant_id": TENANT,
                "site_id": site_id,
                "asset_id": asset,
                "readings": [{"ts": 4102444800000, "metrics": {"ac_power_kw": 1.0}}],
            }
        ),
        orjson.dumps({"v": 9, "tenant_id": TENANT, "site_id": site_id, "asset_id": asset, "readings": []}),
    ]
    return kinds[n % len(kinds)]


def events(
    site_id: str, assets: list[str], batches: int, records: int, readings: int, start: datetime, poisoned: bool = False
) -> list[tuple[dict, list[tuple[str, datetime, str, float]]]]:
    """Kinesis events of ``records`` records (round-robin over the assets) of ``readings`` x 10 metrics,
    one second apart, never repeating a (asset, ts); with each event, its rows for the COPY floor.
    ``poisoned``: every POISON_EVERY-th record (from the 50th) is one validation refuses, and has no rows."""
    out = []
    cursor = start
    for b in range(batches):
        entries, rows = [], []
        for r in range(records):
            asset = assets[r % len(assets)]
            if r and r % len(assets) == 0:
                cursor += timedelta(seconds=readings)
            stamps = [cursor + timedelta(seconds=k) for k in range(readings)]
            if poisoned and r % POISON_EVERY == POISON_EVERY // 2:
                entries.append((asset, _poison(r // POISON_EVERY, site_id, asset)))
                continue
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


def _handle(handler, event: dict) -> tuple[float, float, dict]:
    """Wall and CPU seconds of one invocation, and its response."""
    t0, c0 = time.perf_counter(), time.process_time()
    with contextlib.redirect_stdout(io.StringIO()):  # the handler's EMF lines
        response = handler(event, FakeLambdaContext())
    return time.perf_counter() - t0, time.process_time() - c0, response


def run(batches: int, assets: int, records: int, readings: int) -> dict[str, float]:
    env = pytest.MonkeyPatch()
    with tempfile.TemporaryDirectory(prefix="dcmms-bench-") as tmp, prepared_stack(Path(tmp)) as (_, settings):
        site_id, asset_ids = fleet(assets)
        TelemetryStore(settings.database_url).migrate()
        handler = import_handler("functions.ingest.handler", settings, env)
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
        (warmup, warm_rows), *work = events(site_id, asset_ids, batches + 1, records, readings, start)
        # The poisoned batches come after the clean ones in time, so the two never write the same rows.
        later = start + timedelta(seconds=(batches + 2) * (records // assets + 1) * readings)
        (warm_poison, warm_poison_rows), *poisoned = events(
            site_id, asset_ids, batches + 1, records, readings, later, poisoned=True
        )
        # series ids, asset and rule caches, the dead-letter writers: steady state from here
        _handle(handler, warmup)
        _handle(handler, warm_poison)
        with psycopg.connect(settings.database_url) as conn:
            ids = dict(
                conn.execute(
                    "SELECT asset_id || '/' || metric, series_id FROM telemetry_series WHERE tenant_id = %s", (TENANT,)
                )
            )
            handler_s = handler_cpu_s = floor_s = poisoned_s = 0.0
            events_in = poisoned_events = 0
            for n, ((event, rows), (bad_event, bad_rows)) in enumerate(zip(work, poisoned, strict=True)):
                floor_rows = [(FLOOR_SERIES_OFFSET + ids[f"{a}/{m}"], ts, v) for a, ts, m, v in rows]
                if n % 2:  # every other round the poisoned batch goes first, so neither always follows the COPY
                    bad_wall, _, bad_response = _handle(handler, bad_event)
                wall, cpu, response = _handle(handler, event)
                t1 = time.perf_counter()
                copy_floor(conn, floor_rows, "telemetry_raw")
                floor_s += time.perf_counter() - t1
                if not n % 2:
                    bad_wall, _, bad_response = _handle(handler, bad_event)
                if response["batchItemFailures"] or bad_response["batchItemFailures"]:
                    raise AssertionError("records were reported failed: nothing here is transient")
                handler_s, handler_cpu_s, poisoned_s = handler_s + wall, handler_cpu_s + cpu, poisoned_s + bad_wall
                events_in += len(rows)
                poisoned_events += len(bad_rows)
            stored = conn.execute(
                "SELECT count(*) FROM telemetry_raw r JOIN telemetry_series s USING (series_id) WHERE s.tenant_id = %s",
                (TENANT,),
            ).fetchone()[0]
        dead = S3DeadLetters(clients.aws_client("s3", settings), settings.dead_letter_bucket).list(100_000)
    env.undo()
    expected = events_in + poisoned_events + len(warm_rows) + len(warm_poison_rows)
    if stored != expected:
        raise AssertionError(f"stored {stored} of {expected} events")
    poison_records = (batches + 1) * len(range(POISON_EVERY // 2, records, POISON_EVERY))
    if len(dead) != poison_records:
        raise AssertionError(f"{len(dead)} dead letters for {poison_records} poison records")
    return {
        "events": events_in,
        "per_batch": events_in / batches,
        "records": records,
        "handler": events_in / handler_s,
        "handler_cpu": handler_cpu_s / handler_s,
        "poisoned": poisoned_events / poisoned_s,
        "poison_records": poison_records,
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
    ratio = result["poisoned"] / result["handler"]
    print(
        f"{'same batches with 1 % poison records':44}{result['poisoned']:>12,.0f}{result['poisoned'] / result['floor']:>10.2f}"
        f"   {ratio:.2f} of the clean batches (goal >= 0.9); {result['poison_records']} dead letters, none redelivered"
    )
    print(f"handler process CPU while handling: {result['handler_cpu']:.2f} of one core (goal: >= 100,000 events/s)")


if __name__ == "__main__":
    main()
