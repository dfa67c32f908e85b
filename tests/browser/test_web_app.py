"""The web app as people use it, in Chromium against the local stack (the demo tenant helios-solar).

Each test signs in through the app's own form (Cognito on moto), and what it changes through the browser is
checked through the API too. The screens are written to reports/ui/.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from .conftest import Stack, Telemetry, choose, fill_field, heading, section, sign_in, wait_until

pytestmark = pytest.mark.browser

Shot = Callable[[Page, str], Path]

# The work-order detail's transition buttons and the status each leads to, per status: the legal ones only.
TRANSITIONS = ("Open", "Start", "Resume", "Reopen", "Put on hold", "Complete", "Close", "Cancel work order")
LEGAL = {
    "draft": {"Open", "Cancel work order"},
    "open": {"Start", "Put on hold", "Cancel work order"},
    "in_progress": {"Put on hold", "Complete", "Cancel work order"},
    "on_hold": {"Resume", "Cancel work order"},
    "completed": {"Close", "Reopen"},
    "closed": set(),
}
CONFLICT = re.compile(r"changed by someone else\s*[—–-]+\s*reload", re.IGNORECASE)


def _token() -> str:
    return secrets.token_hex(3)


def _status_text(status: str) -> re.Pattern[str]:
    """The text "Status: in_progress" (or "In progress": the app may show the status as words)."""
    words = r"[ _-]?".join(re.escape(w) for w in status.split("_"))
    return re.compile(rf"Status:\s*{words}\b", re.IGNORECASE)


def _expect_status(page: Page, status: str) -> None:
    expect(page.get_by_text(_status_text(status)).first).to_be_visible()
    expected = LEGAL[status]
    for name in TRANSITIONS:
        button = page.get_by_role("button", name=name, exact=True)
        if name in expected:
            expect(button).to_be_visible()
        else:
            expect(button).to_have_count(0)


def _new_work_order(stack: Stack, title: str, status: str = "open") -> dict[str, Any]:
    with stack.api("admin") as api:
        site = min(api.get("/api/v1/sites").json()["items"], key=lambda s: s["name"])
        body = {"site_id": site["id"], "title": title, "type": "corrective", "priority": "medium", "status": status}
        response = api.post("/api/v1/work-orders", json=body)
        assert response.status_code == 201, response.text
        return response.json()


def _new_alert(stack: Stack, message: str) -> dict[str, Any]:
    with stack.api("admin") as api:
        sites = api.get("/api/v1/sites").json()["items"]
        site = min(sites, key=lambda s: s["name"])
        params: dict[str, Any] = {"site_id": site["id"], "type": "inverter", "limit": 1}
        (asset,) = api.get("/api/v1/assets", params=params).json()["items"]
        response = api.post(
            "/api/v1/alerts", json={"asset_id": asset["id"], "severity": "critical", "message": message}
        )
        assert response.status_code == 201, response.text
        return response.json()


@pytest.mark.parametrize("role", ["admin", "supervisor", "technician", "viewer"])
def test_each_role_signs_in_and_sees_its_controls(page: Page, stack: Stack, role: str) -> None:
    person = stack.user(role)
    sign_in(page, person)
    header = page.locator("header, [role=banner]").first
    expect(header).to_contain_text(person.email)
    # the role as text (for an admin, not the "Admin" link beside it)
    role_text = header.get_by_text(re.compile(rf"^\s*{role}\s*$", re.IGNORECASE)).and_(header.locator(":not(a)"))
    expect(role_text).to_be_visible()
    nav = page.get_by_role("navigation", name="Main")
    for link in ("Fleet", "Work orders", "Alerts", "Maintenance", "Reports"):
        expect(nav.get_by_role("link", name=link, exact=True)).to_be_visible()
    expect(nav.get_by_role("link", name="Admin", exact=True)).to_have_count(1 if role == "admin" else 0)
    page.get_by_role("navigation").get_by_role("link", name="Work orders", exact=True).click()
    expect(page.locator("a[href*='/work-orders/wo_']").first).to_be_visible()  # the list has loaded
    expect(page.get_by_role("link", name="New work order", exact=True)).to_have_count(0 if role == "viewer" else 1)
    page.get_by_role("button", name="Sign out", exact=True).click()
    expect(page).to_have_url(re.compile(r"/sign-in"))


def test_a_supervisor_goes_from_the_fleet_to_a_sites_chart(
    page: Page, stack: Stack, telemetry: Telemetry, screenshot: Shot
) -> None:
    supervisor = stack.user("supervisor")
    sign_in(page, supervisor)
    expect(page).to_have_url(re.compile(r"/$"))
    # the header: where to go, search, who is signed in
    nav = page.get_by_role("navigation")
    for link in ("Fleet", "Work orders", "Alerts"):
        expect(nav.get_by_role("link", name=link, exact=True)).to_be_visible()
    expect(page.get_by_role("searchbox", name="Search")).to_be_visible()
    expect(page.get_by_text(supervisor.email).first).to_be_visible()
    expect(page.get_by_text(re.compile(r"\bsupervisor\b", re.IGNORECASE)).first).to_be_visible()
    expect(page.get_by_role("button", name="Sign out", exact=True)).to_be_visible()

    # the fleet: every seeded site, linked to its page; the columns sort
    expect(heading(page, "Fleet")).to_be_visible()
    sites = page.get_by_role("table", name="Sites")
    with stack.api("viewer") as api:
        seeded = api.get("/api/v1/sites").json()["items"]
    assert len(seeded) == 3
    for site in seeded:
        link = sites.get_by_role("link", name=site["name"], exact=True)
        expect(link).to_be_visible()
        expect(link).to_have_attribute("href", re.compile(rf"/sites/{re.escape(site['id'])}$"))
    sortable = sites.get_by_role("columnheader").filter(has=page.get_by_role("button"))
    expect(sortable.first).to_be_visible()
    orders = []
    for _ in range(2):
        sortable.first.get_by_role("button").click()
        expect(sortable.first).to_have_attribute("aria-sort", re.compile("ascending|descending"))
        orders.append(sortable.first.get_attribute("aria-sort"))
    assert set(orders) == {"ascending", "descending"}, orders
    screenshot(page, "fleet")

    # a site: its assets as a tree, and a chart of the telemetry sent for one of its inverters
    site = telemetry.site
    sites.get_by_role("link", name=site["name"], exact=True).click()
    expect(page).to_have_url(re.compile(rf"/sites/{re.escape(site['id'])}$"))
    expect(heading(page, site["name"])).to_be_visible()
    for title in ("Assets", "Telemetry", "Alerts", "Open work"):
        expect(heading(page, title, level=2)).to_be_visible()
    expect(page.get_by_role("tree").first).to_be_visible()
    expect(page.get_by_role("treeitem").first).to_be_visible()
    chart = section(page, "Telemetry")
    choose(chart.get_by_label("Asset", exact=True), telemetry.asset["id"], telemetry.asset["name"])
    choose(chart.get_by_label("Metric", exact=True), telemetry.metric)
    expect(chart.get_by_label("Interval", exact=True)).to_be_visible()
    for span in ("7 d", "30 d", "24 h"):
        chart.get_by_role("button", name=span, exact=True).click()
    figure = chart.locator("figure[aria-label]")
    expect(figure).to_have_attribute("aria-label", re.compile(r"^.+ · .+ · [1-9]\d* points?$"))
    label = figure.get_attribute("aria-label") or ""
    metric, _interval, points = (part.strip() for part in label.split("·"))
    assert "power" in metric.lower(), label
    assert 0 < int(points.split()[0]) <= 24 * 60, label
    screenshot(page, "site")


def test_a_work_order_is_created_moved_through_its_states_and_found(page: Page, stack: Stack, screenshot: Shot) -> None:
    sign_in(page, stack.user("supervisor"))
    page.get_by_role("navigation").get_by_role("link", name="Work orders", exact=True).click()
    expect(page).to_have_url(re.compile(r"/work-orders$"))
    expect(heading(page, "Work orders")).to_be_visible()
    for filter_ in ("Status", "Priority", "Site", "Assignee"):
        expect(page.get_by_label(filter_, exact=True)).to_be_visible()
    expect(page.locator("a[href*='/work-orders/wo_']").first).to_be_visible()  # the list has loaded
    screenshot(page, "work-orders")

    # the form: an empty title is refused by the API (422) and the error is shown at the field
    page.get_by_role("link", name="New work order", exact=True).click()
    title_field = page.get_by_label("Title", exact=True)
    expect(title_field).to_be_visible()
    with stack.api("viewer") as api:
        site = min(api.get("/api/v1/sites").json()["items"], key=lambda s: s["name"])
    choose(page.get_by_label("Site", exact=True), site["id"], site["name"])
    choose(page.get_by_label("Type", exact=True), "corrective", "Corrective")
    page.get_by_role("button", name="Create", exact=True).click()
    expect(title_field).to_have_attribute("aria-invalid", "true")
    described = title_field.get_attribute("aria-describedby")
    if described:  # the message next to the field
        expect(page.locator(f"[id='{described.split()[0]}']")).not_to_be_empty()

    token = _token()
    title = f"Replace cooling fan on inverter {token}"
    title_field.fill(title)
    choose(page.get_by_label("Priority", exact=True), "high", "High")
    with stack.api("viewer") as api:  # the people anyone of the tenant may see, to assign work to
        people = api.get("/api/v1/people", params={"limit": 1000}).json()["items"]
    technician = next(p for p in people if p["email"] == stack.user("technician").email)
    choose(page.get_by_label("Assignee", exact=True), technician["id"], f"{technician['name']} (technician)")
    page.get_by_label("Description", exact=True).fill("Fan bearing noise reported during the browser test.")
    fill_field(page.get_by_label("Due", exact=True), datetime.now(UTC) + timedelta(days=7))
    screenshot(page, "work-order-new")
    page.get_by_role("button", name="Create", exact=True).click()
    expect(page).to_have_url(re.compile(r"/work-orders/[^/]+$"))
    expect(heading(page, title)).to_be_visible()
    work_order_id = page.url.rstrip("/").rsplit("/", 1)[1]
    with stack.api("viewer") as api:
        created = api.get(f"/api/v1/work-orders/{work_order_id}").json()
    assert created["title"] == title and created["priority"] == "high" and created["site_id"] == site["id"]
    assert created["assigned_to"] == technician["id"]
    expect(page.get_by_text(technician["name"], exact=True).first).to_be_visible()  # the assignee by name

    # through its states, each showing only the moves the state machine allows
    status = created["status"]
    _expect_status(page, status)
    path = ["open", "in_progress", "completed", "closed"]
    buttons = {"open": "Open", "in_progress": "Start", "completed": "Complete", "closed": "Close"}
    for target in path[path.index(status) + 1 if status in path else 0 :]:
        page.get_by_role("button", name=buttons[target], exact=True).click()
        _expect_status(page, target)
        if target == "in_progress":
            screenshot(page, "work-order")
    with stack.api("viewer") as api:
        assert api.get(f"/api/v1/work-orders/{work_order_id}").json()["status"] == "closed"

    # search finds it by its title once the read model has it (it lags the write by a little)
    search = page.get_by_role("searchbox", name="Search")
    search.fill(title)
    search.press("Enter")
    expect(page).to_have_url(re.compile(r"/search\?q="))
    expect(heading(page, "Search")).to_be_visible()
    found = page.get_by_role("link", name=title)

    def listed() -> bool:
        if found.count():
            return True
        page.reload()
        expect(heading(page, "Search")).to_be_visible()
        page.wait_for_load_state("networkidle")
        return found.count() > 0

    wait_until(listed, f"search listed {title!r}", timeout=12, every=1)
    expect(heading(page, "Work orders", level=2)).to_be_visible()
    expect(found.first).to_have_attribute("href", re.compile(rf"/work-orders/{re.escape(work_order_id)}$"))
    screenshot(page, "search")


def test_a_concurrent_edit_shows_the_conflict(page: Page, stack: Stack, screenshot: Shot) -> None:
    title = f"Torque check on tracker row {_token()}"
    work_order = _new_work_order(stack, title)
    sign_in(page, stack.user("supervisor"))
    page.goto(f"/work-orders/{work_order['id']}")
    expect(heading(page, title)).to_be_visible()
    page.get_by_role("button", name="Edit", exact=True).click()
    page.get_by_label("Title", exact=True).fill(f"{title} (browser)")
    # meanwhile someone else changes it
    elsewhere = f"{title} (elsewhere)"
    with stack.api("admin") as api:
        changed = api.patch(f"/api/v1/work-orders/{work_order['id']}", json={"title": elsewhere, "priority": "high"})
        assert changed.status_code == 200, changed.text
    page.get_by_role("button", name="Save", exact=True).click()
    alert = page.get_by_role("alert").filter(has_text=CONFLICT)
    expect(alert).to_be_visible()
    screenshot(page, "work-order-conflict")
    with stack.api("viewer") as api:  # the browser's edit did not overwrite the other one
        assert api.get(f"/api/v1/work-orders/{work_order['id']}").json()["title"] == elsewhere
    # Reload shows the other person's change: in the form still being edited, or on the work order's page
    page.get_by_role("button", name="Reload", exact=True).click()
    expect(page.get_by_role("alert").filter(has_text=CONFLICT)).to_have_count(0)
    title_field, title_heading = page.get_by_label("Title", exact=True), heading(page, elsewhere)
    expect(title_field.or_(title_heading).first).to_be_visible()
    if title_field.count():
        expect(title_field).to_have_value(elsewhere)
        expect(page.get_by_label("Priority", exact=True)).to_have_value("high")


def test_an_alert_is_acknowledged(page: Page, stack: Stack, screenshot: Shot) -> None:
    message = f"String current low on combiner box {_token()}"
    raised = _new_alert(stack, message)
    sign_in(page, stack.user("supervisor"))
    page.get_by_role("navigation").get_by_role("link", name="Alerts", exact=True).click()
    expect(page).to_have_url(re.compile(r"/alerts$"))
    expect(heading(page, "Alerts")).to_be_visible()
    expect(page.get_by_text(message)).to_be_visible()
    # the alert's row (card, list item): the innermost element that holds its message and a button
    row = page.locator(f"xpath=//*[contains(., '{message}')][.//button]").last
    expect(row.get_by_role("button", name="Resolve", exact=True)).to_be_visible()
    screenshot(page, "alerts")
    row.get_by_role("button", name="Acknowledge", exact=True).click()
    with stack.api("viewer") as api:
        wait_until(
            lambda: api.get(f"/api/v1/alerts/{raised['id']}").json()["status"] == "acknowledged",
            "the alert was acknowledged",
            timeout=10,
        )
    expect(row.get_by_role("button", name="Acknowledge", exact=True)).to_have_count(0)
    expect(row.get_by_role("button", name="Resolve", exact=True)).to_be_visible()


def test_a_viewer_sees_no_write_controls(page: Page, stack: Stack, screenshot: Shot) -> None:
    work_order = _new_work_order(stack, f"Inspect fence line {_token()}")
    message = f"Door contact open at substation {_token()}"
    _new_alert(stack, message)
    viewer = stack.user("viewer")
    sign_in(page, viewer)
    expect(page.get_by_text(viewer.email).first).to_be_visible()

    page.goto("/work-orders")
    expect(heading(page, "Work orders")).to_be_visible()
    expect(page.locator("a[href*='/work-orders/wo_']").first).to_be_visible()  # the list has loaded
    expect(page.get_by_role("link", name="New work order", exact=True)).to_have_count(0)

    page.goto(f"/work-orders/{work_order['id']}")
    expect(heading(page, work_order["title"])).to_be_visible()
    expect(page.get_by_text(_status_text("open")).first).to_be_visible()
    for name in (*TRANSITIONS, "Edit"):
        expect(page.get_by_role("button", name=name, exact=True)).to_have_count(0)
    screenshot(page, "work-order-viewer")

    page.goto("/alerts")
    expect(page.get_by_text(message)).to_be_visible()
    for name in ("Acknowledge", "Resolve"):
        expect(page.get_by_role("button", name=name, exact=True)).to_have_count(0)


def test_a_deep_link_signs_in_and_returns_then_sign_out(
    context: BrowserContext, stack: Stack, screenshot: Shot
) -> None:
    work_order = _new_work_order(stack, f"Clean modules in block C {_token()}")
    page = context.new_page()
    page.goto(f"/work-orders/{work_order['id']}")
    expect(page).to_have_url(re.compile(r"/sign-in"))
    expect(page.get_by_role("button", name="Sign in", exact=True)).to_be_visible()
    screenshot(page, "sign-in")

    # a wrong password is refused, in an alert
    technician = stack.user("technician")
    page.get_by_label("Email", exact=True).fill(technician.email)
    page.get_by_label("Password", exact=True).fill(technician.password + "-wrong")
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("alert").first).to_be_visible()
    expect(page).to_have_url(re.compile(r"/sign-in"))

    sign_in(page, technician, open_form=False)
    expect(page).to_have_url(re.compile(rf"/work-orders/{re.escape(work_order['id'])}$"))
    expect(heading(page, work_order["title"])).to_be_visible()

    page.get_by_role("button", name="Sign out", exact=True).click()
    expect(page).to_have_url(re.compile(r"/sign-in"))
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/sign-in"))
    expect(page.get_by_role("button", name="Sign in", exact=True)).to_be_visible()
