"""The ``dcmms`` command: ``dev`` starts the local stack, ``seed`` loads data into a running one."""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

NO_STACK = (
    "no local stack ({state} not found): start it with `make run`, or set DCMMS_AWS_ENDPOINT_URL "
    "(an AWS-compatible endpoint) or AWS credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID) to use a deployed one"
)


class CliError(Exception):
    """A one-line reason the command cannot go on; ``main`` prints it instead of a traceback."""


def _target(state_file: str) -> tuple[Any, dict[str, Any] | None]:
    """The settings of the running local stack (and its state), else of the environment's AWS.

    Refuses, in one line, a state file whose stack has stopped and an environment with neither an
    endpoint nor credentials, so no subcommand reaches botocore's credential chain and a traceback."""
    from dcmms.config import Settings

    state_path = Path(state_file)
    if state_path.exists():
        from dcmms_dev.servers import pid_alive
        from dcmms_dev.stack import settings_from_state, use_emulated_aws

        state = json.loads(state_path.read_text())
        if state.get("pid") and not pid_alive(int(state["pid"])):
            raise CliError(
                f"{state_path} belongs to a local stack that is no longer running (pid {state['pid']}): "
                "start it again with `make run`"
            )
        use_emulated_aws()
        return settings_from_state(state), state
    settings = Settings.from_environ()
    if settings.aws_endpoint_url is None:
        import boto3

        if boto3.Session().get_credentials() is None:
            raise CliError(NO_STACK.format(state=state_path))
    return settings, None


def _one_line(exc: Exception) -> str | None:
    """One line for a failure to reach a service (AWS: unreachable, no credentials, a refused call; the
    API: unreachable or refusing); None for anything else, which is a bug and keeps its traceback."""
    import urllib.error
    import urllib.parse

    import botocore.exceptions as aws

    if isinstance(exc, urllib.error.HTTPError):
        return f"the API answered {exc.code} for {exc.url}"
    if isinstance(exc, urllib.error.URLError):
        return f"cannot reach the API ({exc.reason}): is the local stack running? start it with `make run`"
    from dcmms_dev.servers import MissingPrerequisite

    if isinstance(exc, MissingPrerequisite):
        return str(exc)
    if isinstance(exc, aws.EndpointConnectionError):
        where = urllib.parse.urlsplit(str(exc.kwargs.get("endpoint_url", "")))
        return (
            f"cannot reach AWS at {where.scheme}://{where.netloc}: is the local stack running? start it with `make run`"
        )
    if isinstance(exc, aws.ClientError):
        error = exc.response.get("Error", {})
        return f"AWS refused {exc.operation_name}: {error.get('Code')}: {error.get('Message')}"
    if isinstance(exc, aws.BotoCoreError):
        return str(exc)
    return None


def _dev(args: argparse.Namespace) -> int:
    from dcmms_dev.stack import run_dev

    run_dev(args.host, args.port, args.seed, Path(args.state_file), simulate=args.simulate)
    return 0


def _seed(args: argparse.Namespace) -> int:
    """Seed a running local stack, found through its state file."""
    from dcmms.store.models import bind
    from dcmms_dev.seed import seed_demo, seed_spec_scale
    from dcmms_dev.stack import _print_progress

    state_path = Path(args.state_file)
    if not state_path.exists():
        raise CliError(f"no local stack ({state_path} not found): start it with `make run`, then seed it")
    settings, state = _target(args.state_file)
    assert state is not None
    bind(settings)
    started = time.monotonic()
    if args.scale == "spec":
        seed = seed_spec_scale(
            _print_progress, sites=args.sites, assets=args.assets, active_work_orders=args.work_orders
        )
        state["api_keys"][seed.tenant.id] = seed.keys
    else:
        for seed in seed_demo():
            state["api_keys"][seed.tenant.id] = seed.keys
    from dcmms_dev.stack import write_state

    write_state(state_path, state)
    print(f"seeded '{args.scale}' in {time.monotonic() - started:.1f} s; keys added to {state_path}")
    return 0


def _dlq(args: argparse.Namespace) -> int:
    """List or replay the telemetry dead letters of the running local stack (or AWS, via settings)."""
    import base64

    from dcmms import clients
    from dcmms.telemetry.ingest import S3DeadLetters

    settings, _ = _target(args.state_file)
    dead = S3DeadLetters(clients.aws_client("s3", settings), settings.dead_letter_bucket)
    entries = [e for e in dead.list(args.limit) if args.reason is None or args.reason in e["reason"]]
    # oldest first; within one arrival instant by shard and sequence number (as numbers, not as text)
    entries.sort(
        key=lambda e: (e["arrived_at"], e.get("shard_id", ""), len(e["sequence_number"]), e["sequence_number"])
    )
    if args.action == "list":
        if entries:
            print(f"{'arrived (UTC)':<25}{'sequence number':<58}{'partition key':<24}{'reason':<40}payload")
        for e in entries:
            payload = base64.b64decode(e["payload_b64"])
            print(
                f"{_utc(e['arrived_at']):<25}{e['sequence_number']:<58}{_clip(e['partition_key'], 22):<24}"
                f"{_clip(e['reason'], 38):<40}{_excerpt(payload)}"
            )
        print(f"{len(entries)} dead letter(s)")
        return 0
    kinesis = clients.aws_client("kinesis", settings)
    for e in entries:  # back onto the stream; the entry goes only once Kinesis accepted the record
        kinesis.put_record(
            StreamName=settings.kinesis_stream,
            Data=base64.b64decode(e["payload_b64"]),
            PartitionKey=e["partition_key"] or e["sequence_number"],
        )
        dead.delete(e["key"])
    print(f"replayed {len(entries)} record(s) to {settings.kinesis_stream}")
    return 0


def _utc(iso: str) -> str:
    from datetime import UTC, datetime

    return datetime.fromisoformat(iso).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:23]


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _excerpt(payload: bytes, width: int = 60) -> str:
    """The start of a payload as one printable line: enough to tell records apart, never a control code."""
    text = payload[: width * 4].decode("utf-8", errors="replace")
    text = "".join(c if c.isprintable() else "·" for c in text)
    return _clip(text, width) + f"  ({len(payload)} bytes)"


def _simulate(args: argparse.Namespace) -> int:
    """Site-gateway simulator against the local stack (state file) or any API + Kinesis endpoint."""
    from dcmms import clients
    from dcmms_dev import simulator

    settings, state = _target(args.state_file)
    if state is not None:
        if args.tenant not in state["api_keys"]:
            raise CliError(f"tenant {args.tenant!r} is not in the local stack; it has {', '.join(state['api_keys'])}")
        api_url = args.api_url or state["api_url"]
        api_key = args.api_key or state["api_keys"][args.tenant]["viewer"]
    else:
        api_url, api_key = args.api_url, args.api_key
        if not (api_url and api_key):
            raise CliError("without a local stack, simulate needs --api-url and --api-key to read the fleet")
    fleet = simulator.fleet_from_api(api_url, api_key, args.sites, args.assets)
    model = simulator.FleetModel(fleet, rng=random.Random(args.seed))
    for asset_id in args.fault:
        try:
            model.inject_fault(asset_id)
        except ValueError as exc:
            raise CliError(f"--fault {asset_id}: {exc}") from None
        print(f"  {asset_id}: faulted for the whole run", file=sys.stderr)
    print(f"simulating {len(fleet)} assets -> {settings.kinesis_stream} for {args.duration} s", file=sys.stderr)
    sent, failed = simulator.run(
        model,
        clients.aws_client("kinesis", settings),
        settings.kinesis_stream,
        args.duration,
        args.interval,
        report=lambda s, f: print(f"\r  records put: {s}  failed: {f}", end="", file=sys.stderr, flush=True),
    )
    print(f"\nput {sent} records ({failed} failed after retries)")
    return 0 if failed == 0 else 1


def _reindex(args: argparse.Namespace) -> int:
    """Rebuild the read model of the running local stack (or of the environment's settings) from DynamoDB."""
    from dcmms.readmodel.router import DatabaseRouter
    from dcmms_dev.reindex import print_progress, reindex

    settings, state = _target(args.state_file)
    if state is not None:
        settings = settings.model_copy(update={"database_url": state["database_url"]})
    router = DatabaseRouter(settings.database_url)
    started = time.monotonic()
    try:
        counts = reindex(settings, router, args.tenant, print_progress)
    finally:
        router.close()
    for table, c in counts.items():
        print(f"  {table:<12} {c['items']:>7} items, {c['written']:>7} rows written, {c['removed']:>5} removed")
    print(
        f"reindexed {'tenant ' + args.tenant if args.tenant else 'every tenant'} in {time.monotonic() - started:.1f} s"
    )
    return 0


def _kpi(args: argparse.Namespace) -> int:
    """Refresh the dashboards' materialized KPIs now, as the kpi function's 5-minute schedule does."""
    from dcmms import runtime

    settings, state = _target(args.state_file)
    if state is not None:
        settings = settings.model_copy(update={"database_url": state["database_url"]})
    outcome = runtime.refresh_kpis(settings)
    if not outcome.refreshed:
        print("another refresh is running; its figures will be the dashboards' next")
        return 0
    print(f"refreshed the dashboard KPIs in {outcome.seconds:.2f} s (as_of {outcome.as_of.isoformat()})")
    return 0


def _token(args: argparse.Namespace) -> int:
    """Sign a demo user of the running stack in and print their ID token (or access token), for
    ``curl -H "Authorization: Bearer $(dcmms token --tenant helios-solar --role viewer)" ...``."""
    from dcmms_dev.cognito import sign_in

    settings, state = _target(args.state_file)
    if state is None or not state.get("cognito"):
        raise CliError("`dcmms token` signs in against the running local stack's Cognito: start it with `make run`")
    user = (state.get("users") or {}).get(args.tenant, {}).get(args.role)
    if user is None:
        raise CliError(f"no demo user for tenant {args.tenant!r}, role {args.role!r} in {args.state_file}")
    tokens = sign_in(settings, state["cognito"]["client_id"], user["email"], user["password"])
    print(tokens["AccessToken" if args.access else "IdToken"])
    return 0


def _capacity(args: argparse.Namespace) -> int:
    """Print the capacity plan for the spec's scale (or the figures given) as a table or as JSON."""
    from dcmms_dev import capacity

    scale, assumptions = capacity.from_arguments(args)
    plan = capacity.plan(scale, assumptions)
    print(json.dumps(plan, indent=2, allow_nan=False) if args.json else capacity.format_table(plan))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dcmms", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    dev = sub.add_parser("dev", help="start the local stack (moto, Redis, PostgreSQL, API) until Ctrl-C")
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--port", type=int, default=8000)
    dev.add_argument(
        "--seed",
        choices=["demo", "spec", "none"],
        default="demo",
        help="demo: two tenants; spec: demo plus the spec's scale (200 sites, 50k assets)",
    )
    dev.add_argument(
        "--simulate", action="store_true", help="site gateways for the demo fleets send live readings (every 5 s)"
    )
    dev.add_argument("--state-file", default=".dcmms/local.json")
    dev.set_defaults(func=_dev)
    seed = sub.add_parser("seed", help="load data into the running local stack")
    seed.add_argument("--scale", choices=["demo", "spec"], default="demo")
    seed.add_argument("--state-file", default=".dcmms/local.json")
    seed.add_argument("--sites", type=int, default=200, help="spec scale: sites (default 200)")
    seed.add_argument("--assets", type=int, default=50_000, help="spec scale: assets (default 50,000)")
    seed.add_argument("--work-orders", type=int, default=10_000, help="spec scale: active work orders")
    seed.set_defaults(func=_seed)
    dlq = sub.add_parser("dlq", help="telemetry dead letters: list them, or replay them onto the stream")
    dlq.add_argument("action", choices=["list", "replay"])
    dlq.add_argument("--limit", type=int, default=100)
    dlq.add_argument("--reason", help="only the entries whose reason contains this, e.g. 'retries exhausted'")
    dlq.add_argument("--state-file", default=".dcmms/local.json")
    dlq.set_defaults(func=_dlq)
    sim = sub.add_parser("simulate", help="site-gateway simulator: plausible readings onto Kinesis")
    sim.add_argument("--tenant", default="helios-solar", help="demo tenant whose viewer key reads the fleet")
    sim.add_argument("--sites", type=int, default=3)
    sim.add_argument("--assets", type=int, default=200, help="assets per site")
    sim.add_argument("--duration", type=float, default=60.0, help="seconds")
    sim.add_argument("--interval", type=float, default=1.0, help="seconds between readings per asset")
    sim.add_argument("--api-url")
    sim.add_argument("--api-key")
    sim.add_argument("--state-file", default=".dcmms/local.json")
    sim.add_argument("--seed", type=int, help="seed the weather and faults, for a reproducible run")
    sim.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="ASSET_ID",
        help="inject a fault on this inverter or turbine for the whole run (repeatable): it stops producing and "
        "reports its fault state, so the rules raise an alert, a downtime episode and a work order",
    )

    sim.set_defaults(func=_simulate)
    tok = sub.add_parser("token", help="sign a demo user in (the running stack's Cognito) and print their ID token")
    tok.add_argument("--tenant", required=True)
    tok.add_argument("--role", required=True, choices=["admin", "supervisor", "technician", "viewer"])
    tok.add_argument("--access", action="store_true", help="print the access token instead")
    tok.add_argument("--state-file", default=".dcmms/local.json")
    tok.set_defaults(func=_token)
    kpi = sub.add_parser("kpi", help="refresh the dashboards' materialized KPIs now (the schedule does every 5 min)")
    kpi.add_argument("--state-file", default=".dcmms/local.json")
    kpi.set_defaults(func=_kpi)
    rx = sub.add_parser("reindex", help="rebuild the search/dashboard read model from the DynamoDB tables")
    rx.add_argument("--tenant", help="only this tenant (default: every tenant)")
    rx.add_argument("--state-file", default=".dcmms/local.json")
    rx.set_defaults(func=_reindex)
    cap = sub.add_parser("capacity", help="capacity plan and monthly cost for the spec's scale (or the figures given)")
    cap.add_argument("--json", action="store_true", help="the plan as JSON, for the CDK configuration")
    from dcmms_dev.capacity import add_arguments

    add_arguments(cap)
    cap.set_defaults(func=_capacity)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except CliError as exc:
        print(f"dcmms {args.command}: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        problem = _one_line(exc)
        if problem is None:
            raise
        print(f"dcmms {args.command}: {problem}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
