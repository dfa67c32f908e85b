"""The gateway simulator: plausible physics, KPIs that mean something on its data (docs/kpis.md), PutRecords
limits, retry of failed entries only; and the seed's fleet it simulates."""

from __future__ import annotations

import io
import random
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from dcmms.domain import energy
from dcmms.domain.model import AssetType, Site, SiteKind
from dcmms.telemetry.metric_names import METRICS
from dcmms.telemetry.producer import chunks, put_records
from dcmms.telemetry.record_format import AssetRef, decode_record
from dcmms_dev.seed import (
    SOLAR_SITES,
    TURBINE_POWER_CURVE,
    WIND_SITES,
    default_rules,
    solar_site_assets,
    wind_site_assets,
)
from dcmms_dev.simulator import (
    TURBINE_FAULT,
    FleetModel,
    SimAsset,
    fleet_from_api,
    fleet_from_domain,
    power_curve,
    pv_ac_kw,
    solar_elevation_deg,
    wind_power_kw,
)

NOON = datetime(2026, 6, 21, 12, 0, tzinfo=UTC)
CURVE = energy.PowerCurve(list(TURBINE_POWER_CURVE.points), TURBINE_POWER_CURVE.cut_out_ms)


def test_sun_is_up_at_noon_and_down_at_midnight_on_the_greenwich_meridian() -> None:
    assert solar_elevation_deg(51.5, 0.0, NOON) > 55
    assert solar_elevation_deg(51.5, 0.0, NOON.replace(hour=0)) < 0
    # Madrid (3.7 W) peaks later in UTC than Greenwich
    assert solar_elevation_deg(40.4, -3.7, NOON + timedelta(minutes=15)) > solar_elevation_deg(
        40.4, -3.7, NOON - timedelta(minutes=30)
    )


def test_power_curve() -> None:
    assert wind_power_kw(2.0, 3450) == 0 and wind_power_kw(26, 3450) == 0
    assert wind_power_kw(12, 3450) == 3450 and 0 < wind_power_kw(7, 3450) < 3450


def test_inverters_follow_the_sun_and_records_validate() -> None:
    inv = SimAsset("t", "s", "inv", "inverter", 2500.0, 37.0, -2.4)
    wtg = SimAsset("t", "s", "wtg", "turbine", 3450.0, 55.0, -1.5)
    model = FleetModel([inv, wtg], random.Random(1), fault_rate=0.0)
    day = dict(next(model.readings(NOON))[1])
    night = dict(next(model.readings(NOON.replace(hour=1)))[1])
    assert (
        day["ac_power_kw"] > 1000 and day["inverter_state"] == 4 and day["heatsink_temp_c"] > night["heatsink_temp_c"]
    )
    assert night["ac_power_kw"] == 0 and night["inverter_state"] == 2
    refs = {"inv": AssetRef("s", AssetType.inverter), "wtg": AssetRef("s", AssetType.turbine)}
    for _, data in model.records(NOON):
        decode_record(data, lambda t, a: refs[a], NOON, timedelta(days=7))  # raises if anything is off-catalogue


def test_chunks_respect_record_and_byte_limits() -> None:
    small = [("k", b"x" * 100)] * 1201
    assert [len(c) for c in chunks(small)] == [500, 500, 201]
    big = [("k", b"x" * (2 * 1024 * 1024))] * 5
    assert [len(c) for c in chunks(big)] == [2, 2, 1]


class _ThrottlingKinesis:
    """Fails the second entry of the first call (as ProvisionedThroughputExceeded would)."""

    def __init__(self) -> None:
        self.calls: list[list[bytes]] = []

    def put_records(self, StreamName: str, Records: list[dict]) -> dict:
        self.calls.append([r["Data"] for r in Records])
        if len(self.calls) == 1:
            results = [
                {"SequenceNumber": "1"},
                {"ErrorCode": "ProvisionedThroughputExceededException"},
                {"SequenceNumber": "3"},
            ]
            return {"FailedRecordCount": 1, "Records": results}
        return {"FailedRecordCount": 0, "Records": [{"SequenceNumber": "4"}]}


def test_only_failed_entries_are_retried() -> None:
    kinesis = _ThrottlingKinesis()
    assert put_records(kinesis, "s", [("a", b"1"), ("b", b"2"), ("c", b"3")], sleep=lambda s: None) == 0
    assert kinesis.calls == [[b"1", b"2", b"3"], [b"2"]]


# --- KPIs on the simulated data -------------------------------------------------------------------------


def _solar_site(lat: float, lon: float, dc_kwp: float, inverters: int = 3) -> list[SimAsset]:
    share = dc_kwp / inverters
    return [SimAsset("t", "s", "ws", "weather_station", 0.0, lat, lon)] + [
        SimAsset("t", "s", f"inv{i}", "inverter", share, lat, lon) for i in range(inverters)
    ]


def _rounds(model: FleetModel, start: datetime, step_s: int, hours: float) -> Iterator[dict[str, dict[str, float]]]:
    for k in range(int(hours * 3600 / step_s)):
        yield {a.asset_id: m for a, m in model.readings(start + timedelta(seconds=k * step_s))}


@pytest.mark.parametrize(
    ("lat", "lon", "day", "cloudiness"),
    [
        (37.05, -2.39, datetime(2026, 6, 21, tzinfo=UTC), 0.0),  # Tabernas, a clear midsummer day
        (37.05, -2.39, datetime(2026, 12, 2, tzinfo=UTC), 1.0),  # Tabernas in December, passing clouds
        (14.1, 77.28, datetime(2026, 4, 15, tzinfo=UTC), 0.0),  # Pavagada, hot
        (35.01, -117.6, datetime(2026, 9, 1, tzinfo=UTC), 1.0),  # Mojave
    ],
)
def test_a_day_at_a_site_has_a_realistic_performance_ratio(lat, lon, day, cloudiness) -> None:
    """PR from the emitted readings, as the KPI job computes it: the inverters' energy over the site's DC
    capacity against the weather station's insolation (one-minute intervals)."""
    dc_kwp = 7500.0
    site = _solar_site(lat, lon, dc_kwp)
    model = FleetModel(site, random.Random(14), fault_rate=0.0, cloudiness=cloudiness)
    hours = 1 / 60
    e_ac = 0.0
    poa: list[energy.Interval] = []
    inverter_intervals: list[energy.Interval] = []
    for r in _rounds(model, day, 60, 24):
        g = r["ws"]["poa_irradiance_wm2"]
        poa.append(energy.Interval(hours, poa_w_m2=g))
        for a in site[1:]:
            e_ac += r[a.asset_id]["ac_power_kw"] * hours
            inverter_intervals.append(energy.Interval(hours, r[a.asset_id]["ac_power_kw"], g))
    pr = energy.performance_ratio(e_ac, energy.insolation_kwh_m2(poa), dc_kwp)
    assert pr is not None and 0.75 <= pr <= 0.87, pr
    assert energy.solar_availability(inverter_intervals) == 1.0  # no faults asked for, none happened
    # the inverters' energy counter integrates the same output (simulated time between readings)
    assert sum(a.energy_kwh for a in site[1:]) == pytest.approx(e_ac, rel=0.01)


def test_the_assets_of_a_site_share_its_weather_in_a_round() -> None:
    ws, inv_a, inv_b = _solar_site(37.05, -2.39, 5000.0, inverters=2)
    elsewhere = SimAsset("t", "other", "inv_far", "inverter", 2500.0, 37.05, -2.39)  # its own clouds
    model = FleetModel([ws, inv_a, elsewhere, inv_b], random.Random(3), fault_rate=0.0)
    differ = 0
    for r in _rounds(model, datetime(2026, 6, 21, 6, tzinfo=UTC), 60, 12):
        station = r["ws"]
        expected, _ = pv_ac_kw(2500.0, station["poa_irradiance_wm2"], station["module_temp_c"])
        assert r["inv0"]["ac_power_kw"] == r["inv1"]["ac_power_kw"] == pytest.approx(expected, abs=0.5)
        differ += r["inv_far"]["ac_power_kw"] != r["inv0"]["ac_power_kw"]
    assert differ > 600  # another site's clouds are not this one's


def test_inverter_faults_are_episodes_that_an_alert_rule_catches() -> None:
    site = _solar_site(37.05, -2.39, 7500.0)
    model = FleetModel(site, random.Random(7), fault_rate=1e-4, fault_mean_s=1800.0)
    rules = [r for r in default_rules("t") if r.asset_type is AssetType.inverter and r.while_site is None]
    runs: list[int] = []  # consecutive faulted readings per episode
    current: dict[str, int] = {}
    for r in _rounds(model, datetime(2026, 6, 21, tzinfo=UTC), 30, 24 * 5):
        for a in site[1:]:
            m = r[a.asset_id]
            faulted = m["inverter_state"] == 7
            if faulted:
                assert m["ac_power_kw"] == 0 and m["dc_power_kw"] == 0
                assert any(rule.holds(m[rule.metric]) and rule.for_duration_s == 0 for rule in rules)
                current[a.asset_id] = current.get(a.asset_id, 0) + 1
            else:
                assert not any(rule.holds(m[rule.metric]) for rule in rules if rule.metric == "inverter_state")
                if current.get(a.asset_id):
                    runs.append(current.pop(a.asset_id))
    assert len(runs) >= 5
    assert max(runs) > 1 and sum(runs) / len(runs) > 10  # episodes of many readings (mean 30 min / 30 s)


def test_the_default_fault_rate_gives_a_demo_fleet_a_realistic_availability() -> None:
    site = _solar_site(37.05, -2.39, 50_000.0, inverters=20)
    model = FleetModel(site, random.Random(2026))
    intervals = [
        energy.Interval(300 / 3600, r[a.asset_id]["ac_power_kw"], r["ws"]["poa_irradiance_wm2"])
        for r in _rounds(model, datetime(2026, 5, 1, tzinfo=UTC), 300, 24 * 20)
        for a in site[1:]
    ]
    availability = energy.solar_availability(intervals)
    assert availability is not None and 0.95 <= availability <= 0.995, availability


def test_a_turbine_follows_its_power_curve_and_faults_for_a_while() -> None:
    wtg = SimAsset("t", "w", "wtg", "turbine", 3450.0, 55.2, -1.5, power_curve=CURVE)
    generic = SimAsset("t", "w", "generic", "turbine", 3450.0, 55.2, -1.5)
    mast = SimAsset("t", "w", "mast", "weather_station", 0.0, 55.2, -1.5)
    model = FleetModel([mast, wtg, generic], random.Random(11), fault_rate=5e-5, fault_mean_s=3600.0)
    rules = [r for r in default_rules("t") if r.asset_type is AssetType.turbine and r.metric == "turbine_state"]
    assert rules, "a seeded rule must raise an alert when a turbine stops on a fault"
    states: dict[float, int] = {}
    faulted_run = longest_fault = 0
    for r in _rounds(model, datetime(2026, 12, 1, tzinfo=UTC), 10, 24 * 4):
        m, g = r["wtg"], r["generic"]
        states[m["turbine_state"]] = states.get(m["turbine_state"], 0) + 1
        alerting = any(rule.holds(m["turbine_state"]) for rule in rules)
        if m["turbine_state"] == 0:  # stopped on a fault: no output whatever the wind
            assert m["ac_power_kw"] == 0 and alerting
            faulted_run += 1
            longest_fault = max(longest_fault, faulted_run)
        else:
            faulted_run = 0
            assert not alerting  # idle for want of wind is not a fault
            assert m["ac_power_kw"] == pytest.approx(CURVE.power_kw(m["wind_speed_ms"]), abs=0.01)
            assert m["turbine_state"] == (1 if m["ac_power_kw"] > 0 else 2)
        if g["turbine_state"] != 0:
            assert g["ac_power_kw"] == pytest.approx(wind_power_kw(g["wind_speed_ms"], 3450.0), abs=0.01)
        assert abs(m["wind_speed_ms"] - r["mast"]["wind_speed_ms"]) < 3  # the site's wind, its own gusts
    assert states.get(1, 0) > 1000 and states.get(0, 0) > 0
    assert longest_fault > 1


def test_the_simulation_is_reproducible_under_a_seeded_rng() -> None:
    def run() -> list[list[tuple[str, bytes]]]:
        fleet = _solar_site(37.05, -2.39, 5000.0) + [
            SimAsset("t", "w", "wtg", "turbine", 3450.0, 55, -1, power_curve=CURVE)
        ]
        model = FleetModel(fleet, random.Random(99), fault_rate=1e-3)
        return [model.records(NOON + timedelta(seconds=k)) for k in range(300)]

    assert run() == run()


# --- the seeded fleet and how the simulator reads it --------------------------------------------------------


def _site(kind: SiteKind, capacity_mw: float) -> Site:
    now = NOON
    return Site(
        id="site_1",
        tenant_id="t",
        name="S",
        kind=kind,
        capacity_mw=capacity_mw,
        timezone="UTC",
        location={"latitude": 37.0, "longitude": -2.4},
        created_at=now,
        updated_at=now,
    )


def test_seeded_sites_and_assets_carry_what_the_kpis_need() -> None:
    assert all(45 <= row[-1] <= 75 for row in SOLAR_SITES + WIND_SITES)
    solar = _site(SiteKind.solar, 75.0)
    assets = solar_site_assets(solar, random.Random(1))
    inverters = [a for a in assets if a.type is AssetType.inverter]
    assert any(a.type is AssetType.weather_station for a in assets)
    assert sum(a.rated_kw or 0 for a in inverters) == pytest.approx(75_000.0, rel=0.001)
    turbines = [
        a for a in wind_site_assets(_site(SiteKind.wind, 276.0), random.Random(1), 3) if a.type is AssetType.turbine
    ]
    assert turbines and all(a.power_curve == TURBINE_POWER_CURVE for a in turbines)
    curve = TURBINE_POWER_CURVE
    assert 8 <= len(curve.points) <= 15 and curve.points[0][0] == 3.0 and curve.cut_out_ms == 25.0
    assert CURVE.power_kw(12.0) == 3450.0 == max(kw for _, kw in curve.points)
    fleet = fleet_from_domain([solar], assets)
    assert {a.type for a in fleet} >= {"inverter", "weather_station"} and fleet[0].latitude == 37.0


def test_seed_demo_sites_carry_their_performance(monkeypatch: pytest.MonkeyPatch) -> None:
    from dcmms_dev import seed as seed_module

    written: dict[str, list] = {}

    class Repo:
        def __init__(self, name: str) -> None:
            self.name = name

        def batch_create(self, items: list) -> None:
            written.setdefault(self.name, []).extend(items)

    for name in ("SiteRepository", "AssetRepository", "WorkOrderRepository", "AlertRepository", "AlertRuleRepository"):
        monkeypatch.setattr(seed_module, name, lambda name=name: Repo(name))
    monkeypatch.setattr(seed_module, "provision_tenant", lambda t, n, k, tier_keys: _tenant_seed(t, k))
    monkeypatch.setattr(seed_module, "seed_programmes", lambda seed: None)  # the services' part: integration tests
    seed_module.seed_demo(random.Random(1))
    sites = written["SiteRepository"]
    assert len(sites) == 6
    for site in sites:
        assert site.performance.expected_pr == 0.8 and site.performance.currency == "EUR"
        assert 45 <= (site.performance.tariff_per_mwh or 0) <= 75
        site_assets = [a for a in written["AssetRepository"] if a.site_id == site.id]
        if site.kind is SiteKind.solar:
            assert any(a.type is AssetType.weather_station for a in site_assets)
            dc = sum(a.rated_kw or 0 for a in site_assets if a.type is AssetType.inverter)
            assert dc == pytest.approx(site.capacity_mw * 1000, rel=0.01)
        else:
            assert all(a.power_curve is not None for a in site_assets if a.type is AssetType.turbine)
    assert {r.name for r in written["AlertRuleRepository"]} >= {"Inverter fault state", "Turbine fault state"}


def _tenant_seed(tenant_id: str, kind: SiteKind):
    from dcmms.domain.model import Role, Tenant, User
    from dcmms_dev.seed import TenantSeed

    seed = TenantSeed(Tenant(id=tenant_id, name=tenant_id, created_at=NOON), kind)
    for role in Role:
        seed.users[role] = User(
            id=f"usr_{role.value}", tenant_id=tenant_id, name=role.value, email=f"{role.value}@x.io", role=role
        )
    return seed


def test_fleet_from_api_reads_the_turbines_power_curve(monkeypatch: pytest.MonkeyPatch) -> None:
    site = {"id": "site_w", "location": {"latitude": 55.2, "longitude": -1.5}}
    curve = TURBINE_POWER_CURVE.model_dump(mode="json")
    assets = [
        {"id": "wtg", "tenant_id": "t", "type": "turbine", "rated_kw": 3450.0, "power_curve": curve},
        {"id": "old", "tenant_id": "t", "type": "turbine", "rated_kw": 2000.0},
    ]

    def urlopen(request: urllib.request.Request, timeout: float) -> io.BytesIO:
        body = {"items": [site]} if "/sites" in request.full_url else {"items": assets}
        return io.BytesIO(orjson.dumps(body))

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    wtg, old = fleet_from_api("http://api", "key", 1, 10)
    assert wtg.power_curve == CURVE == power_curve(TURBINE_POWER_CURVE) and old.power_curve is None
    assert (wtg.latitude, wtg.longitude, old.rated_kw) == (55.2, -1.5, 2000.0)


def test_every_emitted_metric_is_in_the_catalogue() -> None:
    fleet = [
        SimAsset("t", "s", t.value, t.value, 1000.0, 37.0, -2.4)
        for t in (AssetType.inverter, AssetType.meter, AssetType.string, AssetType.weather_station, AssetType.turbine)
    ]
    for a, metrics in FleetModel(fleet, random.Random(1)).readings(NOON):
        assert set(metrics) <= METRICS[AssetType(a.type)], a.type


def test_an_injected_fault_stops_the_asset_for_the_run_and_only_producing_assets_fault() -> None:
    wtg = SimAsset("t", "s", "wtg", "turbine", 3450.0, 55.0, -1.5)
    inv = SimAsset("t", "s", "inv", "inverter", 2500.0, 37.0, -2.4)
    ws = SimAsset("t", "s", "ws", "weather_station", 0.0, 37.0, -2.4)
    model = FleetModel([wtg, inv, ws], rng=random.Random(3), fault_rate=0.0, mean_wind_ms=9.0)
    noon = datetime(2026, 6, 21, 12, 0, tzinfo=UTC)
    model.inject_fault("wtg", until=noon + timedelta(minutes=55))
    for minute in range(0, 60, 10):
        readings = {a.asset_id: m for a, m in model.readings(noon + timedelta(minutes=minute))}
        assert readings["wtg"]["ac_power_kw"] == 0.0 and readings["wtg"]["turbine_state"] == TURBINE_FAULT
        assert readings["wtg"]["wind_speed_ms"] > 3  # wind enough to produce: the outage loses energy
        assert readings["inv"]["ac_power_kw"] > 0  # the others run on
    assert next(m for a, m in model.readings(noon + timedelta(hours=1)) if a is wtg)["ac_power_kw"] > 0  # over
    with pytest.raises(ValueError, match="only inverters and turbines"):
        model.inject_fault("ws")
    with pytest.raises(ValueError, match="not among"):
        model.inject_fault("nope")
