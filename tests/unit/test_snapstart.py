"""SnapStart hooks of the API function: registered only for a snapshot init; before the snapshot the heavy
imports and clients are built without opening a socket; after a restore the random generator differs."""

from __future__ import annotations

import random
import subprocess
import sys

import pytest
import snapshot_restore_py

from dcmms import snapstart
from dcmms.config import Settings

NOWHERE = Settings(aws_endpoint_url="http://127.0.0.1:9", redis_url="redis://127.0.0.1:9/0")


@pytest.fixture
def registries(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(snapshot_restore_py, "_before_snapshot_registry", [])
    monkeypatch.setattr(snapshot_restore_py, "_after_restore_registry", [])
    return snapshot_restore_py


def test_hooks_are_registered_only_when_lambda_initializes_for_a_snapshot(registries, monkeypatch) -> None:
    monkeypatch.delenv("AWS_LAMBDA_INITIALIZATION_TYPE", raising=False)
    assert snapstart.install(NOWHERE) is False
    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
    assert snapstart.install(NOWHERE) is False
    assert registries.get_before_snapshot() == [] and registries.get_after_restore() == []
    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", "snap-start")
    assert snapstart.install(NOWHERE) is True
    assert registries.get_before_snapshot() == [(snapstart.before_snapshot, (NOWHERE,), {})]
    assert registries.get_after_restore() == [(snapstart.after_restore, (NOWHERE,), {})]


def test_a_restored_environment_draws_its_own_random_numbers() -> None:
    state = random.getstate()
    try:
        random.seed(1234)  # every environment restored from one snapshot starts from this state
        snapshotted = [random.random() for _ in range(3)]
        random.seed(1234)
        snapstart.after_restore(NOWHERE)
        assert [random.random() for _ in range(3)] != snapshotted
    finally:
        random.setstate(state)


def test_before_the_snapshot_the_heavy_imports_are_paid_and_no_socket_is_open() -> None:
    code = """
import sys, psutil, snapshot_restore_py
import functions.api.handler
lazy = ("pynamodb.models", "botocore.client", "psycopg")
print(sorted(m for m in lazy if m in sys.modules))
for hook, args, kwargs in snapshot_restore_py.get_before_snapshot():
    hook(*args, **kwargs)
print(sorted(m for m in lazy if m in sys.modules))
print(len(psutil.Process().net_connections()))
"""
    env = {
        "PATH": "/usr/bin:/bin",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "DCMMS_AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "DCMMS_REDIS_URL": "redis://127.0.0.1:9/0",
        "DCMMS_TRACING": "false",
    }
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    before, after, sockets = out.stdout.strip().splitlines()[-3:]
    assert before == "[]"  # the init itself stays lazy ...
    assert after == "['botocore.client', 'psycopg', 'pynamodb.models']"  # ... the hook pays it before the snapshot
    assert sockets == "0"
