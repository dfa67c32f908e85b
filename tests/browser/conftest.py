"""The web app in a real browser: Debian's Chromium, driven by Playwright, against `dcmms dev` as a person meets it.

One local stack for the session (``dcmms dev`` in a subprocess with its own state file and a free port, stopped
with Ctrl-C's SIGINT), serving the production build in web/dist at the API's origin. Playwright launches the
machine's ``chromium`` by ``executable_path``: it never downloads a browser. A missing build or browser fails
the run, naming it; nothing is skipped.

Screenshots of each screen go to reports/ui/<screen>.png; a failed test leaves reports/ui/failed/<test>.png and
prints the page's console errors.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import BrowserContext, Locator, Page, expect

from dcmms_dev.servers import free_port
from tools.bootstrap import chromium_path

ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "web" / "dist"
SHOTS = ROOT / "reports" / "ui"
TENANT = "helios-solar"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
TIMEOUT_MS = 10_000  # any one step; the whole suite is meant to take about a minute

expect.set_options(timeout=TIMEOUT_MS)


# --- the local stack --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class User:
    email: str
    password: str
    role: str


@dataclass
class Stack:
    """A running `dcmms dev`: its state file's contents, and an API client per role of the demo tenant."""

    state: dict[str, Any]
    log: Path

    @property
    def url(self) -> str:
        return str(self.state["api_url"])

    def user(self, role: str, tenant: str = TENANT) -> User:
        person = self.state["users"][tenant][role]
        return User(person["email"], person["password"], role)

    def api(self, role: str = "admin", tenant: str = TENANT) -> httpx.Client:
        key = self.state["api_keys"][tenant][role]
        return httpx.Client(base_url=self.url, headers={"x-api-key": key}, timeout=10)


def _log_tail(log: Path, lines: int = 40) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    return "(no output)"


@pytest.fixture(scope="session")
def web_build() -> Path:
    """The production build the stack serves; without one the browser tests cannot run, and say so."""
    if not (DIST / "index.html").is_file():
        pytest.fail(
            f"{DIST / 'index.html'} is missing: the web app is not built (make web, i.e. "
            "npm --prefix web ci && npm --prefix web run build)",
            pytrace=False,
        )
    return DIST


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, web_build: Path) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("browser-stack")
    state_file, log = workdir / "local.json", workdir / "dcmms-dev.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "dcmms_dev.cli", "dev", "--port", str(free_port()), "--state-file", str(state_file)],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            # the stack's own settings only: none left in this process's environment by an earlier test
            env={k: v for k, v in os.environ.items() if not k.startswith("DCMMS_")},
        )
    try:
        deadline = time.monotonic() + 120
        while not state_file.exists():
            if proc.poll() is not None:
                pytest.fail(f"dcmms dev exited ({proc.returncode}) before it was up:\n{_log_tail(log)}", pytrace=False)
            if time.monotonic() > deadline:
                pytest.fail(f"dcmms dev was not up within 120 s:\n{_log_tail(log)}", pytrace=False)
            time.sleep(0.2)
        yield Stack(json.loads(state_file.read_text()), log)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # Ctrl-C: the stack stops every server it started
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# --- the browser (pytest-playwright's fixtures, pointed at Debian's chromium and the stack) ------------------------


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    path = chromium_path()
    if path is None:
        pytest.fail(
            "Chromium is missing (Debian package chromium, /usr/bin/chromium): `python3 tools/bootstrap.py --for test` "
            "installs it; Playwright's own browser downloads are not used",
            pytrace=False,
        )
    return {**browser_type_launch_args, "executable_path": path, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def base_url(stack: Stack) -> str:
    return stack.url


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_context_args, "viewport": {"width": 1280, "height": 800}, "locale": "en-GB"}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    if report.when == "call":
        item.stash[_FAILED] = report.failed
    return report


_FAILED = pytest.StashKey[bool]()


@pytest.fixture
def new_context(
    new_context: Callable[..., BrowserContext], request: pytest.FixtureRequest
) -> Iterator[Callable[..., BrowserContext]]:
    """Contexts with short timeouts that remember their pages' console errors; on failure, a screenshot of each."""
    made: list[tuple[BrowserContext, list[str]]] = []

    def make(**kwargs: Any) -> BrowserContext:
        context = new_context(**kwargs)
        context.set_default_timeout(TIMEOUT_MS)
        errors: list[str] = []

        def watch(page: Page) -> None:
            page.on("console", lambda m: errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(f"page error: {e}"))

        context.on("page", watch)
        made.append((context, errors))
        return context

    yield make
    if request.node.stash.get(_FAILED, False):
        failed = SHOTS / "failed"
        failed.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^\w.-]+", "_", request.node.name)
        for n, (context, errors) in enumerate(made):
            for m, page in enumerate(context.pages):
                with contextlib.suppress(Exception):
                    page.screenshot(path=str(failed / f"{name}-{n}{m}.png"))
                    print(f"failed at {page.url}; screenshot {failed / f'{name}-{n}{m}.png'}")
            for line in errors:
                print(line)


@pytest.fixture
def context(new_context: Callable[..., BrowserContext]) -> BrowserContext:
    return new_context()


# --- screenshots -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def screenshot() -> Callable[[Page, str], Path]:
    """``screenshot(page, "fleet")`` writes reports/ui/fleet.png (the run's own: earlier ones are removed first)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for old in (*SHOTS.glob("*.png"), *SHOTS.glob("failed/*.png")):
        old.unlink()

    def take(page: Page, screen: str) -> Path:
        path = SHOTS / f"{screen}.png"
        page.screenshot(path=str(path))
        return path

    return take


# --- helpers the tests share ------------------------------------------------------------------------------------


def sign_in(page: Page, user: User, *, open_form: bool = True) -> None:
    """Sign in on /sign-in (already open unless ``open_form``) and wait until the app has moved on."""
    if open_form:
        page.goto("/sign-in")
    page.get_by_label("Email", exact=True).fill(user.email)
    page.get_by_label("Password", exact=True).fill(user.password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page).not_to_have_url(re.compile(r"/sign-in"))


def heading(page: Page | Locator, text: str, level: int = 1) -> Locator:
    return page.get_by_role("heading", level=level, name=text, exact=True)


def section(page: Page, title: str) -> Locator:
    """The section that an h2 titles."""
    return page.locator("section").filter(has=page.get_by_role("heading", level=2, name=title, exact=True))


def choose(select: Locator, *candidates: str) -> str:
    """Select the first option whose value or label is one of ``candidates`` (then one whose label contains it),
    waiting for the options to load; returns the value chosen."""
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    options: list[list[str]] = []
    while True:
        options = select.locator("option").evaluate_all("os => os.map(o => [o.value, o.textContent.trim()])")
        for match in (
            lambda v, label, c: c in (v, label),
            lambda v, label, c: c.lower() == label.lower(),
            lambda v, label, c: c.lower() in label.lower(),
        ):
            for candidate in candidates:
                for value, label in options:
                    if match(value, label, candidate):
                        select.select_option(value=value)
                        return value
        if time.monotonic() > deadline:
            raise AssertionError(f"no option {candidates} in the select; it has {options[:20]}")
        time.sleep(0.2)


def fill_field(field: Locator, when: datetime) -> None:
    """A date, datetime-local or text input, filled with ``when`` in the format it takes."""
    kind = (field.get_attribute("type") or "text").lower()
    if kind == "date":
        field.fill(when.strftime("%Y-%m-%d"))
    elif kind == "datetime-local":
        field.fill(when.strftime("%Y-%m-%dT%H:%M"))
    else:
        field.fill(when.isoformat(timespec="minutes"))


def wait_until(check: Callable[[], Any], what: str, timeout: float = 15.0, every: float = 0.3) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f} s")
        time.sleep(every)


# --- seeded data the tests look for ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Telemetry:
    site: dict[str, Any]
    asset: dict[str, Any]
    metric: str
    points: int


@pytest.fixture(scope="session")
def telemetry(stack: Stack) -> Telemetry:
    """A day of an inverter's output (a reading every 5 minutes, following the sun at the site), sent through
    POST /api/v1/telemetry/ingest and waited for in the aggregations: the site page's chart has data to show."""
    with stack.api("admin") as api:
        sites = api.get("/api/v1/sites").json()["items"]
        site = min(sites, key=lambda s: s["name"])
        params: dict[str, Any] = {"site_id": site["id"], "type": "inverter", "limit": 1}
        (asset,) = api.get("/api/v1/assets", params=params).json()["items"]
        now = datetime.now(UTC).replace(second=0, microsecond=0)
        zone, rated = ZoneInfo(site["timezone"]), float(asset.get("rated_kw") or 1000.0)
        readings = []
        for step in range(1, 24 * 12 + 1):
            at = now - timedelta(minutes=5 * step)
            local = at.astimezone(zone)
            sun = math.sin(math.pi * (local.hour + local.minute / 60 - 6) / 12)  # up at 6:00, down at 18:00
            power = round(max(0.0, sun) * rated * (0.93 + 0.04 * math.sin(step)), 1)
            readings.append({"ts": int(at.timestamp() * 1000), "metrics": {"ac_power_kw": power}})
        record = {"v": 1, "site_id": site["id"], "asset_id": asset["id"], "readings": readings}
        response = api.post("/api/v1/telemetry/ingest", json=record)
        assert response.status_code == 202, response.text
        query = {"asset_id": asset["id"], "metric": "ac_power_kw", "interval": "5m"}
        series = wait_until(
            lambda: api.get("/api/v1/telemetry", params=query).json()["points"],
            "the readings reached the telemetry store",
            timeout=30,
        )
    return Telemetry(site, asset, "ac_power_kw", len(series))
