"""Alert rules: the CRUD API, and evaluation on ingested telemetry (for-duration, once, clear)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dcmms_dev.events import FakeLambdaContext, kinesis_event
from tests.support.api import assert_problem
from tests.support.handlers import telemetry_record

OVERTEMP = {
    "name": "Inverter over-temperature",
    "asset_type": "inverter",
    "metric": "heatsink_temp_c",
    "condition": ">",
    "threshold": 80,
    "for_duration_s": 60,
    "severity": "major",
    "auto_work_order": True,
}


def test_rule_crud_and_validation(api, tenant, client_for) -> None:
    created = api.post("/api/v1/alert-rules", OVERTEMP)
    assert created.status_code == 201 and created.headers["location"].startswith("/api/v1/alert-rules/rule_")
    rule = created.json()
    assert api.get(f"/api/v1/alert-rules/{rule['id']}").json()["threshold"] == 80
    assert api.patch(f"/api/v1/alert-rules/{rule['id']}", {"threshold": 85}).json()["threshold"] == 85
    assert [r["id"] for r in api.get("/api/v1/alert-rules").json()["items"]] == [rule["id"]]
    assert_problem(api.post("/api/v1/alert-rules", OVERTEMP | {"condition": "in", "threshold": None}), 422)
    assert_problem(api.post("/api/v1/alert-rules", OVERTEMP | {"condition": "~"}), 422, "body.condition")
    assert_problem(client_for(tenant, "technician").post("/api/v1/alert-rules", OVERTEMP), 403)
    assert api.delete(f"/api/v1/alert-rules/{rule['id']}").status_code == 204
    assert_problem(api.get(f"/api/v1/alert-rules/{rule['id']}"), 404)


def test_rule_raises_once_after_its_duration_and_resolves_on_clear(api, tenant, ingest_handler) -> None:
    # given an over-temperature rule and an inverter
    rule = api.post("/api/v1/alert-rules", OVERTEMP).json()
    site = api.site()
    inv = api.asset(site["id"], type="inverter")
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)

    def send(offset_s: int, temp: float, seq: int) -> None:
        data = telemetry_record(
            tenant.tenant.id, site["id"], inv["id"], t0 + timedelta(seconds=offset_s), heatsink_temp_c=temp
        )
        response = ingest_handler(kinesis_event([(inv["id"], data)], first_sequence=seq), FakeLambdaContext())
        assert response["batchItemFailures"] == []

    def alerts() -> list[dict]:
        return api.get("/api/v1/alerts", asset_id=inv["id"]).json()["items"]

    # when it runs hot for 30 s: not yet due
    send(0, 85, 20_000)
    send(30, 86, 20_001)
    assert alerts() == []
    # when it is still hot after 70 s: one alert and one corrective work order
    send(70, 87, 20_002)
    send(90, 88, 20_003)
    send(70, 87, 20_002)  # a redelivered record changes nothing
    [alert] = alerts()
    assert alert["rule_id"] == rule["id"] and alert["severity"] == "major" and alert["status"] == "active"
    [wo] = api.get("/api/v1/work-orders", asset_id=inv["id"]).json()["items"]
    assert wo["source_alert_id"] == alert["id"] and wo["priority"] == "high" and wo["type"] == "corrective"
    assert api.get(f"/api/v1/alerts/{alert['id']}").json()["work_order_id"] == wo["id"]
    # when it cools down, the alert resolves; the work order stays for the technician
    send(120, 60, 20_004)
    assert api.get(f"/api/v1/alerts/{alert['id']}").json()["status"] == "resolved"
    assert len(api.get("/api/v1/work-orders", asset_id=inv["id"]).json()["items"]) == 1
    # a new hot spell is a new episode: a second alert
    send(150, 90, 20_005)
    send(220, 91, 20_006)
    assert len(alerts()) == 2


def test_episodes_within_one_batch_and_a_person_resolving_while_hot(api, tenant, ingest_handler) -> None:
    # given an over-temperature rule and an inverter
    api.post("/api/v1/alert-rules", OVERTEMP)
    site = api.site()
    inv = api.asset(site["id"], type="inverter")
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)

    def record(offset_s: int, temp: float) -> tuple[str, bytes]:
        at = t0 + timedelta(seconds=offset_s)
        return inv["id"], telemetry_record(tenant.tenant.id, site["id"], inv["id"], at, heatsink_temp_c=temp)

    def alerts() -> list[dict]:
        return sorted(api.get("/api/v1/alerts", asset_id=inv["id"]).json()["items"], key=lambda a: a["raised_at"])

    # when one batch holds a whole episode (hot 70 s, cool) and the start of a second one (hot 80 s)
    batch = kinesis_event(
        [record(0, 85), record(70, 86), record(90, 60), record(100, 90), record(180, 91)], first_sequence=30_000
    )
    assert ingest_handler(batch, FakeLambdaContext())["batchItemFailures"] == []
    # then the first alert is raised and resolved, the second is active
    first, second = alerts()
    assert (first["status"], second["status"]) == ("resolved", "active")
    # and a redelivery of the batch raises nothing more
    ingest_handler(batch, FakeLambdaContext())
    assert len(alerts()) == 2
    # when a person resolves the active alert while it is still hot, a later hot spell is a new episode
    api.post(f"/api/v1/alerts/{second['id']}/resolve", {"note": "reset the fan"})
    hot = kinesis_event([record(200, 92), record(230, 93), record(300, 94)], first_sequence=30_100)
    ingest_handler(hot, FakeLambdaContext())
    assert [a["status"] for a in alerts()] == ["resolved", "resolved", "active"]


NO_OUTPUT_IN_SUN = {
    "name": "Inverter without output in sunshine",
    "asset_type": "inverter",
    "metric": "ac_power_kw",
    "condition": "<",
    "threshold": 1.0,
    "while_site": {"metric": "poa_irradiance_wm2", "condition": ">", "threshold": 200.0},
    "for_duration_s": 300,
    "severity": "major",
    "auto_work_order": True,
}


def test_site_condition_from_another_assets_readings(api, tenant, ingest_handler) -> None:
    # given the no-output-in-sunshine rule, an inverter and the site's weather station
    rule = api.post("/api/v1/alert-rules", NO_OUTPUT_IN_SUN)
    assert rule.status_code == 201 and rule.json()["while_site"]["threshold"] == 200.0
    site = api.site()
    inv = api.asset(site["id"], type="inverter")
    station = api.asset(site["id"], type="weather_station", name="WS-01")
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    seq = iter(range(40_000, 41_000))

    def send(asset: dict, offset_s: int, **metrics: float) -> None:
        at = t0 + timedelta(seconds=offset_s)
        data = telemetry_record(tenant.tenant.id, site["id"], asset["id"], at, **metrics)
        event = kinesis_event([(asset["id"], data)], first_sequence=next(seq))
        assert ingest_handler(event, FakeLambdaContext())["batchItemFailures"] == []

    def alerts() -> list[dict]:
        return api.get("/api/v1/alerts", asset_id=inv["id"]).json()["items"]

    # when it is dark, an idle inverter is normal: no alert however long it lasts
    send(station, 0, poa_irradiance_wm2=0.0)
    for offset in (0, 200, 400):
        send(inv, offset, ac_power_kw=0.0)
    assert alerts() == []
    # when the sun is up (seen on the weather station's records) and the inverter stays at zero for 5 min
    for offset in (600, 800, 1000):
        send(station, offset, poa_irradiance_wm2=650.0)
        send(inv, offset + 10, ac_power_kw=0.0)
    [alert] = alerts()
    assert alert["rule_id"] == rule.json()["id"] and alert["status"] == "active"
    # when it produces again, the alert resolves
    send(inv, 1100, ac_power_kw=900.0)
    assert api.get(f"/api/v1/alerts/{alert['id']}").json()["status"] == "resolved"
    # a site condition only takes > and <
    bad = NO_OUTPUT_IN_SUN | {"while_site": {"metric": "poa_irradiance_wm2", "condition": "in", "threshold": 1}}
    assert_problem(api.post("/api/v1/alert-rules", bad), 422, "body.while_site.condition")
