"""The ``dcmms`` command: ``dev`` starts the local stack, ``seed`` loads data into a running one."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def _dev(args: argparse.Namespace) -> int:
    from dcmms.local.stack import run_dev

    run_dev(args.host, args.port, args.seed, Path(args.state_file), simulate=args.simulate)
    return 0


def _seed(args: argparse.Namespace) -> int:
    """Seed a running local stack, found through its state file."""
    from dcmms.config import Settings
    from dcmms.local.seed import seed_demo, seed_spec_scale
    from dcmms.local.stack import _print_progress, use_emulated_aws
    from dcmms.store.models import bind

    state_path = Path(args.state_file)
    if not state_path.exists():
        print(f"{state_path} not found: start the local stack first (make run)", file=sys.stderr)
        return 2
    state = json.loads(state_path.read_text())
    use_emulated_aws()
    bind(Settings(aws_endpoint_url=state["aws_endpoint_url"]))
    started = time.monotonic()
    if args.scale == "spec":
        seed = seed_spec_scale(
            _print_progress, sites=args.sites, assets=args.assets, active_work_orders=args.work_orders
        )
        state["api_keys"][seed.tenant.id] = seed.keys
    else:
        for seed in seed_demo():
            state["api_keys"][seed.tenant.id] = seed.keys
    from dcmms.local.stack import write_state

    write_state(state_path, state)
    print(f"seeded '{args.scale}' in {time.monotonic() - started:.1f} s; keys added to {state_path}")
    return 0


def _dlq(args: argparse.Namespace) -> int:
    """List or replay the telemetry dead letters of the running local stack (or AWS, via settings)."""
    from dcmms import clients
    from dcmms.config import Settings
    from dcmms.local.stack import use_emulated_aws
    from dcmms.telemetry.ingest import S3DeadLetters

    state_path = Path(args.state_file)
    if state_path.exists():
        use_emulated_aws()
        settings = Settings(aws_endpoint_url=json.loads(state_path.read_text())["aws_endpoint_url"])
    else:
        settings = Settings.from_environ()
    dead = S3DeadLetters(clients.aws_client("s3", settings), settings.dead_letter_bucket)
    entries = dead.list(args.limit)
    if args.action == "list":
        for e in entries:
            print(f"{e['arrived_at']}  {e['sequence_number']}  {e['reason']}")
        print(f"{len(entries)} dead letter(s)")
        return 0
    kinesis = clients.aws_client("kinesis", settings)
    for e in entries:  # back onto the stream; the entry goes only once Kinesis accepted the record
        import base64

        kinesis.put_record(
            StreamName=settings.kinesis_stream,
            Data=base64.b64decode(e["payload_b64"]),
            PartitionKey=e["partition_key"] or e["sequence_number"],
        )
        dead.delete(e["key"])
    print(f"replayed {len(entries)} record(s) to {settings.kinesis_stream}")
    return 0


def _simulate(args: argparse.Namespace) -> int:
    """Site-gateway simulator against the local stack (state file) or any API + Kinesis endpoint."""
    from dcmms import clients
    from dcmms.config import Settings
    from dcmms.local.stack import use_emulated_aws
    from dcmms.telemetry import simulator

    state_path = Path(args.state_file)
    if state_path.exists():
        state = json.loads(state_path.read_text())
        use_emulated_aws()
        settings = Settings(aws_endpoint_url=state["aws_endpoint_url"])
        api_url = args.api_url or state["api_url"]
        api_key = args.api_key or state["api_keys"][args.tenant]["viewer"]
    else:
        settings, api_url, api_key = Settings.from_environ(), args.api_url, args.api_key
    fleet = simulator.fleet_from_api(api_url, api_key, args.sites, args.assets)
    model = simulator.FleetModel(fleet)
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


def _capacity(args: argparse.Namespace) -> int:
    """Print the capacity plan for the spec's scale (or the figures given) as a table or as JSON."""
    from dcmms import capacity

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
    sim.set_defaults(func=_simulate)
    cap = sub.add_parser("capacity", help="capacity plan and monthly cost for the spec's scale (or the figures given)")
    cap.add_argument("--json", action="store_true", help="the plan as JSON, for the CDK configuration")
    from dcmms.capacity import add_arguments

    add_arguments(cap)
    cap.set_defaults(func=_capacity)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
