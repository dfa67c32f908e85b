"""`make bench`: Lighthouse on the web app's screens against the local stack, each figure beside the spec's budget.

Lighthouse 12.2.3 (the root package.json; `npm ci` installs it) on the fleet (``/``), a site (``/sites/{first
site}``), a work order (``/work-orders/{id}``), signed in as the demo tenant's supervisor, and the sign-in form
(``/sign-in``, signed out), in Lighthouse's desktop preset and its default mobile emulation, both with simulated
throttling (desktop: 40 ms RTT, 10 Mbit/s, no CPU slowdown; mobile: a Moto G Power's 412x823 screen, 150 ms RTT,
1.6 Mbit/s, 4x CPU slowdown). Each run is a cold load: Lighthouse clears the HTTP cache and the origin's storage.
Beside them, in the same run and settings, the floor: a static page with no subresource, from 127.0.0.1.

How: ``dcmms dev`` in a subprocess with its own state file and a free port (tests/support/dev_stack.py, as the
browser tests start it); Debian's ``chromium`` launched by Playwright (the browser tests' flags, a profile of its
own, ``--remote-debugging-port``); the supervisor signs in through the form at /sign-in. The Lighthouse CLI then
connects to that browser (``--port``; ``CHROME_PATH=/usr/bin/chromium``) and opens a tab of its own per run. The
app keeps its tokens in sessionStorage, which is per tab, so a new tab starts signed out: what the sign-in stored
is written into each new tab's sessionStorage before the app's scripts run (a Playwright init script on the
browser's default context, where Lighthouse's tabs open; not on /sign-in). Every report's final URL is checked to
be the screen asked for, not /sign-in.

Prints, per form factor, each screen's FCP, LCP, TTI, TBT and CLS and its performance and accessibility scores
beside the spec's budgets (performance-and-scalability.md §2.2: FCP 1.5 s, LCP 2.5 s, TTI 3.5 s, CLS 0.1; TBT has
none there: Lighthouse's "good" threshold, 200 ms) as a ratio, and the issue's goals (LCP < 1.0 s, CLS < 0.05,
scores >= 95); then, for each miss of a goal, what the report says: the LCP candidates (Chromium's trace events),
the requests started before the LCP in the unthrottled load, grouped in sequential waves (Lighthouse's simulated
LCP charges each wave at least one throttled round trip), long tasks and flagged audits. No assertions: a miss is
printed, not failed. Reports, traces and DevTools logs go to reports/lighthouse/<form factor>-<screen>*.json.

Run: ``python -m tests.bench.lighthouse [--form-factors desktop,mobile]`` (about 2 minutes: the stack's start,
then 10 Lighthouse runs of 10-15 s).
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import json
import os
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from dcmms_dev.servers import free_port
from tests.support.dev_stack import dev_stack
from tools.bootstrap import chromium_path

ROOT = Path(__file__).resolve().parents[2]
LIGHTHOUSE = ROOT / "node_modules" / ".bin" / "lighthouse"
DIST = ROOT / "web" / "dist"
OUT = ROOT / "reports" / "lighthouse"
TENANT, ROLE = "helios-solar", "supervisor"
CHROMIUM_ARGS = [  # as the browser tests launch it (tests/browser/conftest.py)
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
LIGHTHOUSE_VERSION = "12.2.3"  # package.json pins it
RUN_TIMEOUT_S = 90  # one Lighthouse run; they take 10-20 s here


@dataclass(frozen=True)
class Metric:
    label: str
    audit: str
    unit: str  # "s", "ms" or "" (CLS)
    budget: float | None  # the spec's (§2.2), or Lighthouse's "good" threshold for TBT
    goal: float | None  # the issue's


METRICS = (
    Metric("FCP", "first-contentful-paint", "s", 1.5, None),
    Metric("LCP", "largest-contentful-paint", "s", 2.5, 1.0),
    Metric("TTI", "interactive", "s", 3.5, None),
    Metric("TBT", "total-blocking-time", "ms", 200, None),
    Metric("CLS", "cumulative-layout-shift", "", 0.1, 0.05),
)
SCORE_GOAL = 95
Row = tuple[str, str, dict[str, Any]]  # screen, path, Lighthouse's result

# sessionStorage as the sign-in left it, written into every new tab of the app's origin before the app's scripts
# run (Lighthouse opens a tab of its own; sessionStorage is per tab). Only where a key is missing: a token the app
# refreshed in that tab stays.
SESSION_SCRIPT = """
(() => {
  const origin = %(origin)s, entries = %(entries)s;
  if (location.origin !== origin || location.pathname === '/sign-in') return;
  for (const [key, value] of Object.entries(entries)) {
    if (sessionStorage.getItem(key) === null) sessionStorage.setItem(key, value);
  }
})();
"""


def _preflight() -> str:
    missing = []
    if not (DIST / "index.html").is_file():
        missing.append(f"{DIST / 'index.html'} (the web app's build: make web)")
    if not LIGHTHOUSE.exists():
        missing.append(f"{LIGHTHOUSE} (npm ci at the repository's root installs Lighthouse 12.2.3)")
    chromium = chromium_path()
    if chromium is None:
        missing.append("chromium (Debian's package; python3 tools/bootstrap.py --for test installs it)")
    if missing:
        sys.exit("lighthouse bench: missing " + "; ".join(missing))
    assert chromium is not None
    return chromium


def _screens(state: dict[str, Any]) -> dict[str, str]:
    """Path per screen: the fleet, the first site the API lists, a work order of that tenant, the sign-in form."""
    key = state["api_keys"][TENANT]["admin"]
    with httpx.Client(base_url=state["api_url"], headers={"x-api-key": key}, timeout=10) as api:
        sites = api.get("/api/v1/sites").raise_for_status().json()["items"]
        orders = api.get("/api/v1/work-orders", params={"limit": 1}).raise_for_status().json()["items"]
        if not orders:  # the demo seed has some; make one if it ever has none
            created = api.post(
                "/api/v1/work-orders",
                json={"site_id": sites[0]["id"], "title": "Inspect inverter 1", "type": "inspection"},
            )
            orders = [created.raise_for_status().json()]
    return {
        "fleet": "/",
        "site": f"/sites/{sites[0]['id']}",
        "work order": f"/work-orders/{orders[0]['id']}",
        "sign-in": "/sign-in",
    }


def _sign_in(page: Any, base: str, email: str, password: str) -> dict[str, str]:
    """The form at /sign-in, as a person uses it; the tab's sessionStorage once the app has moved on."""
    page.goto(f"{base}/sign-in")
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url(lambda url: "/sign-in" not in url, timeout=15_000)
    entries: dict[str, str] = page.evaluate("() => Object.fromEntries(Object.entries(sessionStorage))")
    if not entries:
        sys.exit("lighthouse bench: signed in, but the app stored no session in sessionStorage")
    return entries


def _lighthouse(url: str, port: int, form_factor: str, out: Path) -> dict[str, Any]:
    command = [
        str(LIGHTHOUSE),
        url,
        f"--port={port}",
        "--hostname=127.0.0.1",
        "--output=json",
        f"--output-path={out}",
        "--only-categories=performance,accessibility",
        "--quiet",
        "--save-assets",  # the trace (<report>-0.trace.json) and DevTools log beside the report
        # used only if Lighthouse had to start a browser; it finds the running one on --port
        f"--chrome-flags={shlex.join([*CHROMIUM_ARGS, '--headless=new'])}",
        *(["--preset=desktop"] if form_factor == "desktop" else []),
    ]
    env = os.environ | {"CHROME_PATH": "/usr/bin/chromium"}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    if done.returncode != 0 or not out.exists():
        raise RuntimeError(f"lighthouse {url} ({form_factor}) exited {done.returncode}:\n{done.stderr[-2000:]}")
    return json.loads(out.read_text())


# -- reading a report ------------------------------------------------------------------------------------------------


def _value(lhr: dict[str, Any], metric: Metric) -> float | None:
    value = lhr["audits"].get(metric.audit, {}).get("numericValue")
    if value is None:
        return None
    return value / 1000 if metric.unit == "s" else float(value)


def _score(lhr: dict[str, Any], category: str) -> int | None:
    score = lhr["categories"].get(category, {}).get("score")
    return None if score is None else round(score * 100)


def _landed(lhr: dict[str, Any], path: str) -> bool:
    """Whether the run ended on the screen asked for (a lost session would show /sign-in?next=...)."""
    final = httpx.URL(lhr.get("finalDisplayedUrl") or lhr.get("finalUrl") or "")
    return final.path == path


def _table(form_factor: str, rows: list[Row], floor: dict[str, Any], lighthouse_s: list[float]) -> list[str]:
    width = 18
    lines = [f"\nLighthouse {rows[0][2]['lighthouseVersion']}, {form_factor}: {_settings(rows[0][2])}"]
    head = (
        f"{'':<20}" + "".join(f"{f'{m.label} {m.unit}'.strip():<{width}}" for m in METRICS) + f"{'perf':<7}{'a11y':<7}"
    )
    bounds = f"{'budget (goal)':<20}"
    for m in METRICS:
        bounds += f"{f'<{m.budget:g}' + (f' (<{m.goal:g})' if m.goal is not None else ''):<{width}}"
    bounds += f"{f'(>={SCORE_GOAL})':<7}{f'(>={SCORE_GOAL})':<7}"
    lines += [head, bounds]
    for screen, path, lhr in [*rows, ("floor (static page)", "/", floor)]:
        line = f"{screen:<20}"
        for m in METRICS:
            value = _value(lhr, m)
            if value is None:
                line += f"{'n/a':<{width}}"
                continue
            assert m.budget is not None
            shown = f"{value:.3f}" if m.unit == "" else f"{value:.2f}" if m.unit == "s" else f"{value:.0f}"
            mark = " OVER" if value >= m.budget else " MISS" if m.goal is not None and value >= m.goal else ""
            line += f"{f'{shown} {value / m.budget:.2f}x{mark}':<{width}}"
        for category in ("performance", "accessibility"):
            score = _score(lhr, category)
            line += f"{'n/a' if score is None else f'{score}' + ('' if score >= SCORE_GOAL else '!'):<7}"
        if not _landed(lhr, path):
            line += f"  ended on {lhr.get('finalDisplayedUrl')}, not {path}"
        lines.append(line.rstrip())
    lines += [
        "  value, then value / budget: the spec's (§2.2) for FCP, LCP, TTI, CLS; for TBT, which it has none for,",
        "  Lighthouse's 'good' threshold (200 ms). MISS: within the budget, not the issue's goal; OVER: over the budget;",
        "  a score with ! is under the goal. floor: a static page (no script, no stylesheet) from 127.0.0.1, same run.",
        f"  Lighthouse's time per screen: {', '.join(f'{s:.0f} s' for s in lighthouse_s)}",
    ]
    return lines


def _settings(lhr: dict[str, Any]) -> str:
    s = lhr["configSettings"]
    t = s.get("throttling", {})
    return (
        f"{s.get('throttlingMethod')}d throttling: RTT {t.get('rttMs'):g} ms, {t.get('throughputKbps', 0) / 1024:.1f} "
        f"Mbit/s, CPU x{t.get('cpuSlowdownMultiplier'):g}; screen {s['screenEmulation']['width']}x"
        f"{s['screenEmulation']['height']}; benchmarkIndex {lhr['environment'].get('benchmarkIndex'):.0f}"
    )


def _items(lhr: dict[str, Any], audit: str) -> list[dict[str, Any]]:
    details = lhr["audits"].get(audit, {}).get("details") or {}
    return list(details.get("items") or [])


def _causes(
    label: str, lhr: dict[str, Any], floor: dict[str, Any] | None, candidates: list[dict[str, Any]]
) -> list[str]:
    """What the report says about a miss: LCP against the floor, the LCP element, the requests before the LCP in
    the unthrottled load grouped into sequential waves (each costs at least a round trip once throttled), the
    main-thread work, layout shifts, failing accessibility audits, and Lighthouse's flagged opportunities."""
    audits: dict[str, Any] = lhr["audits"]
    out: list[str] = []
    lcp = _value(lhr, METRICS[1]) or 0.0
    cls = _value(lhr, METRICS[4]) or 0.0
    perf, a11y = _score(lhr, "performance") or 0, _score(lhr, "accessibility") or 0
    if lcp < 1.0 and cls < 0.05 and perf >= SCORE_GOAL and a11y >= SCORE_GOAL:
        return out
    observed = (_items(lhr, "metrics") or [{}])[0]
    floor_lcp = _value(floor, METRICS[1]) if floor else None
    head = f"  {label}: LCP {lcp:.2f} s"
    if floor_lcp:
        head += f" = floor {floor_lcp:.2f} s + {lcp - floor_lcp:.2f} s"
    out.append(head)
    if lcp >= 1.0 or perf < SCORE_GOAL:
        if candidates:
            listed = " -> ".join(
                f"{c.get('nodeName', '?')} {c.get('size', 0):.0f} px² at {c['ms']:.0f} ms" for c in candidates
            )
            out.append(f"    LCP candidates (the trace, unthrottled; the last is the LCP element): {listed}")
        lcp_at = float(observed.get("observedLargestContentfulPaint") or 0)
        out.append(
            f"    unthrottled load: FCP {observed.get('observedFirstContentfulPaint', 0):.0f} ms, LCP {lcp_at:.0f} ms; "
            "requests started before that LCP, in waves (start-end ms):"
        )
        for n, wave in enumerate(_waves(lhr, lcp_at), 1):
            listed = ", ".join(
                f"{_short(r['url'])} {r['networkRequestTime']:.0f}-{r['networkEndTime']:.0f}"
                + (f" {r['transferSize'] / 1024:.0f} KB" if r.get("transferSize", 0) >= 10240 else "")
                for r in wave
            )
            out.append(f"      {n}. {listed}")
        tasks = _items(lhr, "long-tasks")
        if tasks:
            listed = ", ".join(f"{_short(t['url'])} {t['duration']:.0f} ms" for t in tasks[:4])
            out.append(f"    long tasks (simulated CPU): {listed}")
    if cls >= 0.05:
        for item in _items(lhr, "layout-shifts")[:4]:
            node = item.get("node") or {}
            out.append(f"    layout shift {item.get('score', 0):.3f}: {node.get('snippet', '')[:90]}")
    if a11y < SCORE_GOAL:
        for ref in lhr["categories"]["accessibility"]["auditRefs"]:
            a = audits.get(ref["id"], {})
            if ref.get("weight") and a.get("score") == 0:
                nodes = [i.get("node", {}).get("snippet", "")[:70] for i in _items(lhr, ref["id"])[:2]]
                out.append(f"    a11y fail: {a.get('title')} {nodes}")
    flagged = [
        f"{a['title']} ({a['displayValue']})"
        for a in audits.values()
        if a.get("scoreDisplayMode") in ("metricSavings", "numeric", "binary")
        and a.get("score") is not None
        and a["score"] < 0.9
        and a.get("displayValue")
        and not _not_actionable(a)
    ]
    if flagged:
        out.append(f"    flagged: {'; '.join(flagged)}")
    return out


def _not_actionable(audit: dict[str, Any]) -> bool:
    """bf-cache's reasons when they are all the browser's flags (Playwright starts Chromium without it)."""
    items = (audit.get("details") or {}).get("items") or []
    return bool(items) and all(i.get("failureType") == "Not actionable" for i in items)


def _waves(lhr: dict[str, Any], before_ms: float) -> list[list[dict[str, Any]]]:
    """The requests that started before ``before_ms``, grouped: a request opens a new wave when it starts after
    the first of the current wave's requests has finished (it could not have been known when that wave began)."""
    requests = sorted(
        (r for r in _items(lhr, "network-requests") if r.get("networkRequestTime", 1e9) < before_ms),
        key=lambda r: r["networkRequestTime"],
    )
    waves: list[list[dict[str, Any]]] = []
    for r in requests:
        if not waves or r["networkRequestTime"] > min(w["networkEndTime"] for w in waves[-1]):
            waves.append([])
        waves[-1].append(r)
    return waves


def _short(url: str) -> str:
    parsed = httpx.URL(url)
    path = parsed.path or url
    return path + (f"?{parsed.query.decode()[:30]}" if parsed.query else "")


def _errored(results: dict[str, list[Row]]) -> list[str]:
    return sorted(
        {
            key
            for rows in results.values()
            for _, _, lhr in rows
            for key, a in lhr["audits"].items()
            if a.get("scoreDisplayMode") == "error"
        }
    )


# -- the floor, the LCP candidates ----------------------------------------------------------------------------------

FLOOR_PAGE = b"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Floor</title></head><body><main><h1>Fleet</h1><p>A static page: one document, no script, no stylesheet,
no request after it.</p></main></body></html>
"""


@contextlib.contextmanager
def _floor_server() -> Iterator[str]:
    """The floor's page on 127.0.0.1 (a thread of this process): what Lighthouse reports for a page that needs
    nothing after its document, under the same emulation and throttling."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(FLOOR_PAGE)))
            self.end_headers()
            self.wfile.write(FLOOR_PAGE)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def _lcp_candidates(trace: Path) -> list[dict[str, Any]]:
    """The page's LCP candidates in Lighthouse's trace (``--save-assets``): when (ms after the navigation), what
    element, how large. Lighthouse 12.2.3 cannot name the LCP element with this Chromium (see the note the bench
    prints), but Chromium's own trace events do."""
    with contextlib.suppress(OSError, ValueError):
        data = json.loads(trace.read_text())
        events = data["traceEvents"] if isinstance(data, dict) else data
        starts = [
            e["ts"]
            for e in events
            if e.get("name") == "navigationStart"
            and str((e.get("args") or {}).get("data", {}).get("documentLoaderURL", "")).startswith("http")
        ]
        if not starts:
            return []
        return [
            {"ms": (e["ts"] - starts[-1]) / 1000, **(e.get("args") or {}).get("data", {})}
            for e in events
            if e.get("name") == "largestContentfulPaint::Candidate" and e["ts"] >= starts[-1]
        ]
    return []


# -- the bench -------------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--form-factors", default="desktop,mobile", help="comma-separated: desktop (--preset=desktop), mobile"
    )
    args = parser.parse_args()
    form_factors = [f.strip() for f in args.form_factors.split(",") if f.strip()]
    chromium = _preflight()
    began = time.perf_counter()
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*.json"):  # reports, traces and DevTools logs of an earlier run
        old.unlink()

    from playwright.sync_api import sync_playwright

    results: dict[str, list[Row]] = {f: [] for f in form_factors}
    floors: dict[str, dict[str, Any]] = {}
    durations: dict[str, list[float]] = {f: [] for f in form_factors}
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dcmms-lighthouse-")))
        state = stack.enter_context(dev_stack(tmp / "stack"))
        floor_url = stack.enter_context(_floor_server())
        base = str(state["api_url"]).rstrip("/")
        screens = _screens(state)
        person = state["users"][TENANT][ROLE]
        port = free_port()
        pw = stack.enter_context(sync_playwright())
        context = pw.chromium.launch_persistent_context(
            str(tmp / "profile"),  # the browser's default context: the one Lighthouse's tabs open in
            executable_path=chromium,
            headless=True,
            args=[*CHROMIUM_ARGS, f"--remote-debugging-port={port}"],
            no_viewport=True,  # Lighthouse emulates the screen; Playwright sets no viewport of its own
        )
        stack.callback(context.close)
        page = context.pages[0] if context.pages else context.new_page()
        entries = _sign_in(page, base, person["email"], person["password"])
        origin = httpx.URL(base)
        context.add_init_script(
            SESSION_SCRIPT
            % {"origin": json.dumps(f"{origin.scheme}://{origin.host}:{origin.port}"), "entries": json.dumps(entries)}
        )
        page.goto("about:blank")  # the signed-in tab idles (no polling) while Lighthouse measures
        for form_factor in form_factors:
            floors[form_factor] = _lighthouse(floor_url, port, form_factor, _report(form_factor, "floor"))
            for screen, path in screens.items():
                started = time.perf_counter()
                lhr = _lighthouse(base + path, port, form_factor, _report(form_factor, screen))
                durations[form_factor].append(time.perf_counter() - started)
                results[form_factor].append((screen, path, lhr))

    print(f"\nLighthouse on the web app: {TENANT} {ROLE} signed in (sign-in: signed out); cold loads")
    for form_factor in form_factors:
        print("\n".join(_table(form_factor, results[form_factor], floors[form_factor], durations[form_factor])))
    causes = [
        line
        for form_factor in form_factors
        for screen, _, lhr in results[form_factor]
        for line in _causes(
            f"{form_factor} {screen}",
            lhr,
            floors[form_factor],
            _lcp_candidates(_report(form_factor, screen, trace=True)),
        )
    ]
    if causes:
        print("\nWhat the reports say about each miss of a goal:")
        print("\n".join(causes))
    errored = _errored(results)
    if errored:
        print(
            f"\nnote: audits Lighthouse {LIGHTHOUSE_VERSION} could not run on this Chromium ({_chromium_version(chromium)}): "
            f"{', '.join(errored)}. Its trace engine reads PipelineReporter's 'chrome_frame_reporter', which newer "
            "Chromium names 'frame_reporter'; the metrics and scores above do not use them. The LCP candidates above "
            "are Chromium's own trace events (largestContentfulPaint::Candidate)."
        )
    print(
        f"\nreports: {OUT.relative_to(ROOT)}/<form factor>-<screen>.json (the Lighthouse viewer opens them), "
        "with each run's trace (-0.trace.json, for DevTools' Performance panel) and DevTools log"
    )
    print(f"bench {time.perf_counter() - began:.0f} s")


def _report(form_factor: str, screen: str, *, trace: bool = False) -> Path:
    name = f"{form_factor}-{screen.replace(' ', '-')}"
    return OUT / (f"{name}-0.trace.json" if trace else f"{name}.json")


def _chromium_version(path: str) -> str:
    done = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30)
    return done.stdout.strip().split(" built ")[0] or "unknown"


if __name__ == "__main__":
    main()
