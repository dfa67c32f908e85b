"""Preventive maintenance on the real stack (DynamoDB Local, Redis): schedules over the API, and the pm run
generating each occurrence's work order exactly once — two runs at once included — skipping while the previous
one is open, per asset of a type at a site, on the site's wall clock."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.support.api import ApiClient, assert_problem


@pytest.fixture
def programme(api: ApiClient) -> dict[str, Any]:
    """A site in Madrid with three inverters and a weather station, and an inspection procedure."""
    site = api.site(name="Almería PV", timezone="Europe/Madrid")
    inverters = [api.asset(site["id"], name=f"INV-{n}", type="inverter")["id"] for n in range(3)]
    api.asset(site["id"], name="MET-1", type="weather_station")
    procedure = api.post(
        "/api/v1/procedures",
        {
            "name": "Monthly inverter inspection",
            "steps": [
                {"title": "Clean air filters", "kind": "check"},
                {"title": "Heat-sink temperature", "kind": "number", "unit": "°C", "min": 0, "max": 70},
            ],
            "estimated_duration_min": 45,
            "asset_types": ["inverter"],
        },
    )
    assert procedure.status_code == 201, procedure.text
    return {"site": site, "inverters": inverters, "procedure": procedure.json()}


def _schedule(api: ApiClient, programme: dict[str, Any], **fields: Any) -> dict[str, Any]:
    today = datetime.now(ZoneInfo("Europe/Madrid")).date()
    body = {
        "name": "Inverter inspection",
        "procedure_id": programme["procedure"]["id"],
        "site_id": programme["site"]["id"],
        "asset_type": "inverter",
        "trigger": {
            "kind": "calendar",
            "every": 1,
            "unit": "months",
            "anchor": (today - timedelta(days=1)).isoformat(),
        },
        "priority": "high",
    } | fields
    created = api.post("/api/v1/pm-schedules", body)
    assert created.status_code == 201, created.text
    return created.json()


def _preventive(api: ApiClient, schedule_id: str) -> list[dict[str, Any]]:
    items = api.get("/api/v1/work-orders", type="preventive", limit=1000).json()["items"]
    return [w for w in items if w.get("pm_schedule_id") == schedule_id]


def test_two_runs_at_once_generate_each_occurrence_once(api: ApiClient, app, tenant, programme) -> None:
    schedule = _schedule(api, programme)
    pm = app.state.maintenance.pm
    now = datetime.now(UTC)
    results: list[dict[str, int]] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        barrier.wait()
        results.append(pm.run(tenant.tenant.id, now))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sum(r["generated"] for r in results) == 3, results  # one per inverter, whoever made it
    made = _preventive(api, schedule["id"])
    assert sorted(w["asset_id"] for w in made) == sorted(programme["inverters"])
    yesterday = (datetime.now(ZoneInfo("Europe/Madrid")).date() - timedelta(days=1)).isoformat()
    for wo in made:
        assert wo["pm_occurrence"] == f"{yesterday}T08:00" and wo["type"] == "preventive"
        assert wo["priority"] == "high" and wo["procedure_id"] == programme["procedure"]["id"]
        assert [c["item"] for c in wo["checklist"]] == ["Clean air filters", "Heat-sink temperature"]
    again = pm.run(tenant.tenant.id, now)
    assert again["generated"] == 0 and len(_preventive(api, schedule["id"])) == 3
    stored = api.get(f"/api/v1/pm-schedules/{schedule['id']}").json()
    assert set(stored["targets"]) == set(programme["inverters"])
    assert stored["next_due"] > stored["targets"][programme["inverters"][0]]["last_due"]


def test_an_occurrence_is_skipped_while_the_previous_work_is_open(api: ApiClient, app, tenant, programme) -> None:
    schedule = _schedule(api, programme)
    pm = app.state.maintenance.pm
    now = datetime.now(UTC)
    assert pm.run(tenant.tenant.id, now)["generated"] == 3
    first = {w["asset_id"]: w for w in _preventive(api, schedule["id"])}
    done = programme["inverters"][0]
    wo = first[done]
    for step in wo["checklist"]:  # answer the checklist, then complete it
        answer = True if step["kind"] == "check" else 41.0
        answered = api.http.put(
            f"/api/v1/work-orders/{wo['id']}/checklist/{step['id']}",
            json={"answer": answer},
            headers={"x-api-key": api.key},
        )
        assert answered.status_code == 200, answered.text
    for to in ("open", "in_progress", "completed"):
        moved = api.post(f"/api/v1/work-orders/{wo['id']}/transitions", {"to": to})
        assert moved.status_code == 200, moved.text
    later = now + timedelta(days=32)  # the next month's occurrence is due
    second = pm.run(tenant.tenant.id, later)
    assert (second["generated"], second["skipped"]) == (1, 2)
    made = _preventive(api, schedule["id"])
    assert len(made) == 4 and [w["asset_id"] for w in made].count(done) == 2
    state = api.get(f"/api/v1/pm-schedules/{schedule['id']}").json()["targets"]
    assert state[programme["inverters"][1]]["skipped"] == 1 and state[done]["skipped"] == 0

    stacked = _schedule(api, programme, name="Stacked", open_policy="stack", asset_type=None,
                        asset_id=programme["inverters"][1])  # fmt: skip
    # yesterday's and last month's occurrences (caught up), then next month's: each stacked on the open ones
    assert pm.run(tenant.tenant.id, later)["generated"] == 2
    assert pm.run(tenant.tenant.id, later + timedelta(days=31))["generated"] == 1
    piled = _preventive(api, stacked["id"])
    assert len(piled) == 3 and all(w["status"] == "draft" for w in piled)


def test_schedules_over_the_api(api: ApiClient, tenant, other_tenant, programme, client_for) -> None:
    schedule = _schedule(api, programme, lead_time_days=5)
    assert schedule["timezone"] == "Europe/Madrid" and schedule["next_due"]
    forecast = api.get(f"/api/v1/pm-schedules/{schedule['id']}/forecast", horizon="90d")
    assert forecast.status_code == 200, forecast.text
    occurrences = forecast.json()["occurrences"]
    assert 3 <= len(occurrences) <= 4
    assert all(o["occurrence"].endswith("T08:00") for o in occurrences)
    first = datetime.fromisoformat(occurrences[0]["due_at"])
    assert datetime.fromisoformat(occurrences[0]["generate_at"]) == first - timedelta(days=5)
    assert_problem(api.get(f"/api/v1/pm-schedules/{schedule['id']}/forecast", horizon="forever"), 422, "query.horizon")

    asset_one = _schedule(
        api, programme, name="Transformer oil", asset_type=None, asset_id=programme["inverters"][0],
        trigger={"kind": "calendar", "rrule": "FREQ=YEARLY;BYMONTH=6;BYMONTHDAY=1", "anchor": "2027-01-01"},
    )  # fmt: skip
    ids = {s["id"] for s in api.get("/api/v1/pm-schedules", site_id=programme["site"]["id"]).json()["items"]}
    assert {schedule["id"], asset_one["id"]} <= ids
    only_asset = api.get("/api/v1/pm-schedules", asset_id=programme["inverters"][0]).json()["items"]
    assert [s["id"] for s in only_asset] == [asset_one["id"]]
    assert api.get("/api/v1/pm-schedules", trigger="meter").json()["items"] == []

    base = {"name": "x", "procedure_id": programme["procedure"]["id"], "trigger": schedule["trigger"]}
    assert_problem(api.post("/api/v1/pm-schedules", base), 422, "body.site_id")
    assert_problem(api.post("/api/v1/pm-schedules", base | {"site_id": programme["site"]["id"], "procedure_id": "nope"}),
                   422, "body.procedure_id")  # fmt: skip
    assert_problem(api.post("/api/v1/pm-schedules", base | {"site_id": "site_nope"}), 422, "body.site_id")
    weekly = {"kind": "calendar", "every": 1, "unit": "weeks", "rrule": "FREQ=DAILY", "anchor": "2027-01-01"}
    assert_problem(api.post("/api/v1/pm-schedules", base | {"site_id": programme["site"]["id"], "trigger": weekly}),
                   422, "body.trigger.calendar")  # fmt: skip
    hot = {"kind": "condition", "metric": "wind_speed_ms", "condition": ">", "threshold": 20}  # not an inverter's
    assert_problem(api.post("/api/v1/pm-schedules", base | {"site_id": programme["site"]["id"], "asset_type": "inverter",
                                                            "trigger": hot}), 422, "body.trigger.metric")  # fmt: skip
    assert_problem(
        client_for(tenant, "viewer").post("/api/v1/pm-schedules", base | {"site_id": programme["site"]["id"]}), 403
    )
    assert_problem(
        client_for(tenant, "technician").post("/api/v1/pm-schedules", base | {"site_id": programme["site"]["id"]}), 403
    )

    other = client_for(other_tenant, "admin")
    assert_problem(other.get(f"/api/v1/pm-schedules/{schedule['id']}"), 404)
    assert_problem(other.get(f"/api/v1/pm-schedules/{schedule['id']}/forecast"), 404)
    assert schedule["id"] not in {s["id"] for s in other.get("/api/v1/pm-schedules").json()["items"]}

    paused = api.patch(f"/api/v1/pm-schedules/{schedule['id']}", {"enabled": False},
                       headers={"If-Match": f'"v{schedule["version"]}"'})  # fmt: skip
    assert paused.status_code == 200 and paused.json()["enabled"] is False
    assert api.delete(f"/api/v1/pm-schedules/{asset_one['id']}").status_code == 204
    assert_problem(api.get(f"/api/v1/pm-schedules/{asset_one['id']}"), 404)


def test_the_pm_function_runs_every_tenant(api: ApiClient, tenant, settings, programme) -> None:
    from dcmms.config import get_settings
    from dcmms_dev.events import FakeLambdaContext, scheduled_event
    from tests.support.handlers import import_handler

    spare = api.post(
        "/api/v1/procedures", {"name": "Visual check", "steps": [{"title": "Look"}], "estimated_duration_min": 10}
    ).json()
    schedule = _schedule(api, programme, procedure_id=spare["id"])
    broken = _schedule(api, programme, name="Broken")
    deleted = api.delete(f"/api/v1/procedures/{programme['procedure']['id']}")
    assert deleted.status_code == 204, deleted.text  # (still referenced: the run carries on past it)
    env = pytest.MonkeyPatch()
    try:
        handler = import_handler("functions.pm.handler", settings, env)
        counts = handler(scheduled_event(), FakeLambdaContext())
    finally:
        env.undo()
        get_settings.cache_clear()
    assert counts["tenants"] >= 1 and counts["failed"] >= 1 and counts["generated"] >= 3
    assert len(_preventive(api, schedule["id"])) == 3 and not _preventive(api, broken["id"])


def _write(settings, readings) -> None:  # type: ignore[no-untyped-def]
    from dcmms.telemetry.postgres import TelemetryStore

    store = TelemetryStore(settings.database_url)
    store.migrate()
    store.write(readings)
    store.close()


def test_meter_triggers_fire_from_ingested_telemetry_at_the_right_reading(
    api: ApiClient, app, tenant, settings, programme
) -> None:
    """Operating hours from the rollups: every 3 hours of production; one inverter runs 4 hours, another 2."""
    from dcmms.telemetry.postgres import Reading

    schedule = _schedule(api, programme, name="Hours", open_policy="stack",
                         trigger={"kind": "meter", "meter": "operating_hours", "every": 3})  # fmt: skip
    pm = app.state.maintenance.pm
    start = datetime.fromisoformat(schedule["created_at"]).replace(minute=0, second=0, microsecond=0) + timedelta(
        hours=1
    )
    tid = tenant.tenant.id
    busy, idle, off = programme["inverters"]
    readings = [Reading(tid, busy, "ac_power_kw", start + timedelta(hours=h, minutes=20), 250.0) for h in range(4)]
    readings += [Reading(tid, idle, "ac_power_kw", start + timedelta(hours=h, minutes=20), 80.0) for h in range(2)]
    readings += [Reading(tid, off, "ac_power_kw", start + timedelta(hours=h, minutes=20), 0.0) for h in range(4)]
    _write(settings, readings)
    first = pm.run(tid, start + timedelta(hours=5))
    assert first["generated"] == 1, first
    (made,) = _preventive(api, schedule["id"])
    assert made["asset_id"] == busy and made["pm_occurrence"] == "meter:3"
    state = api.get(f"/api/v1/pm-schedules/{schedule['id']}").json()["targets"]
    assert state[busy]["reading"] == 4 and state[busy]["meter_due"] == 6
    assert state[idle]["reading"] == 2 and state[off]["reading"] == 0
    # two more hours for the idle one: 4 hours, its first occurrence; the busy one (4 + 1 = 5) not yet at 6
    more = [Reading(tid, idle, "ac_power_kw", start + timedelta(hours=5 + h, minutes=20), 90.0) for h in range(2)]
    more.append(Reading(tid, busy, "ac_power_kw", start + timedelta(hours=5, minutes=20), 250.0))
    _write(settings, more)
    second = pm.run(tid, start + timedelta(hours=8))
    assert second["generated"] == 1
    assert sorted(w["asset_id"] for w in _preventive(api, schedule["id"])) == sorted([busy, idle])
    assert pm.run(tid, start + timedelta(hours=8))["generated"] == 0  # the same hours are not counted twice
    forecast = api.get(f"/api/v1/pm-schedules/{schedule['id']}/forecast", horizon="30d").json()
    assert forecast["trigger"] == "meter"


def test_condition_triggers_fire_once_a_day_while_the_condition_holds(
    api: ApiClient, app, tenant, settings, programme
) -> None:
    from dcmms.telemetry.postgres import Reading

    schedule = _schedule(api, programme, name="Hot inverter",
                         trigger={"kind": "condition", "metric": "heatsink_temp_c", "stat": "p95", "window_days": 7,
                                  "condition": ">", "threshold": 65})  # fmt: skip
    pm = app.state.maintenance.pm
    now = datetime.now(UTC)
    tid = tenant.tenant.id
    hot, cool, _ = programme["inverters"]
    readings = []
    for h in range(1, 25):
        at = now - timedelta(hours=h)
        readings += [Reading(tid, hot, "heatsink_temp_c", at, 60.0 + (10 if h % 4 == 0 else 0)),
                     Reading(tid, cool, "heatsink_temp_c", at, 45.0)]  # fmt: skip
    _write(settings, readings)
    assert pm.run(tid, now)["generated"] == 1
    (made,) = _preventive(api, schedule["id"])
    assert made["asset_id"] == hot and made["pm_occurrence"].startswith("condition:")
    assert pm.run(tid, now + timedelta(minutes=15))["generated"] == 0  # once a day
    state = api.get(f"/api/v1/pm-schedules/{schedule['id']}").json()["targets"]
    assert state[hot]["reading"] > 65 and state[cool]["reading"] == pytest.approx(45.0)


def test_the_production_window_holds_work_until_it_opens(api: ApiClient, app, tenant, programme) -> None:
    """Blade inspection in low wind, inverter work at night: an occurrence outside its window waits."""
    schedule = _schedule(api, programme, name="Night shift",
                         production_window={"kind": "local_hours", "start": "01:00", "end": "04:00"})  # fmt: skip
    pm = app.state.maintenance.pm
    madrid = ZoneInfo("Europe/Madrid")
    today = datetime.now(madrid).date()
    noon = datetime(today.year, today.month, today.day, 12, tzinfo=madrid).astimezone(UTC)
    held = pm.run(tenant.tenant.id, noon)
    assert held["deferred"] >= 3 and not _preventive(api, schedule["id"])
    night = noon + timedelta(hours=14, minutes=30)  # 02:30 local the next night
    assert pm.run(tenant.tenant.id, night)["generated"] == 3
    bad = {"kind": "local_hours", "start": "01:00"}
    created = api.post("/api/v1/pm-schedules", {"name": "x", "procedure_id": programme["procedure"]["id"],
                       "site_id": programme["site"]["id"], "trigger": schedule["trigger"], "production_window": bad})  # fmt: skip
    assert_problem(created, 422, "body.production_window")


def test_pm_compliance_and_planned_work_in_the_dashboards(api: ApiClient, tenant, settings, streams_poller) -> None:
    """Done on time / due this month, overdue PM, planned vs unplanned work: from the read model's work orders,
    in the fleet and site dashboards after a KPI refresh."""
    import orjson
    import psycopg

    from tests.integration.test_dashboard_kpis import _refreshed
    from tests.support.waiting import projected

    site = api.site(name="Compliance Park", timezone="UTC")
    assert projected(settings.database_url, tenant.tenant.id, {"sites": [site["id"]]})
    now = datetime.now(UTC)
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    due = month_start + (now - month_start) / 2
    rows = [  # (id, type, status, due, completed, scheduled)
        ("wo-ontime", "preventive", "completed", due, due - timedelta(hours=1), True),
        ("wo-late", "preventive", "completed", due, due + timedelta(days=2), True),
        ("wo-open", "preventive", "open", due, None, True),
        ("wo-fix", "corrective", "open", None, None, False),
    ]
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        for wo_id, kind, status, due_at, done, scheduled in rows:
            doc = {"id": wo_id, "pm_schedule_id": "pm_x" if scheduled else None}
            conn.execute(
                "INSERT INTO ops.work_orders (tenant_id, id, version, doc, created_at, site_id, type, priority, status,"
                " due_at, completed_at) VALUES (%s, %s, 1, %s, %s, %s, %s, 'medium', %s, %s, %s)",
                (
                    tenant.tenant.id,
                    wo_id,
                    orjson.dumps(doc).decode(),
                    due_at or now,
                    site["id"],
                    kind,
                    status,
                    due_at,
                    done,
                ),
            )
    _write(settings, [])  # the telemetry tables the refresh reads
    _refreshed(settings)
    fleet = api.get("/api/v1/dashboard").json()
    (shown,) = [s for s in fleet["sites"] if s["site_id"] == site["id"]]
    assert (shown["pm_due_mtd"], shown["pm_on_time_mtd"], shown["pm_overdue"]) == (3, 1, 1)
    assert shown["pm_compliance_mtd"] == pytest.approx(1 / 3, abs=1e-4)
    assert shown["planned_ratio_mtd"] == pytest.approx(0.75)
    assert fleet["totals"]["pm_due_mtd"] == 3 and fleet["totals"]["pm_compliance_mtd"] == pytest.approx(1 / 3, abs=1e-4)
    one = api.get(f"/api/v1/sites/{site['id']}/dashboard").json()["site"]
    assert one["pm_overdue"] == 1 and one["planned_ratio_mtd"] == pytest.approx(0.75)
    overdue = api.get("/api/v1/pm-overdue", site_id=site["id"])
    assert overdue.status_code == 200, overdue.text
    (late,) = overdue.json()["items"]
    assert late["id"] == "wo-open" and late["days_overdue"] > 0 and late["href"] == "/api/v1/work-orders/wo-open"
    assert_problem(api.get("/api/v1/pm-overdue", site_id="site_nope"), 404)
