"""The local stack behind ``make run``: real Redis and PostgreSQL, moto for AWS, uvicorn for the API.

Tests start the same stack (``prepared_stack``) so that what is tested is what runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from dcmms.catalogue import FUNCTIONS, by_name
from dcmms.clients import aws_client
from dcmms.config import Settings
from dcmms.store.models import bind, create_tables
from dcmms_dev.pollers import (
    LocalDynamoDBStreamsPoller,
    LocalKinesisPoller,
    LocalSqsPoller,
    projector_failure_queue,
    queue_name,
)
from dcmms_dev.servers import LocalServers

STATE_FILE = Path(".dcmms") / "local.json"
REPORTS_KEPT_DAYS = 30  # the dev stacks' lifecycle rule


def local_settings(servers: LocalServers, **overrides: Any) -> Settings:
    return Settings(
        environment="local",
        aws_endpoint_url=servers.moto.url,
        dynamodb_endpoint_url=servers.dynamodb.url,
        kinesis_endpoint_url=servers.kinesis.url,
        redis_url=servers.redis.url,
        database_url=servers.postgres.url,
        **overrides,
    )


def settings_from_state(state: dict[str, Any]) -> Settings:
    """Settings that reach the AWS emulators of a running local stack (its ``.dcmms/local.json``)."""
    return Settings(
        aws_endpoint_url=state["aws_endpoint_url"],
        dynamodb_endpoint_url=state.get("dynamodb_endpoint_url"),
        kinesis_endpoint_url=state.get("kinesis_endpoint_url"),
    )


def use_emulated_aws() -> None:
    """moto accepts any credentials; set dummy ones so botocore never looks for real ones."""
    for name, value in (
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ):
        os.environ.setdefault(name, value)
    os.environ.pop("AWS_PROFILE", None)


def prepare_aws(settings: Settings) -> None:
    """Create the DynamoDB tables (with their streams), the telemetry stream, the dead-letter bucket and the
    projector's on-failure queue in the emulators."""
    create_tables(settings)
    kinesis = aws_client("kinesis", settings)
    with contextlib.suppress(kinesis.exceptions.ResourceInUseException):
        kinesis.create_stream(StreamName=settings.kinesis_stream, ShardCount=2)
    s3 = aws_client("s3", settings)
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=settings.dead_letter_bucket)
    aws_client("sqs", settings).create_queue(QueueName=projector_failure_queue(settings))  # idempotent
    prepare_reports(settings)


def prepare_reports(settings: Settings) -> None:
    """The reports bucket (encrypted by default, objects expired by a lifecycle rule, as the stacks deploy it),
    the reports queue with its dead-letter queue, and the sender's SES identity (moto's SES sends only from a
    verified one, like SES itself)."""
    from dcmms_dev.pollers import create_queue

    s3 = aws_client("s3", settings)
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=settings.reports_bucket)
    s3.put_bucket_encryption(
        Bucket=settings.reports_bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    s3.put_bucket_lifecycle_configuration(
        Bucket=settings.reports_bucket,
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "expire-reports",
                    "Status": "Enabled",
                    "Filter": {"Prefix": "reports/"},
                    "Expiration": {"Days": REPORTS_KEPT_DAYS},
                    "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
                }
            ]
        },
    )
    reports = by_name("reports")
    assert reports.queue is not None
    create_queue(settings, reports.queue, visibility_timeout_s=6 * reports.timeout_s)
    aws_client("ses", settings).verify_email_identity(EmailAddress=settings.report_sender)


@contextlib.contextmanager
def prepared_stack(workdir: Path | None = None, **overrides: Any) -> Iterator[tuple[LocalServers, Settings]]:
    """Servers started, AWS resources created, models bound: the base of ``dcmms dev`` and the tests."""
    use_emulated_aws()
    with LocalServers(workdir) as servers:
        settings = local_settings(servers, **overrides)
        prepare_aws(settings)
        bind(settings)
        yield servers, settings


def settings_environment(settings: Settings) -> dict[str, str]:
    """``settings`` as the DCMMS_* variables Lambda's configuration would set (for a function's process)."""
    from dcmms.config import ENV_PREFIX

    return {ENV_PREFIX + name.upper(): str(value) for name, value in settings.model_dump(exclude_none=True).items()}


def export_settings(settings: Settings) -> None:
    """Expose ``settings`` as DCMMS_* variables, as Lambda's configuration would, for in-process functions."""
    from dcmms.config import get_settings

    os.environ.update(settings_environment(settings))
    get_settings.cache_clear()


def invoke(handler_path: str, event: dict[str, Any]) -> Any:
    """Call a catalogue handler by its dotted path, as Lambda would."""
    import importlib

    from dcmms_dev.events import FakeLambdaContext

    module, _, name = handler_path.rpartition(".")
    return getattr(importlib.import_module(module), name)(event, FakeLambdaContext())


class LocalScheduler(threading.Thread):
    """Runs the catalogue's scheduled functions at their rates, like EventBridge Scheduler."""

    def __init__(self) -> None:
        super().__init__(name="local-scheduler", daemon=True)
        self._halt = threading.Event()

    def run(self) -> None:
        from datetime import UTC, datetime

        from dcmms.catalogue import FUNCTIONS, next_run
        from dcmms_dev.events import scheduled_event

        now = datetime.now(UTC)
        runs = [(f, s) for f in FUNCTIONS for s in f.schedules]
        due = [next_run(s, now) for _, s in runs]
        while not self._halt.wait(1.0):
            now = datetime.now(UTC)
            for i, (spec, schedule) in enumerate(runs):
                at = due[i]
                if now >= at:
                    due[i] = next_run(schedule, at)
                    try:
                        invoke(spec.handler, scheduled_event(schedule.payload, at))
                    except Exception as exc:  # a failed run is logged; the next one still happens
                        print(f"scheduled {spec.name} {schedule.name} failed: {exc!r}", file=sys.stderr)

    def stop(self) -> None:
        self._halt.set()


def _await_listening(host: str, port: int, deadline: float) -> bool:
    while time.monotonic() < deadline:
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex((host, port)) == 0:
                return True
        time.sleep(0.05)
    return False


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def write_state(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.chmod(tmp, 0o600)  # it holds API keys
    tmp.replace(path)


def start_simulator(settings: Settings, seeds: list[Any], interval_s: float = 5.0) -> threading.Thread:
    """Site gateways for the seeded fleets, putting readings on the stream every ``interval_s`` until exit."""
    from dcmms_dev.simulator import FleetModel, fleet_from_domain, run

    fleet = fleet_from_domain([s for seed in seeds for s in seed.sites], [a for seed in seeds for a in seed.assets])
    kinesis = aws_client("kinesis", settings)
    thread = threading.Thread(
        target=run,
        args=(FleetModel(fleet), kinesis, settings.kinesis_stream, float("inf"), interval_s),
        name="local-simulator",
        daemon=True,  # ends with the process; a gateway simply stops sending
    )
    thread.start()
    return thread


def run_dev(
    host: str = "127.0.0.1",
    port: int = 8000,
    seed: str = "demo",
    state_file: Path = STATE_FILE,
    simulate: bool = False,
) -> None:
    """Start everything, seed, write ``state_file``, serve until Ctrl-C, then stop what was started.

    Log events are printed as readable lines with repeats collapsed (``dcmms_dev.console``), not as the JSON
    lines Lambda writes; no EMF is printed (outside Lambda the figures are at ``/metrics``).
    """
    import uvicorn

    from dcmms.api.app import create_app
    from dcmms.telemetry.postgres import TelemetryStore
    from dcmms_dev import console, web, websocket
    from dcmms_dev.events import scheduled_event
    from dcmms_dev.seed import seed_demo, seed_spec_scale

    started = time.monotonic()
    # SIGTERM (e.g. `timeout`, a process manager) unwinds like Ctrl-C, so the servers below are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if not _port_free(host, port):
        from dcmms_dev.servers import free_port

        print(f"port {port} is busy; using another", file=sys.stderr)
        port = free_port()
    # The console outlives the servers: repeats still held back are counted after they stop.
    with console.install(also=("uvicorn.error",)), prepared_stack() as (servers, settings):
        tenants = seed_demo() if seed != "none" else []
        if seed == "spec":
            tenants.append(seed_spec_scale(_print_progress))
        api_url = f"http://{host}:{port}"
        state = {
            "api_url": api_url,
            "docs_url": f"{api_url}/docs",
            "health_url": f"{api_url}/health",
            "aws_endpoint_url": settings.aws_endpoint_url,
            "dynamodb_endpoint_url": settings.dynamodb_endpoint_url,
            "kinesis_endpoint_url": settings.kinesis_endpoint_url,
            "kinesis_stream": settings.kinesis_stream,
            "redis_url": settings.redis_url,
            "database_url": settings.database_url,
            "tenants": {t.tenant.id: {"name": t.tenant.name, "kind": t.kind.value} for t in tenants},
            "api_keys": {t.tenant.id: dict(t.keys) for t in tenants},
            "api_keys_by_tier": dict(tenants[0].tier_keys) if tenants else {},
            "pid": os.getpid(),
        }
        # people sign in with Cognito (moto's): a pool, its web client and one user per role per demo tenant
        from dcmms_dev.cognito import create_pool, seed_users

        pool_id, client_id = create_pool(settings)
        # live updates: the local WebSocket API stage at the API's origin (/ws), posted to as API Gateway's @connections
        live = websocket.endpoint_url(api_url)
        settings = settings.model_copy(
            update={"cognito_user_pool_id": pool_id, "cognito_client_id": client_id, "live_endpoint_url": live}
        )
        state["live_url"] = settings.live_socket_url
        state["cognito"] = {"user_pool_id": pool_id, "client_id": client_id, "endpoint_url": settings.aws_endpoint_url}
        state["users"] = seed_users(settings, pool_id, [t.tenant.id for t in tenants])
        export_settings(settings)
        TelemetryStore(settings.database_url).migrate()
        # The read model: the streams from now on through the projector, and what was written before (the
        # seed) by a reindex, so that search answers for the seed at once and no backlog reads as lag.
        projector = by_name("projector")
        streams_poller = LocalDynamoDBStreamsPoller(settings, projector.handler, projector.stream, start_at="LATEST")
        streams_poller.start()
        if not streams_poller.ready.wait(30):
            raise RuntimeError("the DynamoDB Streams poller did not reach the streams within 30 s")
        reindexed = _reindex(settings)
        try:  # as on deploy; a cold cache is slower, not broken, so a failed warm-up does not stop the stack
            warmed = invoke("functions.warmer.handler.lambda_handler", scheduled_event())
        except Exception as exc:
            warmed = f"failed ({exc!r}); the schedule warms again"
        try:  # the dashboards answer at once, then every 5 minutes from the schedule
            refreshed = invoke(by_name("kpi").handler, scheduled_event())
            kpis = f"refreshed in {refreshed['seconds']:.2f} s, then every 5 minutes"
        except Exception as exc:
            kpis = f"failed ({exc!r}); the schedule refreshes them again"
        reports = by_name("reports")
        reports_queue = queue_name(settings, reports.queue) if reports.queue else "(none)"
        up = (servers.dynamodb, servers.kinesis, servers.moto, servers.redis, servers.postgres)
        startup_s = {server.name: server.startup_s for server in up}

        def announce() -> None:
            """The state file and the banner once the API accepts connections: whoever reads the state file
            (a client, `make load`, the tests) may call api_url at once."""
            if not _await_listening(host, port, time.monotonic() + 60):
                return
            write_state(state_file, state)
            _print_banner(state, time.monotonic() - started, state_file, startup_s)
            print(f"  cache warmed: {warmed}", flush=True)
            print(f"  read model: {reindexed}; then kept by the projector from the tables' streams", flush=True)
            print(f"  dashboard KPIs: {kpis}", flush=True)
            print(
                f"  reports: POST /api/v1/reports -> SQS {reports_queue} -> the reports function"
                f" -> S3 {settings.reports_bucket}; site-daily at 06:00 site time, fleet-monthly on the 1st",
                flush=True,
            )

        threading.Thread(target=announce, name="local-announce", daemon=True).start()
        app = create_app(settings)
        scheduler = LocalScheduler()
        scheduler.start()
        ingest = by_name("ingest")
        poller = LocalKinesisPoller(settings, ingest.handler, ingest.stream)
        poller.start()
        queue_pollers = [LocalSqsPoller(settings, f.handler, f.queue) for f in FUNCTIONS if f.queue is not None]
        for queue_poller in queue_pollers:
            queue_poller.start()
        if simulate:
            start_simulator(settings, [t for t in tenants if t.tenant.id in ("helios-solar", "boreas-wind")])
            print("  simulator: the demo fleets send readings every 5 s (alerts follow the default rules)")
        try:
            uvicorn.run(web.wrap(app, settings), host=host, port=port, log_level="warning", access_log=False)
        finally:
            poller.stop()
            for queue_poller in queue_pollers:
                queue_poller.stop()
            streams_poller.stop()
            scheduler.stop()
            with contextlib.suppress(FileNotFoundError):
                state_file.unlink()
            print("dcmms dev: stopped DynamoDB Local, kinesalite, moto, Redis and PostgreSQL", file=sys.stderr)


def _reindex(settings: Settings) -> str:
    """Project what the tables hold now into the read model (``dcmms reindex``); a one-line account of it."""
    from dcmms import runtime
    from dcmms_dev.reindex import reindex

    began = time.monotonic()
    counts = reindex(settings, runtime.database_router(settings))
    items = sum(c["items"] for c in counts.values())
    return f"{items:,} items projected in {time.monotonic() - began:.1f} s"


def _print_progress(what: str, done: int, total: int) -> None:
    print(
        f"\r  seeding {what}: {done:>6}/{total} ({100 * done // total:3d}%)",
        end="" if done < total else "\n",
        file=sys.stderr,
        flush=True,
    )


def _print_banner(
    state: dict[str, Any], seconds: float, state_file: Path, startup_s: Mapping[str, float] | None = None
) -> None:
    """What runs where, with each server's start time (``startup_s`` by server name), and the API keys."""

    def notes(name: str, what: str = "") -> str:
        took = (startup_s or {}).get(name)
        said = [what] if what else []
        if took is not None:
            said.append(f"started in {took:.1f} s")
        return f"   ({', '.join(said)})" if said else ""

    lines = [
        f"dCMMS local stack is up ({seconds:.1f} s)",
        f"  API        {state['api_url']}   (docs: {state['docs_url']}, health: {state['health_url']})",
        f"  Web app    {state['api_url']}/   (sign in as one of the people below)",
        f"  Live       {state.get('live_url')}?token=<ID token>   (alerts and readings pushed; docs/live.md)",
        f"  DynamoDB   {state['dynamodb_endpoint_url']}{notes('dynamodb', 'DynamoDB Local')}",
        f"  Kinesis    {state['kinesis_endpoint_url']}{notes('kinesis', 'kinesalite')}",
        f"  AWS (moto) {state['aws_endpoint_url']}{notes('moto', 'S3, SQS, ...')}",
        f"  Redis      {state['redis_url']}{notes('redis')}",
        f"  PostgreSQL {state['database_url']}{notes('postgres')}",
        "  API keys (x-api-key header):",
    ]
    for tenant, keys in state["api_keys"].items():
        for role, key in keys.items():
            lines.append(f"    {tenant:<14} {role:<11} {key}")
    for tier, key in state["api_keys_by_tier"].items():
        lines.append(f"    tier {tier:<9} {'':<11} {key}")
    if state.get("users"):
        lines.append("  People (Cognito on moto; `dcmms token --tenant T --role R` prints an ID token for curl):")
        for tenant, roles in state["users"].items():
            for role, user in roles.items():
                lines.append(f"    {tenant:<14} {role:<11} {user['email']}  {user['password']}")
    lines += [f"  written to {state_file}", "  Ctrl-C stops everything."]
    print("\n".join(lines), flush=True)
