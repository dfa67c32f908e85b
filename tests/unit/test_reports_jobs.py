"""Report jobs without servers: the schedules' times, the request periods, and the runner's claim, retry and
failure rules over in-memory fakes of dcmms's own ports (the integration tests run them on the real stack)."""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import IO, Any

import pytest

from dcmms.catalogue import Schedule, by_name, next_run
from dcmms.domain.errors import NotFound, ValidationFailed
from dcmms.domain.reports import (
    Report,
    ReportFormat,
    ReportStatus,
    ReportType,
    default_period,
    previous_period,
    scheduled_report_id,
)
from dcmms.reports.document import Document, Table
from dcmms.services.reports import ReportRunner, _period
from dcmms.store.errors import AlreadyExists, StaleVersion
from dcmms.store.results import ListResult

NOW = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)


def test_cron_schedules_fire_at_their_local_times() -> None:
    daily = next(s for s in by_name("reports").schedules if s.name == "site-daily")
    runs = [NOW]
    while len(runs) < 5:
        runs.append(next_run(daily, runs[-1]))
    assert [r.strftime("%H:%M") for r in runs[1:]] == ["08:15", "08:30", "08:45", "09:00"]
    monthly = next(s for s in by_name("reports").schedules if s.name == "fleet-monthly")
    assert next_run(monthly, NOW) == datetime(2027, 1, 1, 12, 0, tzinfo=UTC)
    # a zone's own wall clock, across the spring-forward night (Europe/Madrid, 2027-03-28: 02:00 -> 03:00)
    six = Schedule("cron(0 6 * * ? *)", timezone="Europe/Madrid")
    assert next_run(six, datetime(2027, 3, 27, 12, tzinfo=UTC)) == datetime(2027, 3, 28, 4, 0, tzinfo=UTC)
    assert next_run(six, datetime(2027, 3, 26, 12, tzinfo=UTC)) == datetime(2027, 3, 27, 5, 0, tzinfo=UTC)
    assert next_run(Schedule("cron(0 9 ? * MON-FRI *)"), datetime(2026, 12, 5, tzinfo=UTC)).weekday() == 0
    assert next_run(Schedule("rate(5 minutes)"), NOW) == NOW + timedelta(minutes=5)
    with pytest.raises(ValueError):
        next_run(Schedule("cron(0 6 * *)"), NOW)


def test_request_periods_default_and_are_bounded() -> None:
    today = date(2026, 12, 7)
    assert default_period(ReportType.site_daily, today) == (date(2026, 12, 6), date(2026, 12, 6))
    assert default_period(ReportType.fleet_monthly, today) == (date(2026, 11, 1), date(2026, 11, 30))
    assert _period(ReportType.fleet_monthly, date(2026, 2, 1), None, today) == (date(2026, 2, 1), date(2026, 2, 28))
    assert _period(ReportType.site_daily, None, date(2026, 12, 1), today) == (date(2026, 12, 1), date(2026, 12, 1))
    assert previous_period(date(2026, 11, 1), date(2026, 11, 30)) == (date(2026, 10, 1), date(2026, 10, 31))
    assert previous_period(date(2026, 11, 5), date(2026, 11, 14)) == (date(2026, 10, 26), date(2026, 11, 4))
    for since, until, field in (
        (date(2026, 12, 2), date(2026, 12, 1), "from"),
        (None, date(2026, 12, 9), "to"),
        (date(2026, 11, 1), date(2026, 12, 5), "to"),  # 35 days of telemetry: over 31
    ):
        with pytest.raises(ValidationFailed) as refused:
            _period(ReportType.telemetry_export, since, until, today)
        assert refused.value.extra["errors"][0].field == field


def test_a_scheduled_report_is_named_by_what_it_covers() -> None:
    day = date(2026, 12, 6)
    first = scheduled_report_id("t1", ReportType.site_daily, "s1", day, ReportFormat.pdf)
    assert first == scheduled_report_id("t1", ReportType.site_daily, "s1", day, ReportFormat.pdf)
    others = {
        scheduled_report_id("t2", ReportType.site_daily, "s1", day, ReportFormat.pdf),
        scheduled_report_id("t1", ReportType.site_daily, "s2", day, ReportFormat.pdf),
        scheduled_report_id("t1", ReportType.site_daily, "s1", day + timedelta(days=1), ReportFormat.pdf),
        scheduled_report_id("t1", ReportType.site_daily, "s1", day, ReportFormat.csv),
    }
    assert first not in others and len(others) == 4
    assert first < scheduled_report_id("t1", ReportType.site_daily, "s1", day + timedelta(days=1), ReportFormat.pdf)


# -- the runner over in-memory fakes ----------------------------------------------------------------------------


class MemoryReports:
    def __init__(self) -> None:
        self.items: dict[tuple[str, str], Report] = {}
        self.lock = threading.Lock()

    def get(self, tenant_id: str, report_id: str) -> Report:
        try:
            return self.items[(tenant_id, report_id)]
        except KeyError:
            raise NotFound(report_id) from None

    def create(self, r: Report) -> Report:
        if (r.tenant_id, r.id) in self.items:
            raise AlreadyExists(r.id)
        self.items[(r.tenant_id, r.id)] = r
        return r

    def replace(self, r: Report, expected_version: int) -> Report:
        with self.lock:
            if self.items[(r.tenant_id, r.id)].version != expected_version:
                raise StaleVersion
            self.items[(r.tenant_id, r.id)] = r
        return r

    def delete(self, r: Report) -> None:
        del self.items[(r.tenant_id, r.id)]

    def list(self, tenant_id: str, limit: int, cursor: str | None = None) -> ListResult[Any]:
        return ListResult([], None)


class MemoryFiles:
    def __init__(self, fail: int = 0, slow: threading.Event | None = None) -> None:
        self.objects: dict[str, bytes] = {}
        self.fail, self.slow = fail, slow

    def put(self, key: str, body: IO[bytes], content_type: str, file_name: str) -> int:
        if self.slow is not None:
            self.slow.wait(5)
        if self.fail:
            self.fail -= 1
            raise ConnectionError("S3 is unreachable")
        self.objects[key] = body.read()
        return len(self.objects[key])

    def download_url(self, key: str, file_name: str, content_type: str, ttl_s: int) -> str:
        return f"https://example.test/{key}?ttl={ttl_s}"


@dataclass
class Rendered:
    body: bytes


def _runner(reports: MemoryReports, files: MemoryFiles) -> ReportRunner:
    def build(report: Report, tenant_name: str) -> Document:
        if report.site_id == "gone":
            raise NotFound("No site 'gone'.")
        return Document(report.type.value, "Backlog", tenant_name, "period", NOW, sections=[Table("t", [], [{}])])

    return ReportRunner(
        reports=reports,  # type: ignore[arg-type]
        subscriptions=reports,  # type: ignore[arg-type]
        files=files,
        mailer=None,
        build=build,
        render=lambda doc, fmt: Rendered(f"{doc.title} as {fmt}".encode()),
        export=None,  # type: ignore[arg-type]
        counters=frozenset(),
        tenant_name=lambda t: f"Tenant {t}",
        sender="reports@example.test",
        now=lambda: NOW,
    )


def _queued(reports: MemoryReports, site_id: str | None = None) -> Report:
    r = Report.model_validate(
        {"id": "rpt_1", "tenant_id": "t1", "created_at": NOW, "updated_at": NOW, "type": "work-order-backlog",
         "format": "csv", "site_id": site_id, "from": "2026-11-01", "to": "2026-11-30", "requested_by": "u1"}
    )  # fmt: skip
    return reports.create(r)


def test_a_report_is_made_once_whatever_the_deliveries() -> None:
    reports, files = MemoryReports(), MemoryFiles()
    runner = _runner(reports, files)
    _queued(reports)
    assert runner.run("t1", "rpt_1") == "made"
    made = reports.get("t1", "rpt_1")
    assert made.status is ReportStatus.ready and made.rows == 1 and made.attempts == 1
    assert files.objects == {"reports/t1/rpt_1.csv": b"Backlog as csv"} and made.size_bytes == 14
    assert runner.run("t1", "rpt_1") == "done"  # a redelivered message
    assert reports.get("t1", "rpt_1").version == made.version
    assert runner.run("t1", "rpt_missing") == "done"


def test_two_deliveries_at_once_make_one_document() -> None:
    reports, gate = MemoryReports(), threading.Event()
    files = MemoryFiles(slow=gate)
    runner = _runner(reports, files)
    _queued(reports)
    outcomes: list[str] = []
    threads = [threading.Thread(target=lambda: outcomes.append(runner.run("t1", "rpt_1"))) for _ in range(2)]
    for t in threads:
        t.start()
    threading.Event().wait(0.2)
    gate.set()
    for t in threads:
        t.join(10)
    assert sorted(outcomes) == ["busy", "made"]
    assert len(files.objects) == 1


def test_a_transient_failure_is_retried_then_given_up_with_a_reason() -> None:
    reports, files = MemoryReports(), MemoryFiles(fail=2)
    runner = _runner(reports, files)
    _queued(reports)
    with pytest.raises(ConnectionError):
        runner.run("t1", "rpt_1")
    retrying = reports.get("t1", "rpt_1")
    assert retrying.status is ReportStatus.queued and "retrying" in (retrying.reason or "")
    with pytest.raises(ConnectionError):
        runner.run("t1", "rpt_1", final_attempt=True)
    failed = reports.get("t1", "rpt_1")
    assert failed.status is ReportStatus.failed and "gave up" in (failed.reason or "") and failed.attempts == 2
    assert runner.run("t1", "rpt_1") == "done"


def test_a_report_on_something_gone_fails_at_once_with_the_reason() -> None:
    reports = MemoryReports()
    _queued(reports, site_id="gone")
    assert _runner(reports, MemoryFiles()).run("t1", "rpt_1") == "failed"
    failed = reports.get("t1", "rpt_1")
    assert failed.status is ReportStatus.failed and "gone" in (failed.reason or "")


def test_a_crashed_workers_claim_is_taken_over_once_stale() -> None:
    reports, files = MemoryReports(), MemoryFiles()
    _queued(reports)
    r = reports.get("t1", "rpt_1")
    reports.replace(r.model_copy(update={"status": ReportStatus.running, "started_at": NOW, "version": 2}), 1)
    assert _runner(reports, files).run("t1", "rpt_1") == "busy"
    later = _runner(reports, files)
    later.now = lambda: NOW + timedelta(minutes=11)
    assert later.run("t1", "rpt_1") == "made"
    assert io.BytesIO(files.objects["reports/t1/rpt_1.csv"]).read() == b"Backlog as csv"
