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

from dcmms.catalogue import StreamSource, by_name
from dcmms.clients import aws_client
from dcmms.config import Settings
from dcmms.store.models import bind, create_tables
from dcmms_dev.servers import LocalServers

STATE_FILE = Path(".dcmms") / "local.json"


def local_settings(servers: LocalServers, **overrides: Any) -> Settings:
    return Settings(
        environment="local",
        aws_endpoint_url=servers.moto.url,
        dynamodb_endpoint_url=servers.dynamodb.url,
        redis_url=servers.redis.url,
        database_url=servers.postgres.url,
        **overrides,
    )


def settings_from_state(state: dict[str, Any]) -> Settings:
    """Settings that reach the AWS emulators of a running local stack (its ``.dcmms/local.json``)."""
    return Settings(
        aws_endpoint_url=state["aws_endpoint_url"], dynamodb_endpoint_url=state.get("dynamodb_endpoint_url")
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
    """Create the DynamoDB tables and the telemetry stream in the emulator."""
    create_tables(settings)
    kinesis = aws_client("kinesis", settings)
    with contextlib.suppress(kinesis.exceptions.ResourceInUseException):
        kinesis.create_stream(StreamName=settings.kinesis_stream, ShardCount=2)
    s3 = aws_client("s3", settings)
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=settings.dead_letter_bucket)


@contextlib.contextmanager
def prepared_stack(workdir: Path | None = None, **overrides: Any) -> Iterator[tuple[LocalServers, Settings]]:
    """Servers started, AWS resources created, models bound: the base of ``dcmms dev`` and the tests."""
    use_emulated_aws()
    with LocalServers(workdir) as servers:
        settings = local_settings(servers, **overrides)
        prepare_aws(settings)
        bind(settings)
        yield servers, settings


def export_settings(settings: Settings) -> None:
    """Expose ``settings`` as DCMMS_* variables, as Lambda's configuration would, for in-process functions."""
    from dcmms.config import ENV_PREFIX, get_settings

    for name, value in settings.model_dump(exclude_none=True).items():
        os.environ[ENV_PREFIX + name.upper()] = str(value)
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
        from dcmms.catalogue import FUNCTIONS, schedule_interval_s
        from dcmms_dev.events import scheduled_event

        due = {f.name: time.monotonic() + schedule_interval_s(f.schedule) for f in FUNCTIONS if f.schedule}
        specs = {f.name: f for f in FUNCTIONS}
        while not self._halt.wait(1.0):
            for name, at in due.items():
                if time.monotonic() >= at:
                    spec = specs[name]
                    due[name] = at + schedule_interval_s(spec.schedule or "")
                    try:
                        invoke(spec.handler, scheduled_event())
                    except Exception as exc:  # a failed run is logged; the next one still happens
                        print(f"scheduled {name} failed: {exc!r}", file=sys.stderr)

    def stop(self) -> None:
        self._halt.set()


class LocalKinesisPoller(threading.Thread):
    """What the Kinesis event-source mapping does in AWS, for the local stack, with the catalogue's
    ``StreamSource`` settings (the ones the CDK stacks deploy): read each shard in batches of
    ``batch_size`` and invoke the function; on a partial batch failure redeliver from the first failed
    record on, ``retry_attempts`` times; on a function error (an exception) bisect the batch, which costs
    no retry; then hand the records that still failed to the on-failure destination, which locally is the
    dead-letter store with their payloads (``retries exhausted``), so ``dcmms dlq replay`` can bring them
    back. A record is dead-lettered there at most once, and never over the reason the function gave."""

    def __init__(
        self, settings: Settings, handler: str, source: StreamSource | None = None, max_retries: int | None = None
    ) -> None:
        super().__init__(name="local-kinesis-poller", daemon=True)
        self.settings = settings
        self.handler = handler
        self.source = source or StreamSource()
        self.batch_size = self.source.batch_size
        self.max_retries = self.source.retry_attempts if max_retries is None else max_retries
        self._halt = threading.Event()
        self.ready = threading.Event()  # set once every shard is read from LATEST: later puts are seen
        self.batches = 0  # handler invocations
        self.delivered = 0  # records handed to the handler, redeliveries included

    def run(self) -> None:
        kinesis = aws_client("kinesis", self.settings)
        stream = self.settings.kinesis_stream
        shards = [s["ShardId"] for s in kinesis.list_shards(StreamName=stream)["Shards"]]
        iterators = {
            shard: kinesis.get_shard_iterator(StreamName=stream, ShardId=shard, ShardIteratorType="LATEST")[
                "ShardIterator"
            ]
            for shard in shards
        }
        self.ready.set()
        while not self._halt.is_set():
            busy = False
            for shard in shards:
                try:
                    reply = kinesis.get_records(ShardIterator=iterators[shard], Limit=self.batch_size)
                except Exception as exc:  # the emulator restarting or a transient error: poll again
                    print(f"kinesis poll failed: {exc!r}", file=sys.stderr)
                    continue
                iterators[shard] = reply["NextShardIterator"]
                if reply["Records"]:
                    busy = True
                    self.deliver(shard, reply["Records"])
            if not busy:
                self._halt.wait(0.5)

    def deliver(self, shard: str, records: list[dict[str, Any]]) -> None:
        """One batch of a shard's records, to success or to the on-failure destination."""
        gave_up = self._attempt(shard, records, self.max_retries)
        if gave_up:
            self._dead_letter(shard, gave_up)

    def _attempt(self, shard: str, records: list[dict[str, Any]], retries: int) -> list[dict[str, Any]]:
        """Deliver until nothing fails or the retries are spent; returns the records that still failed."""
        from dcmms_dev.events import kinesis_event_from_shard

        pending = records
        while True:
            self.batches += 1
            self.delivered += len(pending)
            try:
                reply = invoke(self.handler, kinesis_event_from_shard(shard, pending)) or {}
            except Exception as exc:  # a function error: the whole batch failed
                print(f"ingest function error on {len(pending)} record(s): {exc!r}", file=sys.stderr)
                if self.source.bisect_on_error and len(pending) > 1:
                    half = len(pending) // 2
                    return self._attempt(shard, pending[:half], retries) + self._attempt(shard, pending[half:], retries)
                failed = {r["SequenceNumber"] for r in pending}
            else:
                failed = {f["itemIdentifier"] for f in reply.get("batchItemFailures") or []}
            if not failed:
                return []
            if retries == 0:
                return [r for r in pending if r["SequenceNumber"] in failed]
            retries -= 1
            first = min(i for i, r in enumerate(pending) if r["SequenceNumber"] in failed)
            pending = pending[first:]  # as Kinesis does: redeliver from the first failure on

    def _dead_letter(self, shard: str, records: list[dict[str, Any]]) -> None:
        from dcmms.telemetry.ingest import S3DeadLetters, StreamRecord

        dead = S3DeadLetters(aws_client("s3", self.settings), self.settings.dead_letter_bucket)
        for r in records:
            arrived = r["ApproximateArrivalTimestamp"]
            dead.put(
                StreamRecord(r["SequenceNumber"], r["PartitionKey"], r["Data"], arrived, shard), "retries exhausted"
            )

    def stop(self) -> None:
        self._halt.set()


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
    from dcmms_dev.simulator import FleetModel, SimAsset, run

    locations = {site.id: site.location for seed in seeds for site in seed.sites}
    fleet = [
        SimAsset(
            a.tenant_id,
            a.site_id,
            a.id,
            a.type.value,
            a.rated_kw or 100.0,
            locations[a.site_id].latitude if locations[a.site_id] else 0.0,
            locations[a.site_id].longitude if locations[a.site_id] else 0.0,
        )
        for seed in seeds
        for a in seed.assets
    ]
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
    from dcmms_dev import console
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
            "kinesis_stream": settings.kinesis_stream,
            "redis_url": settings.redis_url,
            "database_url": settings.database_url,
            "tenants": {t.tenant.id: {"name": t.tenant.name, "kind": t.kind.value} for t in tenants},
            "api_keys": {t.tenant.id: dict(t.keys) for t in tenants},
            "api_keys_by_tier": dict(tenants[0].tier_keys) if tenants else {},
            "pid": os.getpid(),
        }
        export_settings(settings)
        TelemetryStore(settings.database_url).migrate()
        try:  # as on deploy; a cold cache is slower, not broken, so a failed warm-up does not stop the stack
            warmed = invoke("functions.warmer.handler.lambda_handler", scheduled_event())
        except Exception as exc:
            warmed = f"failed ({exc!r}); the schedule warms again"
        write_state(state_file, state)
        up = (servers.dynamodb, servers.moto, servers.redis, servers.postgres)
        startup_s = {server.name: server.startup_s for server in up}
        _print_banner(state, time.monotonic() - started, state_file, startup_s)
        print(f"  cache warmed: {warmed}", flush=True)
        app = create_app(settings)
        scheduler = LocalScheduler()
        scheduler.start()
        ingest = by_name("ingest")
        poller = LocalKinesisPoller(settings, ingest.handler, ingest.stream)
        poller.start()
        if simulate:
            start_simulator(settings, [t for t in tenants if t.tenant.id in ("helios-solar", "boreas-wind")])
            print("  simulator: the demo fleets send readings every 5 s (alerts follow the default rules)")
        try:
            uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
        finally:
            poller.stop()
            scheduler.stop()
            with contextlib.suppress(FileNotFoundError):
                state_file.unlink()
            print("dcmms dev: stopped DynamoDB Local, moto, Redis and PostgreSQL", file=sys.stderr)


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
        f"  DynamoDB   {state['dynamodb_endpoint_url']}{notes('dynamodb', 'DynamoDB Local')}",
        f"  AWS (moto) {state['aws_endpoint_url']}{notes('moto', 'Kinesis, S3, ...')}",
        f"  Redis      {state['redis_url']}{notes('redis')}",
        f"  PostgreSQL {state['database_url']}{notes('postgres')}",
        "  API keys (x-api-key header):",
    ]
    for tenant, keys in state["api_keys"].items():
        for role, key in keys.items():
            lines.append(f"    {tenant:<14} {role:<11} {key}")
    for tier, key in state["api_keys_by_tier"].items():
        lines.append(f"    tier {tier:<9} {'':<11} {key}")
    lines += [f"  written to {state_file}", "  Ctrl-C stops everything."]
    print("\n".join(lines), flush=True)
