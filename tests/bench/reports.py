"""Report generation at the spec's scale, each beside its underlying queries alone (the floor), in one run.

- **fleet-monthly**: one tenant with 200 sites and 50,000 assets (``tests.bench.dashboard.load``: 30 finished
  days of every producing asset, open work, alerts) plus 2,000 downtime episodes; the reports function's
  runner makes the month's report as PDF, CSV and XLSX: the reads (``readmodel.reports``), the document
  (``services.report_documents``), the rendering (``dcmms.reports.render``) and the file. Floor: the same reads
  alone, in the same order.
- **telemetry-export**: one site's 30 days of 1-minute rollups (``--export-assets`` inverters x 2 metrics), as
  the CSV the runner streams out of PostgreSQL (``COPY``) into a file. Floor: the same aggregation counted
  inside PostgreSQL (no transfer, no CSV).

The runner stores into a local directory here (an implementation of the ``ReportFiles`` port) instead of S3,
so the figures are generation, not upload. Run: ``python -m tests.bench.reports`` (part of ``make bench``).
"""

from __future__ import annotations

import argparse
import random
import subprocess
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import psycopg

from dcmms.domain.reports import Report
from dcmms.readmodel import kpis
from dcmms.readmodel.reports import PostgresReportData
from dcmms.readmodel.router import DatabaseRouter
from dcmms.readmodel.schema import migrate
from dcmms.reports.render import render
from dcmms.services.report_documents import DocumentBuilder
from dcmms.services.reports import ReportRunner
from dcmms.store.errors import StaleVersion
from dcmms.store.results import ListResult
from dcmms.telemetry.metric_names import COUNTERS
from dcmms.telemetry.postgres import TelemetryStore
from dcmms_dev.servers import start_postgres
from tests.bench.dashboard import TENANT, load
from tests.bench.telemetry_query import percentile

EXPORT_SITE = "export-site"
EXPORT_METRICS = ("ac_power_kw", "dc_power_kw")


class _Jobs:
    """An in-memory report table (the runner's ``Reports`` port)."""

    def __init__(self) -> None:
        self.items: dict[str, Report] = {}

    def get(self, tenant_id: str, report_id: str) -> Report:
        return self.items[report_id]

    def create(self, r: Report) -> Report:
        self.items[r.id] = r
        return r

    def replace(self, r: Report, expected_version: int) -> Report:
        if self.items[r.id].version != expected_version:
            raise StaleVersion
        self.items[r.id] = r
        return r

    def delete(self, r: Report) -> None:
        self.items.pop(r.id, None)

    def list(self, tenant_id: str, limit: int, cursor: str | None = None) -> ListResult[Any]:
        return ListResult([], None)


class _Directory:
    """Files in a local directory (the ``ReportFiles`` port): generation without the upload."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, key: str, body: IO[bytes], content_type: str, file_name: str) -> int:
        path = self.root / key.replace("/", "_")
        with path.open("wb") as out:
            while chunk := body.read(1 << 20):
                out.write(chunk)
        return path.stat().st_size

    def download_url(self, key: str, file_name: str, content_type: str, ttl_s: int) -> str:
        return str(self.root / key)


def _report(n: int, kind: str, fmt: str, since: date, until: date, **fields: Any) -> Report:
    now = datetime.now(UTC)
    return Report.model_validate(
        {"id": f"rpt_bench_{n}", "tenant_id": TENANT, "created_at": now, "updated_at": now, "type": kind,
         "format": fmt, "from": since, "to": until, "requested_by": "bench", **fields}
    )  # fmt: skip


def _load_episodes(url: str, rng: random.Random, count: int, sites: int, since: datetime) -> None:
    with (
        psycopg.connect(url) as conn,
        conn.cursor().copy(
            "COPY ops.downtime_episodes (tenant_id, id, site_id, asset_id, started_at, ended_at, source, reason) FROM STDIN"
        ) as copy,
    ):
        for n in range(count):
            s = n % sites
            start = since + timedelta(hours=rng.uniform(0, 28 * 24))
            copy.write_row((TENANT, f"ep-{n}", f"site-{s}", f"a-{s}-{1 + n % 100}", start,
                            start + timedelta(hours=rng.uniform(0.5, 30)), "alert", "forced"))  # fmt: skip


def _load_export(url: str, rng: random.Random, assets: int, since: datetime, days: int) -> int:
    """``assets`` inverters of one site, each with 1-minute rollups of two metrics over ``days`` days."""
    with psycopg.connect(url) as conn:
        with conn.cursor().copy("COPY ops.assets (tenant_id, id, version, doc, site_id, name, type) FROM STDIN") as cp:
            for a in range(assets):
                cp.write_row((TENANT, f"x-{a}", 1, "{}", EXPORT_SITE, f"X-{a}", "inverter"))
        with conn.cursor().copy("COPY telemetry_series (tenant_id, asset_id, metric) FROM STDIN") as cp:
            for a in range(assets):
                for m in EXPORT_METRICS:
                    cp.write_row((TENANT, f"x-{a}", m))
        ids = [r[0] for r in conn.execute("SELECT series_id FROM telemetry_series WHERE asset_id LIKE 'x-%%'")]
        rows = 0
        minutes = days * 1440
        with conn.cursor().copy(
            "COPY telemetry_1m (series_id, bucket, count, sum, min, max, last, last_ts) FROM STDIN"
        ) as cp:
            for sid in ids:
                base = rng.uniform(100, 300)
                for m in range(minutes):
                    b = since + timedelta(minutes=m)
                    v = base * max(0.0, 1 - abs(b.hour - 12) / 7)
                    cp.write_row((sid, b, 4, v * 4, v, v, v, b))
                    rows += 1
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE telemetry_1m")
    return rows


def _time(repeat: int, action: Callable[[], Any]) -> list[float]:
    action()  # warm: pools, plans, imports
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        out.append(time.perf_counter() - started)
    return out


def run(args: argparse.Namespace) -> None:
    rng = random.Random(15)
    with tempfile.TemporaryDirectory(prefix="dcmms-bench-") as tmp:
        server = start_postgres(Path(tmp))
        router = DatabaseRouter(server.url)
        try:
            store = TelemetryStore(server.url)
            store.migrate()
            today = datetime.now(UTC).date()
            export_from = today - timedelta(days=args.export_days)
            store._ensure_partitions({export_from + timedelta(days=d) for d in range(args.export_days + 1)})
            store.close()
            with router.primary() as conn:
                migrate(conn)
                kpis.migrate(conn)
            began = time.perf_counter()
            loaded = load(server.url, rng, args.sites, args.assets, args.active, args.alerts, 12)
            since, until = today - timedelta(days=31), today - timedelta(days=2)  # the loaded finished days
            _load_episodes(
                server.url, rng, args.episodes, args.sites, datetime.combine(since, datetime.min.time(), UTC)
            )
            start = datetime.combine(export_from, datetime.min.time(), UTC)
            minute_rows = _load_export(server.url, rng, args.export_assets, start, args.export_days)
            print(
                f"reports: {args.sites} sites, {args.assets:,} assets, {loaded['days']:,} asset-days, "
                f"{args.episodes:,} downtime episodes; export site: {args.export_assets} inverters x "
                f"{len(EXPORT_METRICS)} metrics x {args.export_days} days = {minute_rows:,} 1-minute rollups; "
                f"loaded in {time.perf_counter() - began:.0f} s"
            )
            data = PostgresReportData(router)
            files = _Directory(Path(tmp))
            jobs = _Jobs()
            runner = ReportRunner(jobs, jobs, files, None, DocumentBuilder(data).build, render, data, COUNTERS,  # type: ignore[arg-type]
                                  lambda t: "Bench Renewables", "bench@example.test")  # fmt: skip
            counter = iter(range(1_000_000))

            def make(kind: str, fmt: str, a: date, b: date, **fields: Any) -> Callable[[], None]:
                def go() -> None:
                    report = jobs.create(_report(next(counter), kind, fmt, a, b, **fields))
                    assert runner.run(TENANT, report.id) == "made", jobs.items[report.id].reason

                return go

            def monthly_reads() -> None:  # what DocumentBuilder.fleet_monthly reads, alone
                from dcmms.domain.reports import previous_period

                prev = previous_period(since, until)
                data.sites(TENANT)
                data.energy(TENANT, since, until, "day", None)
                data.energy(TENANT, *prev, "day", None)
                data.site_energy(TENANT, since, until)
                data.site_energy(TENANT, *prev)
                data.pm_compliance(TENANT, since, until)
                data.downtime_by_asset(TENANT, datetime.combine(since, datetime.min.time(), UTC),
                                       datetime.combine(until + timedelta(days=1), datetime.min.time(), UTC))  # fmt: skip

            results: list[tuple[str, list[float], list[float]]] = []
            floor = _time(args.repeat, monthly_reads)
            for fmt in ("pdf", "csv", "xlsx"):
                results.append((f"fleet-monthly {fmt.upper()} ({args.sites} sites, 30 days)",
                                _time(args.repeat, make("fleet-monthly", fmt, since, until)), floor))  # fmt: skip

            export_until = today - timedelta(days=1)
            width = "1 minute"
            count_sql = (
                "SELECT count(*) FROM (SELECT date_bin(%s::interval, r.bucket, '2000-01-01 00:00:00+00'), s.asset_id, "
                + ", ".join(
                    f"sum(r.sum) FILTER (WHERE s.metric = '{m}') / nullif(sum(r.count) FILTER (WHERE s.metric = '{m}'), 0)"
                    for m in EXPORT_METRICS
                )
                + " FROM telemetry_1m r JOIN (SELECT series_id, asset_id, metric FROM telemetry_series ts "
                "WHERE ts.tenant_id = %s AND ts.metric = ANY(%s) AND ts.asset_id IN (SELECT id FROM ops.assets "
                "WHERE tenant_id = %s AND site_id = %s AND NOT deleted)) s USING (series_id) "
                "WHERE r.bucket >= %s AND r.bucket < %s GROUP BY 1, 2) q"
            )
            end = datetime.combine(export_until + timedelta(days=1), datetime.min.time(), UTC)
            params = (width, TENANT, list(EXPORT_METRICS), TENANT, EXPORT_SITE, start, end)
            counted: list[int] = []
            export_floor = _time(args.repeat, lambda: counted.append(
                router.read("analytics", lambda c: c.execute(count_sql, params).fetchone()[0])))  # fmt: skip
            export = make("telemetry-export", "csv", export_from, export_until, site_id=EXPORT_SITE,
                          metrics=list(EXPORT_METRICS), interval="1m")  # fmt: skip
            results.append((f"telemetry-export CSV ({args.export_days} days, 1 min)", _time(args.repeat, export),
                            export_floor))  # fmt: skip
            made = [r for r in jobs.items.values() if r.type.value == "telemetry-export"][-1]
            assert made.rows == counted[-1], (made.rows, counted[-1])
            sizes = {r.type.value + "/" + r.format.value: r.size_bytes for r in jobs.items.values()}
            print(f"generation, {args.repeat} runs each; seconds{'':14}p50     max   floor p50   ratio")
            for label, timings, base in results:
                p50, fp50 = percentile(timings, 50), percentile(base, 50)
                print(f"    {label:<44}{p50:>7.2f}{max(timings):>8.2f}{fp50:>12.2f}{p50 / max(fp50, 1e-9):>8.1f}")
            print(
                f"    sizes: fleet-monthly PDF {sizes['fleet-monthly/pdf'] / 1024:.0f} KB, CSV "
                f"{sizes['fleet-monthly/csv'] / 1024:.0f} KB, XLSX {sizes['fleet-monthly/xlsx'] / 1024:.0f} KB; "
                f"export {made.rows:,} rows, {sizes['telemetry-export/csv'] / 1e6:.1f} MB"
            )
            print(
                "    floors: the reports' reads alone (fleet-monthly); the export's aggregation counted in PostgreSQL"
            )
            print("    budget: each query under the analytics timeout (60 s); the function's timeout is 300 s")
            if args.page:
                pdf = next(r for r in reversed(jobs.items.values()) if r.format.value == "pdf")
                source = Path(tmp) / (pdf.object_key or "").replace("/", "_")
                target = str(Path(args.page).with_suffix(""))
                subprocess.run(["pdftoppm", "-png", "-r", "70", "-f", "1", "-l", "1", "-singlefile", str(source), target],
                               check=True)  # fmt: skip
                print(f"    page 1 of the fleet-monthly PDF: {args.page}")
        finally:
            router.close()
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=200)
    parser.add_argument("--assets", type=int, default=50_000)
    parser.add_argument("--active", type=int, default=10_000)
    parser.add_argument("--alerts", type=int, default=5_000)
    parser.add_argument("--episodes", type=int, default=2_000)
    parser.add_argument("--export-assets", type=int, default=20)
    parser.add_argument("--export-days", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--page", help="write page 1 of the fleet-monthly PDF here as PNG (pdftoppm)")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
