"""The local stack a load test runs against: the running one (``make run``), else one started for the run.

A running stack is used when its state file exists, its process is alive and its health URL answers.
Otherwise ``dcmms dev`` is started with a state file and port of its own (so it cannot clash with a
``make run`` in another terminal) and stopped when the run ends. Load-test users and their API keys are
written straight into the stack's DynamoDB, as ``dcmms seed`` does.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dcmms_dev.servers import pid_alive
from tests.load.scenarios import require_loopback

ROOT = Path(__file__).resolve().parents[2]
SPEC_TENANT = "spec-scale"
DEMO_TENANT = "helios-solar"
START_TIMEOUT_S = 180
SEED_TIMEOUT_S = 900
STOP_TIMEOUT_S = 60


@dataclass
class Target:
    state_file: Path
    state: dict[str, Any]
    process: subprocess.Popen[bytes] | None = None  # None: a stack someone else started
    log: Path | None = None
    startup_s: float | None = None
    seed_s: float | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def api_url(self) -> str:
        return require_loopback(self.state["api_url"])

    def reload(self) -> None:
        self.state = json.loads(self.state_file.read_text())

    def describe(self) -> dict[str, Any]:
        return {
            "api_url": self.api_url,
            "started_by_runner": self.process is not None,
            "startup_s": self.startup_s,
            "spec_seed_s": self.seed_s,
            "pid": self.state["pid"],
        }


def _healthy(state: dict[str, Any]) -> bool:
    try:
        require_loopback(state["health_url"])
        with urllib.request.urlopen(state["health_url"], timeout=3) as response:
            return response.status == 200
    except (OSError, ValueError, KeyError):
        return False


def find_running(state_file: Path) -> Target | None:
    """The stack described by ``state_file``, if it is up."""
    if not state_file.exists():
        return None
    state = json.loads(state_file.read_text())
    if pid_alive(int(state.get("pid", 0))) and _healthy(state):
        return Target(state_file, state)
    return None


def start_stack(workdir: Path) -> Target:
    """``dcmms dev`` (demo data) on a free port with its own state file; waits until it is healthy."""
    from dcmms_dev.servers import free_port

    state_file, log = workdir / "local.json", workdir / "dcmms-dev.log"
    started = time.monotonic()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "dcmms_dev.cli", "dev", "--port", str(free_port()), "--state-file", str(state_file)],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches the runner, which stops the stack in order
        )
    target = Target(state_file, {}, process, log)
    while time.monotonic() - started < START_TIMEOUT_S:
        if process.poll() is not None:
            raise RuntimeError(f"dcmms dev exited ({process.returncode}); see {log}:\n{_tail(log)}")
        if state_file.exists():
            target.reload()
            if _healthy(target.state):
                target.startup_s = time.monotonic() - started
                return target
        time.sleep(0.5)
    stop_stack(target)
    raise RuntimeError(f"dcmms dev was not healthy within {START_TIMEOUT_S} s; see {log}")


def stop_stack(target: Target) -> None:
    """Stop a stack this run started (SIGTERM unwinds ``dcmms dev`` like Ctrl-C); leave others alone."""
    process = target.process
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


def ensure_spec_scale(target: Target) -> None:
    """Seed the spec's scale (``dcmms seed --scale spec``) unless the stack already has it."""
    if SPEC_TENANT in target.state["api_keys"]:
        return
    started = time.monotonic()
    log = target.log or target.state_file.with_name("dcmms-seed.log")
    with log.open("ab") as out:
        subprocess.run(
            [sys.executable, "-m", "dcmms_dev.cli", "seed", "--scale", "spec", "--state-file", str(target.state_file)],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=SEED_TIMEOUT_S,
            check=True,
        )
    target.seed_s = time.monotonic() - started
    target.reload()


def provision_keys(target: Target, tenant: str, count: int) -> list[str]:
    """``count`` users of ``tenant`` with an enterprise-tier key each: each virtual user gets its own
    key and user, so the per-key and per-user limits see one person's traffic, not the whole test's."""
    from dcmms.domain.apikeys import new_api_key
    from dcmms.domain.ids import ulid
    from dcmms.domain.model import Role, Tier, User, iso, utcnow
    from dcmms.store.models import bind
    from dcmms.store.repositories import DirectoryRepository
    from dcmms_dev.stack import settings_from_state, use_emulated_aws

    if tenant not in target.state["api_keys"]:
        raise RuntimeError(f"tenant {tenant!r} is not in {target.state_file}")
    use_emulated_aws()
    state = target.state
    bind(
        settings_from_state(
            {
                "aws_endpoint_url": require_loopback(state["aws_endpoint_url"]),
                "dynamodb_endpoint_url": require_loopback(state["dynamodb_endpoint_url"]),
            }
        )
    )
    directory = DirectoryRepository()
    created = iso(utcnow())
    keys = []
    for n in range(count):
        user = User(
            id=f"usr_load_{n:04d}_{tenant}",
            tenant_id=tenant,
            name=f"Load tester {n}",
            email=f"load{n}@{tenant}.example.com",
            role=Role.supervisor,  # reads, and writes work orders and telemetry
        )
        directory.create_user(user)
        key = new_api_key()
        directory.store_api_key(key, f"key_{ulid()}", user, Tier.enterprise, "load test", created)
        keys.append(key)
    return keys


def _tail(path: Path, lines: int = 25) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
