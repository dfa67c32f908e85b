"""`make soak-ingest`: the spec's telemetry rate end to end on the local stack, for a bounded time.

Processes: DynamoDB Local, kinesalite (Kinesis), moto (S3), Redis and PostgreSQL (``LocalServers``, loopback, throwaway
data); the producer (``tests.soak.producer``: gateways' readings onto Kinesis at ``--rate`` events/s);
the consumer (``tests.soak.consumer``: the local Kinesis poller invoking the real ingest handler, which
stores into PostgreSQL, dead-letters to S3 and evaluates the alert rules on Redis); and this driver,
which samples CPU per process once a second, prints a line every 30 s, then lets the consumer drain and
checks by count that every event put was stored exactly once.

    python -m tests.soak.ingest --rate 72000 --duration 600      # what make soak-ingest runs
    python -m tests.soak.ingest --rate 20000 --duration 60       # a short look
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from dcmms import clients
from dcmms.telemetry.postgres import TelemetryStore
from dcmms_dev.servers import LocalServers
from dcmms_dev.stack import local_settings, prepare_aws, use_emulated_aws
from tests.bench.ingest import METRICS, TENANT, fleet
from tests.load.cpu import CpuSampler
from tests.load.report import saturation_verdict, summarize_cpu
from tests.soak import summary

ROOT = Path(__file__).resolve().parents[2]
MAX_DURATION_S = 3_600
MAX_RATE = 500_000


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=72_000, help="events/s put on the stream (spec: 72,000)")
    parser.add_argument("--duration", type=float, default=600, help="seconds of producing (at most 3,600)")
    parser.add_argument("--readings", type=int, default=10, help="readings per record, each of 10 metrics")
    parser.add_argument("--assets", type=int, default=1_000, help="inverters sending")
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--drain", type=float, default=300, help="seconds the consumer may take to catch up")
    parser.add_argument("--report-dir", default=str(ROOT / "reports" / "soak"))
    args = parser.parse_args(argv)
    if not 0 < args.duration <= MAX_DURATION_S or not 0 < args.rate <= MAX_RATE:
        parser.error(f"--duration must be in (0, {MAX_DURATION_S}] and --rate in (0, {MAX_RATE}]")
    return args


def _env(settings: Any) -> dict[str, str]:
    from dcmms_dev.stack import settings_environment

    return (
        os.environ
        | settings_environment(settings)
        | {"DCMMS_ENVIRONMENT": "test", "POWERTOOLS_METRICS_NAMESPACE": "dCMMS"}
    )


def _read_lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    per_record = args.readings * len(METRICS)
    use_emulated_aws()
    with tempfile.TemporaryDirectory(prefix="dcmms-soak-") as tmp, LocalServers(Path(tmp)) as servers:
        work = Path(tmp)
        settings = local_settings(servers)
        clients.aws_client("kinesis", settings).create_stream(
            StreamName=settings.kinesis_stream, ShardCount=args.shards
        )
        prepare_aws(settings)
        site_id, assets = fleet(args.assets)
        store = TelemetryStore(settings.database_url)
        store.migrate()
        store.close()
        stats_file = work / "consumer.jsonl"
        with (work / "consumer.log").open("ab") as log:
            consumer = subprocess.Popen(
                [sys.executable, "-m", "tests.soak.consumer", str(stats_file)],
                cwd=ROOT,
                env=_env(settings),
                stdout=log,
                stderr=log,
            )
        try:
            return _run(args, servers, settings, consumer, stats_file, site_id, assets, per_record, work)
        finally:
            if consumer.poll() is None:
                consumer.kill()


def _run(args, servers, settings, consumer, stats_file, site_id, assets, per_record, work) -> int:
    deadline = time.monotonic() + 60
    while not any(line["ready"] for line in _read_lines(stats_file)):
        if consumer.poll() is not None or time.monotonic() > deadline:
            print(f"the consumer did not start; end of its log:\n{(work / 'consumer.log').read_text()[-3000:]}")
            return 2
        time.sleep(0.2)
    fleet_json = json.dumps({"tenant_id": TENANT, "site_id": site_id, "assets": assets})
    print(
        f"soak: {args.rate:,.0f} events/s for {args.duration:.0f} s; {args.readings} readings x {len(METRICS)} metrics "
        f"= {per_record} events per record ({args.rate / per_record:,.0f} records/s), {len(assets):,} inverters, "
        f"{args.shards} shards",
        flush=True,
    )
    producer = subprocess.Popen(
        [sys.executable, "-m", "tests.soak.producer", settings.model_dump_json(), fleet_json]
        + [str(args.rate), str(args.duration), str(args.readings)],
        cwd=ROOT,
        env=_env(settings),
        stdout=subprocess.PIPE,
        text=True,
    )
    started = time.time()
    produced: list[dict[str, Any]] = []
    reader = threading.Thread(target=lambda: produced.extend(json.loads(x) for x in producer.stdout), daemon=True)
    reader.start()
    sampler = CpuSampler(
        {
            "producer": (producer.pid, False),
            "consumer": (consumer.pid, False),
            "dynamodb": (servers.dynamodb.pid, False),
            "kinesis": (servers.kinesis.pid, False),
            "moto": (servers.moto.pid, False),
            "redis": (servers.redis.pid, False),
            "postgres": (servers.postgres.pid, True),
        }
    )
    sampler.start()
    next_print = started + 30
    while producer.poll() is None:
        time.sleep(0.5)
        if time.time() >= next_print:
            next_print += 30
            _progress(started, produced, _read_lines(stats_file), per_record)
    reader.join(5)
    final = produced[-1] if produced else {"records": 0, "failed": 0}
    produce_end = time.time()
    drain_deadline = time.monotonic() + args.drain
    while time.monotonic() < drain_deadline:
        lines = _read_lines(stats_file)
        if lines and lines[-1]["delivered"] >= final["records"]:
            break
        time.sleep(1.0)
    drained = time.time()
    time.sleep(2.0)  # a last batch in flight commits
    sampler.stop()
    consumer.terminate()
    consumer.wait(60)
    lines = _read_lines(stats_file)
    with psycopg.connect(settings.database_url) as conn:
        stored = conn.execute(
            "SELECT count(*) FROM telemetry_raw JOIN telemetry_series USING (series_id) WHERE tenant_id = %s",
            (TENANT,),
        ).fetchone()[0]
    s3 = clients.aws_client("s3", settings)
    dead = s3.list_objects_v2(Bucket=settings.dead_letter_bucket).get("KeyCount", 0)
    check = summary.verdict(final["records"], per_record, lines[-1]["delivered"] if lines else 0, stored, dead)
    rows = summary.windows(lines, started, per_record)
    ages = [a for line in lines for a in line["ages_ms"]]
    cpu = summarize_cpu(sampler.samples, steady_from=started + 30, cores=os.cpu_count() or 1)
    result = {
        "started_at": datetime.fromtimestamp(started, UTC).isoformat(),
        "rate_offered": args.rate,
        "duration_s": args.duration,
        "events_per_record": per_record,
        "records_per_put": 500,
        "assets": len(assets),
        "shards": args.shards,
        "produced": final,
        "put_events_per_s": final["records"] * per_record / max(1e-9, produce_end - started),
        "stored_events_per_s": stored / max(1e-9, drained - started),
        "drain_s": drained - produce_end,
        "iterator_age_ms": {
            "p50": summary.percentile(ages, 0.5),
            "p95": summary.percentile(ages, 0.95),
            "max": max(ages, default=None),
        },
        "windows": rows,
        "cpu": cpu,
        "saturation": saturation_verdict(cpu),
        "check": check,
    }
    _print_result(result)
    report_dir = Path(args.report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    path = report_dir / f"soak-ingest-{datetime.fromtimestamp(started, UTC):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(result, indent=2))
    print(f"report: {path}")
    return 0 if check["ok"] else 1


def _progress(started: float, produced: list[dict[str, Any]], lines: list[dict[str, Any]], per_record: int) -> None:
    elapsed = time.time() - started
    put = produced[-1]["events"] if produced else 0
    delivered = (lines[-1]["delivered"] if lines else 0) * per_record
    recent = [a for line in lines[-30:] for a in line["ages_ms"]]
    p95 = summary.percentile(recent, 0.95)
    age = f"iterator age p95 {p95 / 1000:.1f} s (last 30 s)" if p95 is not None else "no batch in the last 30 s"
    print(
        f"  {elapsed:5.0f} s: put {put / elapsed:>9,.0f} events/s, delivered {delivered / elapsed:>9,.0f} events/s, {age}",
        flush=True,
    )


def _print_result(r: dict[str, Any]) -> None:
    c, age = r["check"], r["iterator_age_ms"]
    print(f"\nput {r['produced']['records']:,} records = {c['events_put']:,} events in {r['duration_s']:.0f} s")
    print(f"sustained: put {r['put_events_per_s']:,.0f} events/s; stored {r['stored_events_per_s']:,.0f} events/s")
    print(f"  (offered {r['rate_offered']:,.0f}); drained {r['drain_s']:.1f} s after the producer stopped")
    if age["p50"] is not None:
        print(
            f"iterator age: p50 {age['p50'] / 1000:.2f} s, p95 {age['p95'] / 1000:.2f} s, max {age['max'] / 1000:.2f} s"
        )
    print(f"{'window':>8} {'events/s':>10} {'batches':>8} {'age p50':>8} {'age p95':>8} {'age max':>8}")
    for w in r["windows"]:
        ages = [w[k] / 1000 if w[k] is not None else float("nan") for k in ("age_p50_ms", "age_p95_ms", "age_max_ms")]
        print(
            f"{w['from_s']:>7.0f}s {w['events_per_s']:>10,.0f} {w['batches']:>8} "
            + " ".join(f"{a:>7.2f}s" for a in ages)
        )
    groups = ", ".join(f"{n} {g['mean']:.2f}" for n, g in sorted(r["cpu"]["groups"].items()))
    system = r["cpu"]["system"]
    print(
        f"CPU (cores, mean): {groups}; machine {system['mean']:.2f}/{r['cpu']['cores']}" if system else "no CPU samples"
    )
    print(r["saturation"])
    print(
        f"count: {c['events_stored']:,} of {c['events_put']:,} events stored, {c['missing_events']:,} missing, "
        f"{c['unexpected_events']:,} unexpected; {c['records_delivered']:,} deliveries of {c['records_put']:,} "
        f"records ({c['redelivered_records']:,} again); {c['dead_letters']} dead letters: "
        + ("nothing lost or duplicated" if c["ok"] else "FAILED")
    )


if __name__ == "__main__":
    sys.exit(main())
