"""The demo's preventive-maintenance programmes (dcmms_dev.seed, docs/pm.md "Demo programmes") on the real stack:
the first pm run generates the monthly inverter inspections at night, the transformer oil test is forecast for
June, the gearbox inspection fires once a turbine's operating hours reach 2,500 (hours made by the simulator's
fleet model, time accelerated), and the blade inspection waits for three hours of low wind.

The demo is seeded once for the module, under tenant ids of its own; each test reads the state it starts
from (a run at another test's accelerated time moves the meters' stored reading times), so the order of the
tests does not matter.
"""

from __future__ import annotations

import math
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dcmms.domain.model import AssetStatus, AssetType, Role, SiteKind
from dcmms.telemetry.postgres import Reading, TelemetryStore
from dcmms_dev.seed import GEARBOX_HOURS, TenantSeed, seed_demo
from dcmms_dev.simulator import FleetModel, fleet_from_domain
from tests.support.api import ApiClient


@pytest.fixture(scope="module")
def demo(stack) -> dict[SiteKind, TenantSeed]:  # type: ignore[no-untyped-def]
    return {seed.kind: seed for seed in seed_demo(prefix=f"pm-{uuid.uuid4().hex[:8]}-")}


def _hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _write(settings, readings: list[Reading]) -> None:  # type: ignore[no-untyped-def]
    store = TelemetryStore(settings.database_url)
    store.migrate()
    store.write(readings)
    store.close()


def _all(api: ApiClient, path: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        body = api.get(path, limit=1000, **params, **({"cursor": cursor} if cursor else {})).json()
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items


def _generated(api: ApiClient, schedule_ids: set[str]) -> list[dict[str, Any]]:
    return [w for w in _all(api, "/api/v1/work-orders", type="preventive") if w.get("pm_schedule_id") in schedule_ids]


def _in_service(seed: TenantSeed, kind: AssetType, site_id: str | None = None) -> list[Any]:
    """The assets a schedule on ``kind`` targets (a decommissioned one gets no work)."""
    return [
        a
        for a in seed.assets
        if a.type is kind and a.status is not AssetStatus.decommissioned and site_id in (None, a.site_id)
    ]


def test_the_first_run_generates_the_monthly_inverter_inspections_at_night(demo, app, http, settings) -> None:
    solar = demo[SiteKind.solar]
    tid = solar.tenant.id
    api = ApiClient(http, solar.keys[Role.admin.value])
    monthly = [s for s in solar.schedules if s.name == "Monthly inverter inspection"]
    assert len(monthly) == len(solar.sites) == 3
    assert all(s.production_window is not None and s.production_window.kind == "night" for s in monthly)
    # night at every site at once: its weather station read no sun in the last hour (the window's own test)
    now = _hour(datetime.now(UTC)) + timedelta(minutes=30)
    stations = [a for a in solar.assets if a.type is AssetType.weather_station]
    _write(
        settings, [Reading(tid, a.id, "poa_irradiance_wm2", _hour(now) + timedelta(minutes=5), 0.0) for a in stations]
    )
    pm = app.state.maintenance.pm
    counts = pm.run(tid, now)
    assert counts["failed"] == 0, counts

    made = _generated(api, {s.id for s in monthly})
    inverters = _in_service(solar, AssetType.inverter)
    assert sorted(w["asset_id"] for w in made) == sorted(a.id for a in inverters)  # one each, this month's
    anchors = {s.id: f"{s.trigger.anchor.isoformat()}T22:00" for s in monthly}  # type: ignore[union-attr]
    for wo in made:
        assert wo["pm_occurrence"] == anchors[wo["pm_schedule_id"]] and wo["type"] == "preventive"
        assert wo["assigned_to"] == solar.users[Role.technician].id and wo["title"].startswith("Monthly inverter")
        steps = {c["id"]: c for c in wo["checklist"]}
        assert list(steps) == ["loto", "heatsink", "filters", "fans"]
        assert [c["kind"] for c in steps.values()] == ["check", "number", "check", "pass_fail"]
        assert (steps["heatsink"]["unit"], steps["heatsink"]["min"], steps["heatsink"]["max"]) == ("°C", 0, 70)
    assert pm.run(tid, now)["generated"] == 0  # a second run finds them made
    assert len(_generated(api, {s.id for s in monthly})) == len(inverters)

    # what is coming: the oil test every 1 June, the IV curves on the combiners a quarter apart
    oil = next(s for s in solar.schedules if s.name == "Annual transformer oil test")
    forecast = api.get(f"/api/v1/pm-schedules/{oil.id}/forecast", horizon="730d").json()["occurrences"]
    assert 1 <= len(forecast) <= 3 and all(o["occurrence"][4:] == "-06-01T09:00" for o in forecast), forecast
    next_oil = datetime.fromisoformat(forecast[0]["due_at"])
    assert next_oil > datetime.now(UTC)
    assert datetime.fromisoformat(api.get(f"/api/v1/pm-schedules/{oil.id}").json()["next_due"]) == next_oil
    iv = next(s for s in solar.schedules if s.name == "Quarterly string IV curve check")
    coming = api.get(f"/api/v1/pm-schedules/{iv.id}/forecast", horizon="200d").json()["occurrences"]
    first, second = (datetime.fromisoformat(o["due_at"]) for o in coming[:2])
    assert 89 <= (second - first).days <= 92
    assert datetime.fromisoformat(coming[0]["generate_at"]) == first - timedelta(days=7)  # a week's lead time


def test_the_gearbox_inspection_fires_after_simulated_operating_hours(demo, app, http, settings) -> None:
    """The first wind site's turbines start at 2,497 operating hours: three producing hours (from the
    simulator's fleet model in a steady breeze, an hour at a time, time accelerated) make one inspection due."""
    wind = demo[SiteKind.wind]
    tid = wind.tenant.id
    api = ApiClient(http, wind.keys[Role.admin.value])
    site = wind.sites[0]
    gearbox = next(s for s in wind.schedules if s.name.startswith("Gearbox") and s.site_id == site.id)
    assert gearbox.trigger.kind == "meter" and gearbox.trigger.reading == GEARBOX_HOURS[0] == 2497
    turbine = _in_service(wind, AssetType.turbine, site.id)[0]
    state = api.get(f"/api/v1/pm-schedules/{gearbox.id}").json()["targets"].get(turbine.id) or {}
    # counting goes on from the last run's hour (another test's run may have moved it), else the creation hour
    base = datetime.fromisoformat(state["reading_at"]) if state.get("reading_at") else _hour(gearbox.created_at)
    reading = state.get("reading") or gearbox.trigger.reading
    hours = math.ceil(2500 - reading)
    assert hours == 3

    model = FleetModel(
        fleet_from_domain(wind.sites, [turbine]), rng=random.Random(16), fault_rate=0, spike_rate=0, mean_wind_ms=11
    )
    readings: list[Reading] = []
    for k in range(hours * 6):  # every 10 minutes of the complete hours after ``base``
        at = base + timedelta(hours=1, minutes=10 * k)
        for sim, metrics in model.readings(at):
            readings += [Reading(tid, sim.asset_id, metric, at, float(value)) for metric, value in metrics.items()]
    producing = {_hour(r.ts) for r in readings if r.metric == "ac_power_kw" and r.value > 0}
    assert len(producing) == hours  # each of the hours produced something: an operating hour each
    _write(settings, readings)
    pm = app.state.maintenance.pm

    early = pm.run(tid, base + timedelta(hours=hours, minutes=30))  # the last hour is not complete yet
    assert early["failed"] == 0, early
    assert not _generated(api, {gearbox.id})
    assert api.get(f"/api/v1/pm-schedules/{gearbox.id}").json()["targets"][turbine.id]["reading"] == 2499
    pm.run(tid, base + timedelta(hours=hours + 1, minutes=30))
    (made,) = _generated(api, {gearbox.id})
    assert made["asset_id"] == turbine.id and made["pm_occurrence"] == "meter:2500"
    assert [c["id"] for c in made["checklist"]] == ["loto", "oil_sample", "filter_dp", "endoscope"]
    target = api.get(f"/api/v1/pm-schedules/{gearbox.id}").json()["targets"][turbine.id]
    assert (target["reading"], target["meter_due"]) == (2500, 5000)
    pm.run(tid, base + timedelta(hours=hours + 2, minutes=30))
    assert len(_generated(api, {gearbox.id})) == 1  # once


def test_the_blade_inspection_waits_for_three_hours_of_low_wind(demo, app, http, settings) -> None:
    wind = demo[SiteKind.wind]
    tid = wind.tenant.id
    api = ApiClient(http, wind.keys[Role.admin.value])
    site = wind.sites[1]
    blade = next(s for s in wind.schedules if s.name.startswith("Blade") and s.site_id == site.id)
    window = blade.production_window
    assert window is not None and (window.kind, window.hours, window.cut_in_ms) == ("low_wind", 3, 3.5)
    turbine = _in_service(wind, AssetType.turbine, site.id)[0]
    pm = app.state.maintenance.pm
    start = _hour(datetime.now(UTC)) + timedelta(days=2)  # accelerated: two days on, the inspection long due

    def wind_speeds(first: datetime, speeds: list[float]) -> None:
        _write(settings, [Reading(tid, turbine.id, "wind_speed_ms", first + timedelta(hours=h, minutes=m), v)
                          for h, v in enumerate(speeds) for m in (5, 25, 45)])  # fmt: skip

    wind_speeds(start, [9.5, 7.0, 5.2])  # producing: above cut-in
    windy = pm.run(tid, start + timedelta(hours=2, minutes=30))
    assert windy["deferred"] >= 1 and not _generated(api, {blade.id})
    wind_speeds(start + timedelta(hours=3), [2.1, 1.4, 2.8])  # calm
    assert pm.run(tid, start + timedelta(hours=3, minutes=30))["deferred"] >= 1  # one calm hour is not enough
    assert not _generated(api, {blade.id})
    pm.run(tid, start + timedelta(hours=5, minutes=30))  # three calm hours
    (made,) = _generated(api, {blade.id})  # the other turbines have no wind readings: they wait
    assert made["asset_id"] == turbine.id
    assert made["pm_occurrence"] == f"{blade.trigger.anchor.isoformat()}T08:00"  # type: ignore[union-attr]
    assert made["checklist"][1]["id"] == "erosion" and made["type"] == "preventive"
