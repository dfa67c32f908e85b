"""The local stack as a user meets it: `dcmms dev` started, used over HTTP, stopped with Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from dcmms_dev.servers import free_port

ROOT = Path(__file__).resolve().parents[2]


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"dcmms dev exited early:\n{proc.stdout.read()}")
        if path.exists():
            return json.loads(path.read_text())
        time.sleep(0.2)
    raise AssertionError("dcmms dev did not come up")


def _port_open(url: str) -> bool:
    host, port = url.split("//")[1].split("/")[0].rsplit(":", 1)
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host.split("@")[-1], int(port))) == 0


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run the dcmms command as a user would; fails the test on a non-zero exit."""
    out = subprocess.run(
        [sys.executable, "-m", "dcmms_dev.cli", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )
    assert out.returncode == 0, out.stderr
    return out


def _wait_for_latest(database_url: str, tenant: str, asset: str, metric: str) -> dict:
    """The asset's latest readings once ``metric`` has arrived in PostgreSQL (through the pipeline)."""
    from dcmms.telemetry.postgres import TelemetryStore

    store = TelemetryStore(database_url)
    deadline = time.monotonic() + 30
    latest: dict = {}
    while time.monotonic() < deadline and metric not in latest:
        time.sleep(0.5)
        latest = store.latest(tenant, asset)
    store.close()
    return latest


@pytest.fixture(scope="module")
def dev_stack(tmp_path_factory):
    state_file = tmp_path_factory.mktemp("dev") / "local.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "dcmms_dev.cli", "dev", "--port", str(free_port()), "--state-file", str(state_file)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=os.environ.copy(),
    )
    try:
        yield proc, _wait_for(state_file, proc), state_file
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_dev_stack_serves_health_and_seeded_tenants(dev_stack) -> None:
    _, state, _ = dev_stack
    assert set(state) >= {
        "api_url",
        "aws_endpoint_url",
        "dynamodb_endpoint_url",
        "kinesis_endpoint_url",
        "redis_url",
        "database_url",
        "api_keys",
        "api_keys_by_tier",
    }
    assert set(state["api_keys"]) == {"helios-solar", "boreas-wind"}
    assert set(state["api_keys"]["helios-solar"]) == {"admin", "supervisor", "technician", "viewer"}
    assert set(state["api_keys_by_tier"]) == {"free", "pro", "enterprise"}
    with httpx.Client(base_url=state["api_url"], timeout=10) as http:
        health = http.get("/health")
        assert health.status_code == 200 and health.json()["status"] == "healthy", health.text
        for tenant, keys in state["api_keys"].items():
            headers = {"x-api-key": keys["viewer"]}
            listing = http.get("/api/v1/assets", params={"limit": 1000}, headers=headers)
            assert listing.status_code == 200, listing.text
            assets = listing.json()["items"]
            assert 450 <= len(assets) <= 550 and all(a["tenant_id"] == tenant for a in assets)
            assert any(a["parent_id"] for a in assets)
            orders = http.get("/api/v1/work-orders", params={"limit": 1000}, headers=headers).json()["items"]
            assert len(orders) >= 200 and len({o["status"] for o in orders}) == 7
            assert http.get("/api/v1/alerts", headers=headers).json()["items"]
            rules = http.get("/api/v1/alert-rules", headers=headers).json()["items"]
            assert {
                "Inverter over-temperature",
                "Inverter fault state",
                "Inverter without output in sunshine",
                "Turbine vibration high",
                "Turbine fault state",
            } == {r["name"] for r in rules}
        tier_key = state["api_keys_by_tier"]["free"]
        assert http.get("/api/v1/sites", headers={"x-api-key": tier_key}).status_code == 200


def test_seed_command_loads_the_running_stack(dev_stack) -> None:
    _, state, state_file = dev_stack
    _cli(
        "seed",
        "--scale",
        "spec",
        "--sites",
        "2",
        "--assets",
        "100",
        "--work-orders",
        "40",
        "--state-file",
        str(state_file),
    )
    keys = json.loads(state_file.read_text())["api_keys"]["spec-scale"]
    with httpx.Client(base_url=state["api_url"], timeout=10) as http:
        orders = http.get("/api/v1/work-orders", params={"limit": 100}, headers={"x-api-key": keys["viewer"]})
        assert len(orders.json()["items"]) == 40
        health = http.get("/health").json()
        assert health["cache"]["redis_available"] is True


def test_ingest_pipeline_stores_telemetry_put_on_kinesis(dev_stack) -> None:
    from datetime import UTC, datetime

    import boto3
    import orjson

    _, state, _ = dev_stack
    key = state["api_keys"]["helios-solar"]["viewer"]
    with httpx.Client(base_url=state["api_url"], timeout=10) as http:
        inverter = http.get(
            "/api/v1/assets", params={"type": "inverter", "limit": 1}, headers={"x-api-key": key}
        ).json()["items"][0]
    now = datetime.now(UTC).replace(microsecond=0)
    record = {
        "v": 1,
        "tenant_id": inverter["tenant_id"],
        "site_id": inverter["site_id"],
        "asset_id": inverter["id"],
        "readings": [{"ts": now.isoformat(), "metrics": {"ac_power_kw": 1234.5, "heatsink_temp_c": 48.0}}],
    }
    kinesis = boto3.client(
        "kinesis",
        endpoint_url=state["kinesis_endpoint_url"],
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    kinesis.put_record(StreamName=state["kinesis_stream"], Data=orjson.dumps(record), PartitionKey=inverter["id"])
    latest = _wait_for_latest(state["database_url"], inverter["tenant_id"], inverter["id"], "ac_power_kw")
    assert latest["ac_power_kw"] == (now, 1234.5)


def test_simulator_feeds_the_pipeline(dev_stack) -> None:
    _, state, state_file = dev_stack
    out = _cli(
        "simulate",
        "--tenant",
        "boreas-wind",
        "--sites",
        "1",
        "--assets",
        "20",
        "--duration",
        "2",
        "--interval",
        "1",
        "--state-file",
        str(state_file),
        timeout=60,
    )
    sent = int(out.stdout.split("put ")[1].split()[0])
    assert sent >= 12 and "(0 failed after retries)" in out.stdout  # 12 reporting assets x rounds
    key = state["api_keys"]["boreas-wind"]["viewer"]
    with httpx.Client(base_url=state["api_url"], timeout=10) as http:
        site = http.get("/api/v1/sites", params={"limit": 1}, headers={"x-api-key": key}).json()["items"][0]
        turbine = next(
            a
            for a in http.get(
                "/api/v1/assets", params={"site_id": site["id"], "limit": 20}, headers={"x-api-key": key}
            ).json()["items"]
            if a["type"] == "turbine"
        )
    latest = _wait_for_latest(state["database_url"], "boreas-wind", turbine["id"], "wind_speed_ms")
    assert {"wind_speed_ms", "ac_power_kw", "rotor_rpm", "nacelle_vibration_mms"} <= set(latest)


def test_a_work_order_is_searchable_within_the_projection_lag(dev_stack) -> None:
    """Through the whole local stack: API -> DynamoDB Local -> its stream -> the projector -> PostgreSQL -> search;
    the demo tenants' seed is in the read model from the start (`dcmms dev` reindexes once the poller reads)."""
    _, state, state_file = dev_stack
    keys = state["api_keys"]["helios-solar"]
    with httpx.Client(base_url=state["api_url"], timeout=10) as http:
        admin = {"x-api-key": keys["admin"]}
        site = http.get("/api/v1/sites", headers=admin).json()["items"][0]
        body = {
            "site_id": site["id"],
            "title": "Seized tracker gearbox on row 31",
            "type": "corrective",
            "priority": "high",
        }
        created = http.post("/api/v1/work-orders", json=body, headers=admin)
        assert created.status_code == 201, created.text
        began = time.monotonic()
        hit = None
        while hit is None and time.monotonic() - began < 30:
            found = http.get("/api/v1/search", params={"q": "seized gearbox"}, headers=admin).json()["items"]
            hit = next((h for h in found if h["id"] == created.json()["id"]), None)
            time.sleep(0.2)
        assert hit is not None, "not found by search within 30 s"
        print(f"searchable {time.monotonic() - began:.2f} s after the write")
        assert http.get("/api/v1/search", params={"q": "inverter"}, headers=admin).json()["items"]  # the seed
        read_model = http.get("/health").json()["read_model"]
        assert read_model["status"] == "healthy" and read_model["lag_s"] < 30, read_model
        assert read_model["sources"]["work-orders"]["records"] >= 1  # the stream's, not the start's reindex


def test_ctrl_c_stops_everything(dev_stack) -> None:
    proc, state, state_file = dev_stack
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=30)
    urls = ("api_url", "aws_endpoint_url", "dynamodb_endpoint_url", "kinesis_endpoint_url", "redis_url", "database_url")
    for url in (state[name] for name in urls):
        assert not _port_open(url), url
    assert not state_file.exists()
    # and the console was for a person: start times in the banner, no EMF document, no JSON log line
    console = proc.stdout.read()
    for server in ("DynamoDB ", "AWS (moto) ", "Redis ", "PostgreSQL "):
        (line,) = [row for row in console.splitlines() if row.startswith(f"  {server}")]
        assert re.search(r"started in \d+\.\d s\)$", line), line
    assert '"_aws"' not in console
    assert not [row for row in console.splitlines() if row.startswith('{"level"')]
