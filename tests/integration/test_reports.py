"""Reports end to end on the real stack: requested over the API, queued on SQS (moto), made by the reports
function from the queue (the local event-source mapping), stored in S3 and downloaded by the presigned link,
emailed through SES; the figures in the PDF are the API's for the same period."""

from __future__ import annotations

import csv
import html
import io
import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import openpyxl
import orjson
import pytest
from pypdf import PdfReader

from dcmms.catalogue import by_name, next_run
from dcmms.config import Settings
from dcmms.reports.document import format_value
from dcmms.telemetry.postgres import Reading, TelemetryStore
from dcmms_dev.events import FakeLambdaContext, scheduled_event
from dcmms_dev.pollers import LocalSqsPoller
from tests.integration.test_dashboard_kpis import _refreshed, local_noon_zone
from tests.support.api import ApiClient, assert_problem
from tests.support.waiting import eventually, projected

ARTIFACTS = Path("reports") / "test-artifacts"


@pytest.fixture(scope="session")
def reports_function(settings: Settings, router) -> Iterator[Any]:
    """The reports function (imported as Lambda does) behind the local SQS event-source mapping."""
    from dcmms.config import get_settings
    from tests.support.handlers import import_handler

    env = pytest.MonkeyPatch()
    handler = import_handler("functions.reports.handler", settings, env)
    spec = by_name("reports")
    assert spec.queue is not None
    poller = LocalSqsPoller(settings, spec.handler, spec.queue, retry_delay_s=1)
    poller.start()
    yield handler
    poller.stop()
    poller.join(10)
    env.undo()
    get_settings.cache_clear()


def _ready(api: ApiClient, location: str, seconds: float = 60) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        body = api.get(location).json()
        return body if body["status"] in ("ready", "failed") else None

    body = eventually(done, seconds, 0.2)
    assert body, f"{location} was not made within {seconds} s: {api.get(location).json()}"
    assert body["status"] == "ready", body
    return body


def _request(api: ApiClient, **fields: Any) -> dict[str, Any]:
    response = api.post("/api/v1/reports", fields)
    assert response.status_code == 202, response.text
    assert response.headers["location"] == f"/api/v1/reports/{response.json()['id']}"
    assert response.json()["status"] == "queued"
    return _ready(api, response.headers["location"])


def _download(report: dict[str, Any]) -> bytes:
    url = report["download_url"]
    assert "X-Amz-Signature=" in url and ("X-Amz-Expires=900" in url), url  # signed, 15 minutes
    got = httpx.get(url, timeout=30)
    assert got.status_code == 200, got.text
    assert report["file_name"] in got.headers["content-disposition"]
    assert int(report["size_bytes"]) == len(got.content)
    return got.content


def _pdf_text(body: bytes) -> str:
    assert body.startswith(b"%PDF")
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(body)).pages)


def _png(pdf: bytes, name: str) -> Path:
    """Page 1 as PNG in the test artifacts (pdftoppm, which the bootstrap installs), for a person to look at."""
    tool = shutil.which("pdftoppm")
    assert tool, "pdftoppm (Debian package poppler-utils) is required: run `python3 tools/bootstrap.py --for test`"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    source = ARTIFACTS / f"{name}.pdf"
    source.write_bytes(pdf)
    subprocess.run([tool, "-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile", str(source), str(ARTIFACTS / name)],
                   check=True)  # fmt: skip
    png = ARTIFACTS / f"{name}.png"
    assert png.stat().st_size > 5_000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return png


@pytest.fixture
def site_with_a_day(api: ApiClient, tenant, settings: Settings, streams_poller) -> dict[str, Any]:
    """A solar site (an inverter of 1,000 kWp and a weather station) with three hours of readings today (local),
    an alert, open and closed work; the KPIs refreshed."""
    now = datetime.now(UTC)
    zone = local_noon_zone(now)
    performance = {"expected_pr": 0.8, "tariff_per_mwh": 50.0, "currency": "EUR", "irradiance_threshold_wm2": 50.0}
    site = api.site(name="Sunny Ridge", capacity_mw=1.0, timezone=zone, performance=performance)
    met = api.asset(site["id"], name="MET-1", type="weather_station")
    inv = api.asset(site["id"], name="INV-1", type="inverter", rated_kw=1000, manufacturer="SMA", model="SC 1000")
    urgent = api.work_order(site["id"], title="Replace fan", priority="critical", asset_id=inv["id"])
    api.work_order(site["id"], title="Clean strings", priority="low")
    alert = api.alert(inv["id"], severity="critical", message="Inverter trip")
    tid = tenant.tenant.id
    ids = {"assets": [met["id"], inv["id"]], "work_orders": [urgent["id"]], "alerts": [alert["id"]]}
    assert projected(settings.database_url, tid, ids)
    hour0 = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    readings = []
    for h in range(3):
        for minute in (10, 30, 50):
            ts = hour0 + timedelta(hours=h, minutes=minute)
            readings += [
                Reading(tid, met["id"], "poa_irradiance_wm2", ts, 800.0),
                Reading(tid, inv["id"], "ac_power_kw", ts, 600.0 + 10 * h),
                Reading(tid, inv["id"], "heatsink_temp_c", ts, 41.5),
            ]
    store = TelemetryStore(settings.database_url)
    store.migrate()
    store.write(readings)
    store.close()
    _refreshed(settings)
    today = datetime.now(ZoneInfo(zone)).date()
    return {"site": site, "inverter": inv, "met": met, "zone": zone, "today": today, "readings": len(readings)}


def test_a_site_daily_pdf_carries_the_apis_figures(api: ApiClient, site_with_a_day, reports_function) -> None:
    site, today = site_with_a_day["site"], site_with_a_day["today"].isoformat()
    report = _request(api, type="site-daily", site_id=site["id"], **{"from": today})
    assert (report["from"], report["to"], report["format"]) == (today, today, "pdf")
    text = _pdf_text(_download(report))
    png = _png(_download(api.get(report["href"]).json()), "site-daily")
    assert png.exists()

    energy = api.get("/api/v1/energy", site_id=site["id"], **{"from": today, "to": today}).json()["totals"]
    assert energy["energy_mwh"] and energy["performance_ratio"]
    for shown in (
        format_value(energy["energy_mwh"], "number", 3),
        format_value(energy["performance_ratio"], "percent", 1),
        format_value(energy["availability"], "percent", 1),
    ):
        assert shown in text, (shown, text[:2000])
    for words in ("Site daily report", "Sunny Ridge", site["id"], "INV-1", "Page 1 of", "Alerts raised"):
        assert words in text


def test_every_type_in_its_formats(api: ApiClient, site_with_a_day, reports_function) -> None:
    site, inv, today = site_with_a_day["site"], site_with_a_day["inverter"], site_with_a_day["today"]
    first = today.replace(day=1).isoformat()

    monthly = _request(api, type="fleet-monthly", format="csv", **{"from": first, "to": today.isoformat()})
    rows = list(csv.DictReader(io.StringIO(_download(monthly).decode())))
    assert [r["site_id"] for r in rows] == [site["id"]] and monthly["rows"] == 1
    energy = api.get("/api/v1/energy", **{"from": first, "to": today.isoformat()}).json()["totals"]
    assert float(rows[0]["energy_mwh"]) == pytest.approx(energy["energy_mwh"])
    assert {"performance_ratio", "availability", "lost_energy_mwh", "failures", "mttr_h", "mtbf_h"} <= set(rows[0])
    assert rows[0]["pm_due"] == "0" and rows[0]["pm_compliance"] == ""  # no preventive work was due
    assert float(rows[0]["planned_ratio"]) == 1.0  # both work orders are inspections
    pdf = _pdf_text(_download(_request(api, type="fleet-monthly", **{"from": first, "to": today.isoformat()})))
    assert "Fleet monthly report" in pdf and format_value(energy["energy_mwh"], "number", 3) in pdf

    backlog = _request(api, type="work-order-backlog", format="xlsx")
    book = openpyxl.load_workbook(io.BytesIO(_download(backlog)))
    assert book.sheetnames[0] == "Summary" and backlog["rows"] == 2
    open_sheet = book[book.sheetnames[-1]]
    titles = {c.value for c in next(open_sheet.iter_rows(max_row=1))}
    assert {"Work order", "Priority"} <= {str(t).split(" (")[0] for t in titles}

    reliability = _request(api, type="asset-reliability", format="csv", site_id=site["id"])
    models = list(csv.DictReader(io.StringIO(_download(reliability).decode())))
    (sma,) = [m for m in models if m["model"] == "SC 1000"]
    assert int(sma["failures"]) == 1 and float(sma["downtime_h"]) > 0  # the critical alert's open episode

    export = _request(api, type="telemetry-export", asset_id=inv["id"], metrics=["ac_power_kw", "heatsink_temp_c"],
                      **{"from": (today - timedelta(days=1)).isoformat(), "to": today.isoformat()})  # fmt: skip
    lines = list(csv.reader(io.StringIO(_download(export).decode())))
    assert lines[0] == ["timestamp_utc", "asset_id", "ac_power_kw", "heatsink_temp_c"]
    assert len(lines) - 1 == export["rows"] == 9  # one row per minute with readings
    assert lines[1][0].endswith("Z") and float(lines[1][3]) == 41.5


def test_requests_are_checked_limited_and_tenant_scoped(
    api: ApiClient, http, tenant, other_tenant, reports_function
) -> None:
    site = api.site(name="Checked")
    today = datetime.now(UTC).date()
    cases = [
        ({"type": "site-daily"}, "body.site_id"),
        ({"type": "site-daily", "site_id": site["id"], "from": "2026-01-02", "to": "2026-01-03"}, "body.to"),
        ({"type": "fleet-monthly", "from": "2026-03-01", "to": "2026-02-01"}, "body.from"),
        ({"type": "fleet-monthly", "from": "2025-01-01", "to": "2025-12-31"}, "body.to"),
        ({"type": "fleet-monthly", "to": (today + timedelta(days=3)).isoformat()}, "body.to"),
        ({"type": "fleet-monthly", "site_id": site["id"]}, "body.site_id"),
        ({"type": "telemetry-export", "site_id": site["id"], "format": "pdf"}, "body.format"),
        ({"type": "telemetry-export", "site_id": site["id"], "metrics": ["colour_k"]}, "body.metrics"),
        ({"type": "telemetry-export"}, "body.site_id"),
        ({"type": "weekly"}, "body.type"),
        ({"type": "asset-reliability", "from": "not a date"}, "body.from"),
    ]
    # the limit counts every request, so the refusals are spread over two users (10 a minute each)
    users = [ApiClient(http, tenant.keys["supervisor"]), ApiClient(http, tenant.keys["technician"])]
    for i, (body, field) in enumerate(cases):
        assert_problem(users[i % 2].post("/api/v1/reports", body), 422, field)

    made = api.post("/api/v1/reports", {"type": "work-order-backlog", "format": "csv"})
    assert made.status_code == 202
    other = ApiClient(http, other_tenant.keys["admin"])
    assert_problem(other.get(made.headers["location"]), 404)
    assert_problem(other.post("/api/v1/reports", {"type": "site-daily", "site_id": site["id"]}), 422, "body.site_id")
    assert made.json()["id"] not in [r["id"] for r in other.get("/api/v1/reports").json()["items"]]

    second = api.post("/api/v1/reports", {"type": "asset-reliability", "format": "csv"}).json()
    page = api.get("/api/v1/reports", limit=1).json()
    assert [r["id"] for r in page["items"]] == [second["id"]] and page["next_cursor"]  # newest first
    rest = api.get("/api/v1/reports", limit=10, cursor=page["next_cursor"]).json()
    assert made.json()["id"] in [r["id"] for r in rest["items"]]

    viewer = ApiClient(http, tenant.keys["viewer"])  # a user of their own: 10 requests a minute
    answers = [viewer.post("/api/v1/reports", {"type": "work-order-backlog"}).status_code for _ in range(11)]
    assert answers[:10] == [202] * 10 and answers[10] == 429


def _sent_emails(settings: Settings) -> list[dict[str, Any]]:
    data = httpx.get(f"{settings.aws_endpoint_url}/moto-api/data.json", timeout=10).json()
    return data.get("ses", {}).get("Message", [])


def test_the_daily_schedule_makes_one_report_per_site_per_day_and_emails_it(
    api: ApiClient, tenant, settings: Settings, streams_poller, reports_function
) -> None:
    """Advance the site-daily schedule over a whole day of 15-minute runs, each run delivered twice (a retried
    invocation): one document per site (at 06:00 in each site's own zone, a half-hour one included), mailed
    to the subscription's recipients with a working link."""
    india = api.site(name="Pune", timezone="Asia/Kolkata")  # UTC+05:30
    madrid = api.site(name="Toledo", timezone="Europe/Madrid")
    assert projected(settings.database_url, tenant.tenant.id, {"sites": [india["id"], madrid["id"]]})
    sub = api.post("/api/v1/report-subscriptions",
                   {"type": "site-daily", "site_ids": [india["id"]], "recipients": ["ops@example.com"]})  # fmt: skip
    assert sub.status_code == 201, sub.text
    assert sub.json()["recipients"] == ["ops@example.com"]
    schedule = next(s for s in by_name("reports").schedules if s.name == "site-daily")
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(minutes=1)
    at, runs = start, 0
    while (at := next_run(schedule, at)) < start + timedelta(days=1):
        for _ in range(2):
            reports_function(scheduled_event(schedule.payload, at), FakeLambdaContext())
        runs += 1
    assert runs == 96

    def made() -> list[dict[str, Any]]:
        items = api.get("/api/v1/reports", limit=100).json()["items"]
        return items if items and all(r["status"] == "ready" for r in items) else []

    reports = eventually(made, 60, 0.3)
    assert sorted((r["site_id"], r["schedule"], r["format"]) for r in reports) == sorted(
        [(india["id"], "site-daily", "pdf"), (madrid["id"], "site-daily", "pdf")]
    )
    pune = next(r for r in reports if r["site_id"] == india["id"])
    # made at 06:00 Kolkata = 00:30 UTC of the run's day, for the day before there
    day = (start + timedelta(minutes=1)).date()
    assert pune["from"] == pune["to"] == (day - timedelta(days=1)).isoformat()  # 06:00 Kolkata: 00:30 UTC of day

    def mailed() -> list[dict[str, Any]]:
        return [m for m in _sent_emails(settings) if pune["id"] in str(m.get("body", ""))]

    (email,) = eventually(mailed, 30, 0.3)
    assert email["destinations"]["ToAddresses"] == ["ops@example.com"]
    assert email["source"] == settings.report_sender
    link = re.search(r"https?://[^\s\"<>]+X-Amz-Signature=[^\s\"<>]+", str(email["body"]))
    assert link, email["body"]
    assert httpx.get(html.unescape(link.group(0)), timeout=30).content.startswith(b"%PDF")
    assert not [m for m in _sent_emails(settings) if madrid["id"] in str(m.get("subject", ""))]  # not subscribed


def test_the_monthly_schedule_runs_once_per_tenant(
    api: ApiClient, tenant, settings, streams_poller, reports_function
) -> None:
    site = api.site(name="Monthly")
    assert projected(settings.database_url, tenant.tenant.id, {"sites": [site["id"]]})
    schedule = next(s for s in by_name("reports").schedules if s.name == "fleet-monthly")
    at = next_run(schedule, datetime.now(UTC))
    assert (at.day, at.hour, at.minute) == (1, 12, 0)
    first = reports_function(scheduled_event(schedule.payload, at), FakeLambdaContext())
    again = reports_function(scheduled_event(schedule.payload, at), FakeLambdaContext())
    assert first["created"] >= 1 and again["created"] == 0 and again["existing"] == first["created"]

    def ready() -> list[dict[str, Any]]:
        items = [r for r in api.get("/api/v1/reports").json()["items"] if r["schedule"] == "fleet-monthly"]
        return items if items and items[0]["status"] == "ready" else []

    (monthly,) = eventually(ready, 60, 0.3)
    last = at.date().replace(day=1) - timedelta(days=1)
    assert (monthly["from"], monthly["to"]) == (last.replace(day=1).isoformat(), last.isoformat())


def test_reports_bucket_is_encrypted_and_expires_documents(settings: Settings) -> None:
    from dcmms.clients import aws_client

    s3 = aws_client("s3", settings)
    rule = s3.get_bucket_encryption(Bucket=settings.reports_bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    (lifecycle,) = s3.get_bucket_lifecycle_configuration(Bucket=settings.reports_bucket)["Rules"]
    assert lifecycle["Status"] == "Enabled" and lifecycle["Expiration"]["Days"] > 0


def test_a_message_for_a_report_already_made_makes_nothing(api: ApiClient, tenant, reports_function, settings) -> None:
    """SQS delivers at least once: a second message for a ready report leaves its document as it was."""
    from dcmms.clients import aws_client

    report = _request(api, type="work-order-backlog", format="csv")
    s3 = aws_client("s3", settings)
    key = f"reports/{tenant.tenant.id}/{report['id']}.csv"
    before = s3.head_object(Bucket=settings.reports_bucket, Key=key)
    assert before["ServerSideEncryption"] == "AES256"
    job = orjson.dumps({"tenant_id": tenant.tenant.id, "report_id": report["id"]}).decode()
    event = {"Records": [{"messageId": "m1", "body": job, "attributes": {"ApproximateReceiveCount": "2"}}]}
    assert reports_function(event, FakeLambdaContext()) == {"batchItemFailures": []}
    after = s3.head_object(Bucket=settings.reports_bucket, Key=key)
    assert (after["ETag"], after["LastModified"]) == (before["ETag"], before["LastModified"])
    assert api.get(report["href"]).json()["finished_at"] == report["finished_at"]
