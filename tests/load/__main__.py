"""Run one spec §10.2 load scenario against the local stack and write its report.

    python -m tests.load --scenario baseline --factor 0.02

Finds the running stack (``.dcmms/local.json``) or starts one for the run, seeds the data set, gives
every virtual user its own enterprise-tier key, runs Locust headless against 127.0.0.1 for the
scenario's users, ramp-up and duration times ``--factor`` (capped), samples CPU per process, then writes
``reports/load/<scenario>-<UTC time>.html`` (Locust's report) and ``.json`` (the summary), prints the
table and exits 1 if a threshold fails (reads p95 < 200 ms, writes p95 < 500 ms, errors < 0.1%), 2 if the
run could not be made. Unless ``--no-floor``, a short floor phase follows: a minimal FastAPI app under the
API's uvicorn settings, driven alike, whose requests/s per core the API's is compared with.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.load import report
from tests.load.cpu import CpuSampler, stack_processes
from tests.load.lag import LagSampler
from tests.load.scenarios import (
    DEFAULT_FACTOR,
    ENDPOINT_WEIGHTS,
    FLOOR_DURATION_S,
    FLOOR_RAMP_MAX_S,
    FLOOR_ROUTE,
    MAX_RUN_S,
    MAX_USERS,
    SCENARIOS,
    ScaledRun,
    gateways_for,
    require_loopback,
    scale,
)
from tests.load.target import (
    DEMO_TENANT,
    ROOT,
    SPEC_TENANT,
    Target,
    ensure_spec_scale,
    find_running,
    provision_keys,
    start_stack,
    stop_stack,
)

MAX_KEYS = 250  # users beyond this share keys, still far below any per-key limit at ~1 req/s each
STOP_GRACE_S = 10
SETUP_ALLOWANCE_S = 120  # Locust start-up and the catalogue read, on top of the run time
STACK_LOG_LINES = 400
WAIT_S = (0.5, 1.5)  # think time between a user's requests, in the main run and the floor phase
FLOOR_START_TIMEOUT_S = 30
FLOOR_ALLOWANCE_S = 60  # the floor's Locust start-up and stop, on top of its run time
API_PROCESS_NOTE = (
    "api is the whole dcmms dev process: uvicorn with the application, the local Kinesis poller (which runs "
    "the ingest function into PostgreSQL for the telemetry posts) and the scheduler"
)


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="baseline")
    parser.add_argument(
        "--factor", type=float, default=DEFAULT_FACTOR, help="multiplies users, ramp-up and duration (0-1]"
    )
    parser.add_argument(
        "--dataset",
        choices=["demo", "spec"],
        default="demo",
        help="demo: the two demo tenants (load on helios-solar); spec: also the spec's scale "
        "(200 sites, 50,000 assets, 10,000 work orders; load on spec-scale), seeded if missing",
    )
    parser.add_argument(
        "--ingest", action=argparse.BooleanOptionalAction, default=True, help="telemetry gateways (default on)"
    )
    parser.add_argument("--gateway-share", type=float, default=0.04, help="share of the users that are gateways")
    parser.add_argument("--records-per-request", type=int, default=25, help="records per ingest request")
    parser.add_argument("--gateway-interval", type=float, default=1.0, help="seconds between a gateway's posts")
    parser.add_argument("--state-file", type=Path, default=ROOT / ".dcmms" / "local.json", help="a running stack")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "load", help="report directory")
    parser.add_argument("--max-users", type=int, default=MAX_USERS)
    parser.add_argument("--max-run-s", type=int, default=MAX_RUN_S)
    parser.add_argument(
        "--floor",
        action=argparse.BooleanOptionalAction,
        default=True,
        help=f"after the run, a {FLOOR_DURATION_S}-s phase against a minimal FastAPI app under the API's "
        "server settings, for requests/s per core beside the API's (default on; --no-floor skips it)",
    )
    return parser.parse_args(argv)


def _locust_command(run: ScaledRun, host: str, html: Path | None, locustfile: str = "locustfile.py") -> list[str]:
    return [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(Path(__file__).with_name(locustfile)),
        "--headless",
        "--users",
        str(run.users),
        "--spawn-rate",
        f"{run.spawn_rate:.3f}",
        "--run-time",
        f"{run.run_time_s}s",
        "--stop-timeout",
        str(STOP_GRACE_S),
        "--host",
        require_loopback(host),
        *(["--html", str(html)] if html is not None else []),
        "--only-summary",
        "--loglevel",
        "WARNING",
        "--exit-code-on-error",
        "0",  # failed requests are judged by the thresholds; a non-zero exit means Locust itself failed
    ]


def _run_locust(command: list[str], config: Path, log: Path, sampler: CpuSampler, limit_s: float) -> None:
    """Locust in its own process (gevent patches whatever imports it), killed if it overruns ``limit_s``."""
    env = os.environ | {"DCMMS_LOAD_CONFIG": str(config)}
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
        sampler.add("locust", process.pid, children=True)
        try:
            process.wait(limit_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
            raise RuntimeError(f"Locust overran {limit_s:.0f} s and was killed; see {log}") from None
    if process.returncode != 0:
        raise RuntimeError(f"Locust failed ({process.returncode}); see {log}")


def _add_to_summary(path: Path, fields: dict[str, Any]) -> None:
    if path.exists():
        path.write_text(json.dumps(json.loads(path.read_text()) | fields, indent=2) + "\n")


def _server_metrics(api_url: str) -> dict[report.MetricKey, float] | None:
    """The API's ``/metrics`` (served by the local stack), or None where it is not served."""
    try:
        with urllib.request.urlopen(require_loopback(api_url) + "/metrics", timeout=10) as response:
            return report.parse_metrics(response.read().decode())
    except OSError:
        return None


def _rate_limit_note(keys: int, users: int, tenant: str) -> str:
    return (
        f"{keys} enterprise-tier keys, each of its own user in {tenant}, shared round-robin by {users} virtual "
        "users: per-key (100,000/h, burst 10,000) and per-user (work orders 1,000/min) limits stay far above "
        "one user's ~1 request/s, so the run measures the API (with its one rate-limit call to Redis per "
        "request), not refusals; any 429 would still count as an error"
    )


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    scenario = SCENARIOS[args.scenario]
    run = scale(scenario, args.factor, args.max_users, args.max_run_s)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"{run.scenario}-{stamp}"
    html, summary_path = stem.with_suffix(".html"), stem.with_suffix(".json")
    workdir = Path(tempfile.mkdtemp(prefix="dcmms-load-"))  # holds keys: never inside reports/
    target: Target | None = None
    load_before = os.getloadavg()
    try:
        target = find_running(args.state_file)
        if target is None:
            print(f"no running stack at {args.state_file}; starting one for this run", file=sys.stderr)
            target = start_stack(workdir)
            print(f"  up in {target.startup_s:.1f} s at {target.api_url}", file=sys.stderr)
        else:
            print(f"using the running stack at {target.api_url}", file=sys.stderr)
        tenant = DEMO_TENANT
        if args.dataset == "spec":
            ensure_spec_scale(target)
            tenant = SPEC_TENANT
            if target.seed_s is not None:
                print(f"  seeded the spec's scale in {target.seed_s:.1f} s", file=sys.stderr)
        gateways = gateways_for(run.users, args.gateway_share) if args.ingest else 0
        started = time.monotonic()
        keys = provision_keys(target, tenant, min(run.users, MAX_KEYS))
        keys_s = time.monotonic() - started
        config = workdir / "locust.json"
        stats_file = workdir / "stats.json"
        config.write_text(
            json.dumps(
                {
                    "host": target.api_url,
                    "keys": keys,
                    "gateways": gateways,
                    "records_per_request": args.records_per_request,
                    "gateway_interval_s": args.gateway_interval,
                    "wait_s": list(WAIT_S),
                    "catalogue_sites": 5,
                    "catalogue_assets_per_site": 100,
                    "stats_out": str(stats_file),
                }
            )
        )
        os.chmod(config, 0o600)
        print(
            f"{run.scenario} x {run.factor}: {run.users} users ({gateways} telemetry gateways), ramp-up "
            f"{run.ramp_s} s, then {run.duration_s} s, against {target.api_url}",
            file=sys.stderr,
        )
        metrics_before = _server_metrics(target.api_url)
        sampler = CpuSampler(stack_processes(target.state))
        sampler.start()
        lag = LagSampler(target.api_url)
        lag.start()
        locust_started = time.time()
        try:
            _run_locust(
                _locust_command(run, target.api_url, html),
                config,
                stem.with_suffix(".log"),
                sampler,
                run.run_time_s + STOP_GRACE_S + SETUP_ALLOWANCE_S,
            )
        finally:
            sampler.stop()
            lag.stop()
        stats = json.loads(stats_file.read_text())
        summary = _summary(args, run, target, tenant, keys, gateways, stats, sampler, locust_started, load_before)
        summary["projection"] = lag.summary()
        metrics_after = _server_metrics(target.api_url)
        if metrics_before is not None and metrics_after is not None:
            summary["server"] = report.server_breakdown(metrics_before, metrics_after)
        summary["rps_per_core"] = _per_core(args, run, target, summary, stats, workdir, stem)
        summary["timings_s"] = {"provision_keys": round(keys_s, 1)}
        summary["html"] = str(html.relative_to(ROOT)) if html.is_relative_to(ROOT) else str(html)
        summary_path.write_text(json.dumps(summary, indent=2) + "\n")
        print(report.format_table(summary))
        print(f"report: {html}\nsummary: {summary_path}")
        if summary["total"]["requests"] == 0:
            print(f"no requests were made: see {stem.with_suffix('.log')}", file=sys.stderr)
            return 2
        return 0 if summary["passed"] else 1
    except (RuntimeError, ValueError, OSError, subprocess.SubprocessError) as exc:
        print(f"load test not run: {exc}", file=sys.stderr)
        return 2
    finally:
        if target is not None:
            stop_stack(target)
            if target.log is not None and target.log.exists():  # the end of the stack's own log
                lines = target.log.read_text(errors="replace").splitlines()
                stem.with_suffix(".stack.log").write_text("\n".join(lines[-STACK_LOG_LINES:]) + "\n")
                _add_to_summary(summary_path, {"stack_exceptions": report.exception_counts(lines)})
        shutil.rmtree(workdir, ignore_errors=True)


def _per_core(
    args: argparse.Namespace,
    run: ScaledRun,
    target: Target,
    summary: dict[str, Any],
    stats: dict[str, Any],
    workdir: Path,
    stem: Path,
) -> dict[str, Any]:
    """The API's requests/s per core (steady successful req/s over the ``api`` group's mean cores) beside the
    floor phase's, and their ratio. A stack the runner started is stopped first: its idle servers would
    otherwise share the cores with the floor phase. A failed floor phase is reported, not fatal."""
    api_cpu = summary["cpu"]["groups"].get("api")
    api = report.per_core(summary["total"]["steady_ok_rps"], api_cpu["mean"] if api_cpu else None)
    floor, phase, skipped = None, None, "--no-floor"
    if args.floor and summary["total"]["requests"] == 0:
        skipped = "the main run made no requests"
    elif args.floor:
        stopped_first = target.process is not None
        if stopped_first:
            stop_stack(target)
        try:
            floor, phase = _floor_phase(run, workdir, stem, report.mean_content_length(stats, "GET"))
            phase["stack_stopped_first"] = stopped_first
            skipped = None
        except (RuntimeError, OSError, subprocess.SubprocessError, KeyError, ValueError) as exc:
            skipped = f"failed: {exc}"
            print(f"floor phase {skipped}", file=sys.stderr)
    return report.floor_comparison(api, floor) | {
        "floor_skipped": skipped,
        "floor_phase": phase,
        "note": API_PROCESS_NOTE,
    }


def _wait_until_answering(url: str, process: subprocess.Popen[bytes], log: Path, timeout_s: float) -> None:
    give_up = time.monotonic() + timeout_s
    while time.monotonic() < give_up:
        if process.poll() is not None:
            raise RuntimeError(f"the floor app exited ({process.returncode}); see {log}")
        try:
            with urllib.request.urlopen(require_loopback(url), timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the floor app did not answer within {timeout_s:.0f} s; see {log}")


def _floor_phase(
    main_run: ScaledRun, workdir: Path, stem: Path, body_bytes: float | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The floor: ``tests/load/floor_app.py`` under uvicorn as the API is served, in its own process on
    127.0.0.1, driven by the main run's users and think times on one GET route for a short bounded phase,
    its CPU sampled as the stack's is. Returns its ``report.per_core`` row and what the phase was."""
    from dcmms_dev.servers import free_port

    run = ScaledRun(
        "floor", main_run.factor, main_run.users, min(main_run.ramp_s, FLOOR_RAMP_MAX_S), FLOOR_DURATION_S, ()
    )
    body = round(body_bytes) if body_bytes else None
    port = free_port()
    host = require_loopback(f"http://127.0.0.1:{port}")
    log = stem.with_name(stem.name + ".floor.log")
    command = [sys.executable, "-m", "tests.load.floor_app", "--port", str(port)]
    if body:
        command += ["--body-bytes", str(body)]
    print(
        f"floor: minimal FastAPI app at {host}, {run.users} users, ramp-up {run.ramp_s} s, then {run.duration_s} s",
        file=sys.stderr,
    )
    with log.open("wb") as out:
        server = subprocess.Popen(command, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
    try:
        _wait_until_answering(host + FLOOR_ROUTE, server, log, FLOOR_START_TIMEOUT_S)
        config, stats_file = workdir / "floor.json", workdir / "floor-stats.json"
        config.write_text(
            json.dumps({"host": host, "route": FLOOR_ROUTE, "wait_s": list(WAIT_S), "stats_out": str(stats_file)})
        )
        sampler = CpuSampler({"floor": (server.pid, False)})
        sampler.start()
        try:
            _run_locust(
                _locust_command(run, host, None, "floor_locustfile.py"),
                config,
                stem.with_name(stem.name + ".floor-locust.log"),
                sampler,
                run.run_time_s + STOP_GRACE_S + FLOOR_ALLOWANCE_S,
            )
        finally:
            sampler.stop()
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)
    stats = json.loads(stats_file.read_text())
    result = report.summarize_stats(stats, run.ramp_s)
    start = float(stats["start_time"])
    cpu = report.summarize_cpu(sampler.samples, start + run.ramp_s, os.cpu_count() or 1, until=float(stats["end_time"]))
    floor_cpu = cpu["groups"].get("floor")
    row = report.per_core(result["total"]["steady_ok_rps"], floor_cpu["mean"] if floor_cpu else None)
    phase = {
        "app": "tests/load/floor_app.py",
        "server": 'uvicorn.run(app, host="127.0.0.1", port=..., log_level="warning", access_log=False)',
        "route": f"GET {FLOOR_ROUTE}",
        "body_bytes": body,
        "run": run.as_dict(),
        "wait_s": list(WAIT_S),
        "total": result["total"],
        "cpu": cpu,
    }
    return row, phase


def _summary(
    args: argparse.Namespace,
    run: ScaledRun,
    target: Target,
    tenant: str,
    keys: list[str],
    gateways: int,
    stats: dict[str, Any],
    sampler: CpuSampler,
    locust_started: float,
    load_before: tuple[float, float, float],
) -> dict[str, Any]:
    result = report.summarize_stats(stats, run.ramp_s)
    checks = report.check_thresholds(result)
    cpu = report.summarize_cpu(
        sampler.samples, float(stats["start_time"]) + run.ramp_s, os.cpu_count() or 1, until=float(stats["end_time"])
    )
    scenario = SCENARIOS[run.scenario]
    return {
        "scenario": run.scenario,
        "description": scenario.description,
        "factor": run.factor,
        "spec": {"users": scenario.users, "ramp_s": scenario.ramp_s, "duration_s": scenario.duration_s},
        "run": run.as_dict(),
        "started_at": datetime.fromtimestamp(locust_started, UTC).isoformat(),
        "target": target.describe() | {"dataset": args.dataset, "tenant": tenant},
        "weights": {f"{m} {p}": w for (m, p), w in ENDPOINT_WEIGHTS.items()},
        "ingest": {
            "gateways": gateways,
            "records_per_request": args.records_per_request,
            "interval_s": args.gateway_interval,
        },
        "rate_limits": _rate_limit_note(len(keys), run.users, tenant),
        "elapsed_s": result["elapsed_s"],
        "endpoints": result["endpoints"],
        "reads": result["reads"],
        "writes": result["writes"],
        "total": result["total"],
        "errors": result["errors"],
        "thresholds": report.threshold_limits(),
        "checks": checks,
        "passed": all(c["passed"] for c in checks),
        "cpu": cpu,
        "saturation": report.saturation_verdict(cpu),
        "machine": {"cores": os.cpu_count(), "load_average_before": load_before},
    }


if __name__ == "__main__":
    sys.exit(main())
