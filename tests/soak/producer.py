"""Soak producer (its own process): gateways' readings onto the local Kinesis stream at a fixed rate.

Each record is what a site gateway sends for one inverter every ``readings`` seconds: ``readings``
readings one second apart of the 10 inverter metrics of ``tests.bench.ingest.METRICS`` (so
``readings`` x 10 events per record), packed into PutRecords calls of 500 records. Each asset's
clock starts two hours back and moves on by ``readings`` seconds per record, so no (asset, metric, ts)
repeats and every reading is within the store's raw retention. Prints one JSON line per second
(records and events put so far, how far behind schedule) and a final one with ``"done": true``.

    python -m tests.soak.producer SETTINGS_JSON ASSETS_JSON RATE DURATION_S READINGS
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime, timedelta

import orjson

from dcmms import clients
from dcmms.config import Settings
from dcmms.telemetry.producer import MAX_RECORDS_PER_CALL, put_records
from tests.bench.ingest import METRICS
from tests.load.scenarios import require_loopback

PUT_TIMEOUT_S = 30.0


def main() -> None:
    # A PutRecords of 500 records can take over a second when the emulator is busy; the functions' 1-s
    # deadline would abandon a call the stream may still accept (the records would then arrive uncounted).
    settings = Settings.model_validate_json(sys.argv[1]).model_copy(update={"health_timeout_s": PUT_TIMEOUT_S})
    require_loopback(settings.aws_endpoint_url or "")
    fleet = json.loads(sys.argv[2])
    rate, duration_s, readings = float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
    tenant, site, assets = fleet["tenant_id"], fleet["site_id"], fleet["assets"]
    per_record = readings * len(METRICS)
    records_per_s = rate / per_record
    kinesis = clients.aws_client("kinesis", settings)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    clocks = {a: int(start.timestamp() * 1000) for a in assets}
    put = failed = 0
    began = time.monotonic()
    last_report = began
    n = 0
    while True:
        elapsed = time.monotonic() - began
        if elapsed >= duration_s:
            break
        due = int(records_per_s * elapsed) + 1  # records that should be on the stream by now
        if put + failed >= due:
            time.sleep(min(0.01, (put + failed + 1) / records_per_s - elapsed))
            continue
        batch = []
        for _ in range(min(MAX_RECORDS_PER_CALL, max(1, due - put - failed))):
            asset = assets[n % len(assets)]
            n += 1
            first = clocks[asset]
            clocks[asset] = first + readings * 1000
            values = {m: round(base + n % 7 * 0.5, 2) for m, base in METRICS.items()}
            payload = [{"ts": first + k * 1000, "metrics": values} for k in range(readings)]
            data = orjson.dumps({"v": 1, "tenant_id": tenant, "site_id": site, "asset_id": asset, "readings": payload})
            batch.append((asset, data))
        lost = put_records(kinesis, settings.kinesis_stream, batch)
        failed += lost
        put += len(batch) - lost
        now = time.monotonic()
        if now - last_report >= 1.0:
            last_report = now
            behind = max(0, int(records_per_s * (now - began)) - put - failed) / records_per_s
            _report(now - began, put, failed, per_record, behind, done=False)
    _report(time.monotonic() - began, put, failed, per_record, 0.0, done=True)


def _report(elapsed: float, put: int, failed: int, per_record: int, behind_s: float, done: bool) -> None:
    line = {"t": round(elapsed, 3), "records": put, "failed": failed, "events": put * per_record}
    print(json.dumps(line | {"behind_s": round(behind_s, 3), "done": done}), flush=True)


if __name__ == "__main__":
    main()
