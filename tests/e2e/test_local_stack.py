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
from datetime import UTC, datetime
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


def test_an_analyst_requests_each_report_and_downloads_it(dev_stack) -> None:
    """`make run` makes reports: the API queues them, the local event-source mapping hands them to the reports
    function, and the presigned link downloads the document from S3 (moto)."""
    _, state, _ = dev_stack
    key = {"x-api-key": state["api_keys"]["helios-solar"]["viewer"]}  # read-only people may ask for reports
    with httpx.Client(base_url=state["api_url"], timeout=10, headers=key) as http:
        site = http.get("/api/v1/sites").json()["items"][0]
        asset = http.get("/api/v1/assets", params={"site_id": site["id"], "type": "inverter"}).json()["items"][0]
        asked = {
            "site-daily": {"site_id": site["id"]},
            "fleet-monthly": {"format": "xlsx"},
            "work-order-backlog": {"format": "csv"},
            "asset-reliability": {"site_id": site["id"]},
            "telemetry-export": {"asset_id": asset["id"]},
        }
        locations = {}
        for kind, fields in asked.items():
            answer = http.post("/api/v1/reports", json={"type": kind, **fields})
            assert answer.status_code == 202, answer.text
            locations[kind] = answer.headers["location"]
        began = time.monotonic()
        pending = dict(locations)
        while pending and time.monotonic() - began < 60:
            for kind, location in list(pending.items()):
                report = http.get(location).json()
                if report["status"] in ("ready", "failed"):
                    assert report["status"] == "ready", report
                    got = httpx.get(report["download_url"], timeout=30)
                    assert got.status_code == 200 and len(got.content) == report["size_bytes"] > 0, kind
                    pending.pop(kind)
            time.sleep(0.3)
        assert not pending, f"not ready within 60 s: {pending}"
        print(f"five reports made and downloaded in {time.monotonic() - began:.1f} s")


def _hourly_from_raw(database_url: str, tenant: str, asset: str, since: datetime) -> dict[datetime, dict[str, float]]:
    """The asset's mean power and wind per hour since ``since``, straight from the raw readings."""
    import psycopg

    q = (
        "SELECT date_trunc('hour', r.ts) AS hour, s.metric, avg(r.value) FROM telemetry_raw r "
        "JOIN telemetry_series s ON s.series_id = r.series_id WHERE s.tenant_id = %s AND s.asset_id = %s "
        "AND s.metric IN ('ac_power_kw', 'wind_speed_ms') AND r.ts >= date_trunc('hour', %s::timestamptz) "
        "GROUP BY 1, 2"
    )
    out: dict[datetime, dict[str, float]] = {}
    with psycopg.connect(database_url) as conn:
        for hour, metric, mean in conn.execute(q, (tenant, asset, since)):
            out.setdefault(hour, {})[metric] = mean
    return out


def _turbine_intervals(hourly: dict[datetime, dict[str, float]], as_of: datetime) -> list:
    """Hourly intervals (the current one for the part of it that had passed at ``as_of``) with a wind reading."""
    from dcmms.domain.energy import Interval

    return [
        Interval(min(1.0, (as_of - hour).total_seconds() / 3600), m.get("ac_power_kw"), wind_m_s=m["wind_speed_ms"])
        for hour, m in sorted(hourly.items())
        if "wind_speed_ms" in m
    ]


def test_an_injected_fault_opens_an_alert_a_downtime_episode_and_lost_energy(dev_stack) -> None:
    """`dcmms simulate --fault` stops a turbine: the seeded rule raises a critical alert with a work order, the
    read model opens a downtime episode, and after `dcmms kpi` the work order's lost energy and the site's
    dashboard agree with a recomputation from the raw readings in PostgreSQL (dcmms.domain.energy)."""
    from zoneinfo import ZoneInfo

    import psycopg

    from dcmms.domain.energy import PowerCurve, energy_kwh, lost_energy_kwh, wind_time_availability
    from tests.support.waiting import eventually

    _, state, state_file = dev_stack
    key = {"x-api-key": state["api_keys"]["boreas-wind"]["admin"]}
    http = httpx.Client(base_url=state["api_url"], timeout=10, headers=key)
    site = http.get("/api/v1/sites", params={"limit": 1}).json()["items"][0]  # the simulator's first site
    fleet = http.get("/api/v1/assets", params={"site_id": site["id"], "limit": 1000}).json()["items"]
    turbines = {a["id"]: a for a in fleet if a["type"] == "turbine"}
    # one the simulator test above did not run (it ran the first 20 assets), so that nothing it produced
    # earlier this hour hides the outage (an hour counts as available when its mean power is above zero)
    faulted = next(a["id"] for a in fleet[20:120] if a["type"] == "turbine")
    started = datetime.now(UTC)
    out = _cli(
        "simulate",
        *("--tenant", "boreas-wind", "--sites", "1", "--assets", "120", "--duration", "6", "--interval", "1"),
        *("--seed", "14", "--fault", faulted, "--state-file", str(state_file)),
        timeout=60,
    )
    sent = int(out.stdout.split("put ")[1].split()[0])
    with psycopg.connect(state["database_url"], autocommit=True) as conn:  # every record stored, to compare

        def stored() -> bool:
            q = (
                "SELECT count(DISTINCT (s.asset_id, r.ts)) FROM telemetry_raw r JOIN telemetry_series s "
                "ON s.series_id = r.series_id WHERE s.tenant_id = 'boreas-wind' AND r.ts >= %s"
            )
            return conn.execute(q, (started.replace(microsecond=0),)).fetchone()[0] >= sent

        assert eventually(stored, 30, 0.2), "the simulated readings did not all reach PostgreSQL"

    def alert() -> dict | None:
        found = http.get("/api/v1/alerts", params={"asset_id": faulted, "status": "active"}).json()["items"]
        return next((a for a in found if a["message"].startswith("Turbine fault state") and a["work_order_id"]), None)

    raised = eventually(alert, 30, 0.5)
    assert raised and raised["severity"] == "critical", "the fault raised no critical alert with a work order"

    def episode() -> dict | None:
        shown = http.get(f"/api/v1/assets/{faulted}/reliability").json()["episodes"]
        return next((e for e in shown if e["alert_id"] == raised["id"]), None)

    opened = eventually(episode, 30, 0.5)
    assert opened and opened["reason"] == "forced" and opened["ended_at"] is None, opened

    def refreshed_loss() -> dict | None:
        _cli("kpi", "--state-file", str(state_file))
        lost = http.get(f"/api/v1/work-orders/{raised['work_order_id']}/lost-energy").json()
        return lost if lost["lost_energy_kwh"] is not None else None

    loss = eventually(refreshed_loss, 40, 1.0)  # once the stream has brought the work order to the read model
    assert loss, "no lost-energy figure on the alert's work order"
    as_of = datetime.fromisoformat(loss["as_of"])
    since = datetime.fromisoformat(loss["outage_since"])
    assert since == datetime.fromisoformat(raised["raised_at"].replace("Z", "+00:00"))
    curves = {
        t: PowerCurve([tuple(p) for p in a["power_curve"]["points"]], a["power_curve"]["cut_out_ms"])
        for t, a in turbines.items()
    }
    outage = _turbine_intervals(_hourly_from_raw(state["database_url"], "boreas-wind", faulted, since), as_of)
    expected = lost_energy_kwh(
        [i for i in outage if not (i.power_kw or 0) > 0],
        [curves[faulted].power_kw(i.wind_m_s) for i in outage if not (i.power_kw or 0) > 0],
    )
    assert expected > 0 and loss["lost_energy_kwh"] == pytest.approx(expected, rel=1e-6, abs=1e-3)
    tariff = site["performance"]["tariff_per_mwh"]
    assert loss["lost_money"] == pytest.approx(expected / 1000 * tariff, abs=0.01)

    # the fleet dashboard's row for the site, from the same refresh, against the raw readings of its turbines
    row = next(s for s in http.get("/api/v1/dashboard").json()["sites"] if s["site_id"] == site["id"])
    zone = ZoneInfo(site.get("timezone") or "UTC")
    day_start = datetime.now(zone).replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)
    energy = lost = 0.0
    available = expected_h = 0.0
    for t, curve in curves.items():
        today = _turbine_intervals(_hourly_from_raw(state["database_url"], "boreas-wind", t, day_start), as_of)
        energy += energy_kwh(today)
        down = [i for i in today if not ((i.power_kw or 0) > 0 or curve.power_kw(i.wind_m_s) == 0)]
        lost += lost_energy_kwh(down, [curve.power_kw(i.wind_m_s) for i in down])
        share = wind_time_availability(today, curve)
        if share is not None:
            expected_h += sum(i.hours for i in today)
            available += share * sum(i.hours for i in today)
    http.close()
    assert row["energy_today_kwh"] == pytest.approx(energy, rel=1e-6, abs=1e-3)
    assert row["lost_energy_kwh"] == pytest.approx(lost, rel=1e-6, abs=1e-3) and lost >= expected
    assert row["availability"] == pytest.approx(available / expected_h, abs=1e-4)
    print(
        f"lost {loss['lost_energy_kwh']:.1f} kWh on {raised['work_order_id']}; site availability {row['availability']}"
    )


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
