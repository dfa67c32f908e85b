"""The later screens in Chromium against the local stack (the demo tenant helios-solar): preventive maintenance,
a work order's checklist, reports, the admin pages (people, API keys, audit), and live updates over the stack's
WebSocket (/ws) with polling as the fallback.

What a test changes through the browser is checked through the API too; screenshots go to reports/ui/.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import BrowserContext, Locator, Page, expect

from .conftest import Stack, Telemetry, choose, fill_field, heading, section, sign_in, wait_until

pytestmark = pytest.mark.browser

Shot = Callable[[Page, str], Path]


def _token() -> str:
    return secrets.token_hex(3)


def _nav(page: Page) -> Locator:
    return page.get_by_role("navigation", name="Main")


def _row(table: Locator, text: str) -> Locator:
    """The table row that holds ``text``."""
    return table.locator("tr").filter(has_text=text)


# --- preventive maintenance ---------------------------------------------------------------------------------


def test_pm_lists_the_schedules_overdue_work_and_compliance(page: Page, stack: Stack, screenshot: Shot) -> None:
    with stack.api("viewer") as api:
        schedules = api.get("/api/v1/pm-schedules", params={"limit": 1000}).json()["items"]
        overdue = api.get("/api/v1/pm-overdue").json()["items"]
        totals = api.get("/api/v1/dashboard").json()["totals"]
    assert {s["name"] for s in schedules} >= {
        "Monthly inverter inspection",
        "Quarterly string IV curve check",
        "Annual transformer oil test",
    }
    sign_in(page, stack.user("supervisor"))
    _nav(page).get_by_role("link", name="Maintenance", exact=True).click()
    expect(page).to_have_url(re.compile(r"/pm$"))
    expect(heading(page, "Preventive maintenance")).to_be_visible()

    # every schedule, linked to its page, with its scope, trigger and next due time
    listed = section(page, "Schedules").get_by_role("table")
    for schedule in schedules:
        expect(listed.locator(f"a[href='/pm/{schedule['id']}']")).to_have_text(schedule["name"])
    expect(listed.get_by_text("Every month at 22:00").first).to_be_visible()
    expect(listed.get_by_text(re.compile(r"^Every inverter at ")).first).to_be_visible()

    # overdue preventive work (the read model's list) and this month's compliance (the dashboard's figures)
    late = section(page, "Overdue")
    if overdue:
        expect(late.get_by_role("table").locator("tbody tr")).to_have_count(len(overdue))
    else:
        expect(late.get_by_text("No preventive work is overdue.")).to_be_visible()
    compliance = section(page, "Compliance")
    for term in (
        "PM compliance this month",
        "PM due this month",
        "Done on time",
        "Overdue PM",
        "Planned work this month",
    ):
        expect(compliance.get_by_text(term, exact=True)).to_be_visible()
    due = compliance.locator("dt", has_text="PM due this month").locator("xpath=following-sibling::dd[1]")
    expect(due).to_have_text(str(totals["pm_due_mtd"]))
    overdue_figure = compliance.locator("dt", has_text="Overdue PM").locator("xpath=following-sibling::dd[1]")
    expect(overdue_figure).to_have_text(str(totals["pm_overdue"]))
    expect(compliance.get_by_role("table", name="Compliance by site").locator("tbody tr")).to_have_count(3)
    screenshot(page, "pm")

    # a schedule: its forecast (the API's occurrences) and, for a supervisor, disable and enable
    monthly = next(s for s in schedules if s["name"] == "Monthly inverter inspection")
    listed.locator(f"a[href='/pm/{monthly['id']}']").click()
    expect(heading(page, monthly["name"])).to_be_visible()
    with stack.api("viewer") as api:
        forecast = api.get(f"/api/v1/pm-schedules/{monthly['id']}/forecast", params={"horizon": "90d"}).json()
    assert forecast["occurrences"], forecast
    coming = section(page, "Forecast").get_by_role("table")
    expect(coming.locator("tbody tr")).to_have_count(len(forecast["occurrences"]))
    expect(page.get_by_text("Status: Enabled")).to_be_visible()
    page.get_by_role("button", name="Disable", exact=True).click()
    expect(page.get_by_text("Status: Disabled")).to_be_visible()
    with stack.api("viewer") as api:
        assert api.get(f"/api/v1/pm-schedules/{monthly['id']}").json()["enabled"] is False
    page.get_by_role("button", name="Enable", exact=True).click()
    expect(page.get_by_text("Status: Enabled")).to_be_visible()
    with stack.api("viewer") as api:
        assert api.get(f"/api/v1/pm-schedules/{monthly['id']}").json()["enabled"] is True
    screenshot(page, "pm-schedule")


# --- checklists -----------------------------------------------------------------------------------------------

STEPS = [
    {"title": "Lock-out / tag-out applied"},
    {"title": "Heat-sink temperature", "kind": "number", "unit": "°C", "min": 0, "max": 70},
    {"title": "Remarks", "kind": "text", "required": False},
    {"title": "Cooling fans run", "kind": "pass_fail"},
]


def test_a_checklist_is_answered_and_completing_needs_the_required_steps(
    page: Page, stack: Stack, screenshot: Shot
) -> None:
    title = f"Inverter inspection from a procedure {_token()}"
    with stack.api("admin") as api:
        site = min(api.get("/api/v1/sites").json()["items"], key=lambda s: s["name"])
        procedure = api.post(
            "/api/v1/procedures",
            json={"name": f"Browser inspection {_token()}", "estimated_duration_min": 30, "steps": STEPS},
        )
        assert procedure.status_code == 201, procedure.text
        body = {"site_id": site["id"], "title": title, "type": "preventive", "priority": "medium", "status": "open"}
        created = api.post("/api/v1/work-orders", json={**body, "procedure_id": procedure.json()["id"]})
        assert created.status_code == 201, created.text
        work_order = created.json()
    steps = {step["item"]: step["id"] for step in work_order["checklist"]}

    sign_in(page, stack.user("technician"))
    page.goto(f"/work-orders/{work_order['id']}")
    expect(heading(page, title)).to_be_visible()
    page.get_by_role("button", name="Start", exact=True).click()
    expect(page.get_by_text(re.compile(r"Status:\s*in[ _-]?progress", re.IGNORECASE))).to_be_visible()

    # completing now is the API's 409: the required steps unanswered are named
    page.get_by_role("button", name="Complete", exact=True).click()
    missing = page.get_by_role("alert").filter(has_text=re.compile("required steps", re.IGNORECASE))
    expect(missing).to_be_visible()
    for name in ("Lock-out / tag-out applied", "Heat-sink temperature", "Cooling fans run"):
        expect(missing).to_contain_text(name)
    expect(missing).not_to_contain_text("Remarks")
    expect(page.get_by_text(re.compile(r"Status:\s*in[ _-]?progress", re.IGNORECASE))).to_be_visible()

    # each step by its title: a check, a number (outside its limits: a follow-up), a text and a pass/fail
    checklist = section(page, "Checklist")
    checklist.get_by_label("Lock-out / tag-out applied", exact=True).check()
    reading = checklist.get_by_label("Heat-sink temperature", exact=True)
    reading.fill("72.5")
    reading.press("Enter")
    expect(checklist.get_by_role("link", name="Follow-up work order")).to_be_visible()
    remarks = checklist.get_by_label("Remarks", exact=True)
    remarks.fill("Filters replaced; fan bearing slightly noisy.")
    remarks.blur()
    checklist.get_by_label("Cooling fans run", exact=True).select_option("pass")
    expect(checklist.get_by_text("4 of 4 done", exact=False)).to_be_visible()
    expect(missing).to_have_count(0)  # answering the steps clears the message
    screenshot(page, "work-order-checklist")

    with stack.api("viewer") as api:
        answers = {c["id"]: c for c in api.get(f"/api/v1/work-orders/{work_order['id']}").json()["checklist"]}
    assert answers[steps["Lock-out / tag-out applied"]]["answer"] is True
    assert answers[steps["Heat-sink temperature"]]["answer"] == 72.5
    assert answers[steps["Heat-sink temperature"]]["follow_up_work_order_id"]
    assert answers[steps["Remarks"]]["answer"] == "Filters replaced; fan bearing slightly noisy."
    assert answers[steps["Cooling fans run"]]["answer"] == "pass"

    page.get_by_role("button", name="Complete", exact=True).click()
    expect(page.get_by_text(re.compile(r"Status:\s*completed", re.IGNORECASE))).to_be_visible()


# --- reports --------------------------------------------------------------------------------------------------


def test_a_report_is_requested_and_downloaded_when_ready(page: Page, stack: Stack, screenshot: Shot) -> None:
    with stack.api("viewer") as api:
        site = min(api.get("/api/v1/sites").json()["items"], key=lambda s: s["name"])
    sign_in(page, stack.user("viewer"))  # anyone may ask for a report
    _nav(page).get_by_role("link", name="Reports", exact=True).click()
    expect(page).to_have_url(re.compile(r"/reports$"))
    expect(heading(page, "Reports")).to_be_visible()

    choose(page.get_by_label("Type", exact=True), "work-order-backlog", "Work-order backlog")
    choose(page.get_by_label("Format", exact=True), "csv", "CSV")
    choose(page.get_by_label("Site", exact=True), site["id"], site["name"])
    today = datetime.now(UTC)
    fill_field(page.get_by_label("From", exact=True), today - timedelta(days=7))
    fill_field(page.get_by_label("To", exact=True), today - timedelta(days=1))
    page.get_by_role("button", name="Request report", exact=True).click()

    # the new report is listed at once, then followed through queued/running to ready (polled every 2 s)
    table = page.get_by_role("table").filter(has_text="Work-order backlog")
    row = table.locator("tbody tr").first
    expect(row).to_contain_text("Work-order backlog")
    expect(row).to_contain_text(site["name"])
    expect(row.get_by_text("ready", exact=True)).to_be_visible(timeout=20_000)
    download = row.get_by_role("link", name="Download", exact=True)
    expect(download).to_be_visible()
    screenshot(page, "reports")

    report_id = row.get_attribute("data-report")
    with stack.api("viewer") as api:
        report = api.get(f"/api/v1/reports/{report_id}").json()
    assert report["status"] == "ready" and report["type"] == "work-order-backlog" and report["format"] == "csv"
    assert report["site_id"] == site["id"]
    assert report["from"] == (today - timedelta(days=7)).date().isoformat()
    url = download.get_attribute("href") or ""
    assert url.startswith("http"), url
    fetched = httpx.get(url, timeout=10)
    assert fetched.status_code == 200, fetched.text[:200]
    assert fetched.text.startswith("id,site_id,title"), fetched.text[:200]


# --- admin ----------------------------------------------------------------------------------------------------


def test_an_admin_invites_a_person_changes_their_role_disables_and_deletes_them(
    page: Page, stack: Stack, screenshot: Shot
) -> None:
    sign_in(page, stack.user("admin"))
    _nav(page).get_by_role("link", name="Admin", exact=True).click()
    expect(page).to_have_url(re.compile(r"/admin/users$"))
    expect(heading(page, "People")).to_be_visible()
    people = page.get_by_role("table", name="People")
    expect(people.get_by_text(stack.user("technician").email, exact=True).first).to_be_visible()

    email = f"ana.{_token()}@helios-solar.example.com"
    invite = page.get_by_role("form", name="Invite")
    invite.get_by_label("Email", exact=True).fill(email)
    choose(invite.get_by_label("Role", exact=True), "technician")
    invite.get_by_label("Name", exact=True).fill("Ana Field")
    invite.get_by_role("button", name="Invite", exact=True).click()
    row = _row(people, email)
    expect(row).to_be_visible()
    expect(row.get_by_label("Role", exact=True)).to_have_value("technician")
    screenshot(page, "admin-users")

    def person() -> dict[str, Any] | None:
        with stack.api("admin") as api:
            found = [u for u in api.get("/api/v1/users", params={"limit": 1000}).json()["items"] if u["email"] == email]
        return found[0] if found else None

    invited = person()
    assert invited and invited["role"] == "technician" and invited["name"] == "Ana Field", invited
    assert invited["status"] == "FORCE_CHANGE_PASSWORD", invited

    row.get_by_label("Role", exact=True).select_option("viewer")
    wait_until(lambda: (person() or {}).get("role") == "viewer", "the role changed to viewer", timeout=10)
    row.get_by_role("button", name="Disable", exact=True).click()
    expect(row.get_by_role("button", name="Enable", exact=True)).to_be_visible()
    expect(row).to_contain_text("Disabled")
    assert (person() or {}).get("enabled") is False

    # deleting asks first; Cancel keeps them
    row.get_by_role("button", name="Delete", exact=True).click()
    expect(row.get_by_role("button", name="Cancel", exact=True)).to_be_focused()
    row.get_by_role("button", name="Cancel", exact=True).click()
    expect(row.get_by_role("button", name="Delete", exact=True)).to_be_visible()
    row.get_by_role("button", name="Delete", exact=True).click()
    row.get_by_role("button", name="Confirm delete", exact=True).click()
    expect(people.get_by_text(email, exact=True)).to_have_count(0)
    assert person() is None

    # the audit trail has each change
    page.get_by_role("navigation", name="Admin").get_by_role("link", name="Audit", exact=True).click()
    expect(heading(page, "Audit")).to_be_visible()
    audit = page.get_by_role("table", name="Audit entries")
    for action in ("Invited", "Changed role", "Disabled", "Deleted"):
        expect(audit.locator("tr").filter(has_text=email).filter(has_text=action).first).to_be_visible()


def test_an_admin_creates_an_api_key_sees_it_once_and_revokes_it(page: Page, stack: Stack, screenshot: Shot) -> None:
    sign_in(page, stack.user("admin"))
    page.goto("/admin/api-keys")
    expect(heading(page, "API keys")).to_be_visible()
    name = f"SCADA gateway {_token()}"
    form = page.get_by_role("form", name="Create key")
    form.get_by_label("Name", exact=True).fill(name)
    choose(form.get_by_label("Role", exact=True), "viewer")
    fill_field(form.get_by_label("Expires", exact=True), datetime.now(UTC) + timedelta(days=30))
    form.get_by_role("button", name="Create key", exact=True).click()

    # the secret, once: a read-only field, a Copy button, and the warning
    secret = page.get_by_label("New key", exact=True)
    expect(secret).to_be_visible()
    expect(secret).to_have_attribute("readonly", "")
    expect(secret).to_have_value(re.compile(r"^dcmms_"))
    key = secret.input_value()
    expect(page.get_by_role("button", name="Copy", exact=True)).to_be_visible()
    expect(page.get_by_text("shown only once", exact=False)).to_be_visible()
    keys = page.get_by_role("table", name="API keys")
    row = _row(keys, name)
    expect(row).to_contain_text("viewer")
    expect(row).to_contain_text(key[:12])
    screenshot(page, "admin-keys")
    with httpx.Client(base_url=stack.url, headers={"x-api-key": key}, timeout=10) as client:
        me = client.get("/api/v1/me")
        assert me.status_code == 200 and me.json()["role"] == "viewer", me.text

    # gone once dismissed, and never shown again
    page.get_by_role("button", name="Done", exact=True).click()
    expect(page.get_by_label("New key", exact=True)).to_have_count(0)
    page.reload()
    expect(_row(keys, name)).to_be_visible()
    assert key not in page.content()

    # revoking asks first, then the key is refused
    row = _row(keys, name)
    row.get_by_role("button", name="Revoke", exact=True).click()
    row.get_by_role("button", name="Confirm revoke", exact=True).click()
    expect(row).to_contain_text("Revoked")
    expect(row.get_by_role("button", name="Revoke", exact=True)).to_have_count(0)
    with httpx.Client(base_url=stack.url, headers={"x-api-key": key}, timeout=10) as client:
        assert client.get("/api/v1/me").status_code == 401

    page.goto("/admin/audit")
    audit = page.get_by_role("table", name="Audit entries")
    for action in ("Created API key", "Revoked API key"):
        expect(audit.locator("tr").filter(has_text=name).filter(has_text=action).first).to_be_visible()


def test_only_admins_see_the_admin_pages_and_only_fleet_editors_toggle_pm(page: Page, stack: Stack) -> None:
    with stack.api("viewer") as api:
        schedule = api.get("/api/v1/pm-schedules", params={"limit": 1}).json()["items"][0]
    sign_in(page, stack.user("supervisor"))
    expect(_nav(page).get_by_role("link", name="Maintenance", exact=True)).to_be_visible()
    expect(_nav(page).get_by_role("link", name="Admin", exact=True)).to_have_count(0)
    for path, title in (("/admin/users", "People"), ("/admin/api-keys", "API keys"), ("/admin/audit", "Audit")):
        page.goto(path)
        expect(heading(page, title)).to_be_visible()
        expect(page.get_by_role("alert").filter(has_text="403")).to_be_visible()
        expect(page.get_by_role("form")).to_have_count(0)
        expect(page.get_by_role("table")).to_have_count(0)
    page.get_by_role("button", name="Sign out", exact=True).click()

    sign_in(page, stack.user("technician"))
    page.goto(f"/pm/{schedule['id']}")
    expect(heading(page, schedule["name"])).to_be_visible()
    expect(section(page, "Forecast")).to_be_visible()
    for name in ("Disable", "Enable"):
        expect(page.get_by_role("button", name=name, exact=True)).to_have_count(0)


# --- live updates ---------------------------------------------------------------------------------------------


def _raise_alert(stack: Stack, asset: dict[str, Any], message: str) -> dict[str, Any]:
    with stack.api("admin") as api:
        response = api.post("/api/v1/alerts", json={"asset_id": asset["id"], "severity": "major", "message": message})
        assert response.status_code == 201, response.text
        return response.json()


def test_alerts_and_readings_arrive_live_and_by_polling_without_the_socket(
    new_context: Callable[..., BrowserContext], stack: Stack, telemetry: Telemetry
) -> None:
    page = new_context().new_page()
    sign_in(page, stack.user("supervisor"))
    page.goto("/alerts")
    expect(heading(page, "Alerts")).to_be_visible()
    status = page.locator("header").get_by_role("status")
    expect(status).to_have_text("Live")
    count = page.locator("#alert-count")
    expect(count).to_have_text(re.compile(r"^\d+"))
    before = int(re.sub(r"\D", "", count.inner_text()))

    # an alert raised through the API is on the open page within 5 s, without a reload and without polling
    page.wait_for_load_state("networkidle")  # the refetch that follows the socket's opening is done
    polled: list[str] = []
    page.on("request", lambda r: polled.append(r.url) if "/api/v1/alerts" in r.url else None)
    message = f"Inverter fan stalled {_token()}"
    started = time.monotonic()
    _raise_alert(stack, telemetry.asset, message)
    expect(page.get_by_text(message, exact=True)).to_be_visible(timeout=5_000)
    assert time.monotonic() - started < 5, time.monotonic() - started
    expect(count).to_have_text(re.compile(rf"^{before + 1}\b"))
    assert polled == [], polled  # the frame carried it

    # the site screen's latest readings follow the asset it shows (subscribed, narrowed to that asset)
    site, asset = telemetry.site, telemetry.asset
    page.goto(f"/sites/{site['id']}?asset={asset['id']}&metric={telemetry.metric}")
    chart = section(page, "Telemetry")
    expect(chart.locator("figure[aria-label]")).to_have_attribute("aria-label", re.compile(r"[1-9]\d* points?$"))
    expect(status).to_have_text("Live")
    with stack.api("admin") as api:
        record = {"v": 1, "site_id": site["id"], "asset_id": asset["id"]}
        reading = {"ts": int(time.time() * 1000), "metrics": {"ac_power_kw": 777.7}}
        response = api.post("/api/v1/telemetry/ingest", json={**record, "readings": [reading]})
        assert response.status_code == 202, response.text
    latest = chart.locator("dl.latest")
    expect(latest).to_contain_text("777.70", timeout=5_000)

    # without the socket (its URL unreachable) the app says so and polls: the alert still comes, within ~5 s
    cut_off = new_context()
    cut_off.route(
        "**/config.json",
        lambda route: route.fulfill(json={**route.fetch().json(), "live": "ws://127.0.0.1:9/ws"}),
    )
    polling = cut_off.new_page()
    sign_in(polling, stack.user("supervisor"))
    polling.goto("/alerts")
    expect(heading(polling, "Alerts")).to_be_visible()
    expect(polling.locator("header").get_by_role("status")).to_have_text("Polling")
    message = f"Tracker stow failed {_token()}"
    _raise_alert(stack, telemetry.asset, message)
    expect(polling.get_by_text(message, exact=True)).to_be_visible(timeout=8_000)
