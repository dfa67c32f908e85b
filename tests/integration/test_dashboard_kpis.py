"""The dashboard's materialized KPIs against real PostgreSQL and telemetry rollups, recomputed independently
from the raw readings with ``dcmms.domain.energy`` (docs/kpis.md)."""

from __future__ import annotations

import threading
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import psycopg
import pytest

from dcmms.config import Settings
from dcmms.domain.energy import (
    Interval,
    PowerCurve,
    energy_kwh,
    insolation_kwh_m2,
    performance_ratio,
    production_availability,
    solar_availability,
    wind_time_availability,
)
from dcmms.readmodel import kpis
from dcmms.telemetry.postgres import Reading, TelemetryStore

CURVE = {"points": [[3.0, 0.0], [5.0, 400.0], [12.0, 3000.0]], "cut_out_ms": 25.0}


def local_noon_zone(now: datetime) -> str:
    """An IANA zone where it is about midday now, so that 'today' there has hours behind it."""
    offset = 12 - now.hour  # UTC+offset has local hour ~12
    offset = (offset + 12) % 24 - 12 if offset > 14 else offset
    return "Etc/GMT" + (f"-{offset}" if offset > 0 else f"+{-offset}" if offset < 0 else "")


def _insert(conn: psycopg.Connection, table: str, doc: dict[str, Any], **columns: Any) -> None:
    names = ["tenant_id", "id", "version", "doc", *columns]
    values = [doc["tenant_id"], doc["id"], 1, orjson.dumps(doc).decode(), *columns.values()]
    conn.execute(f"INSERT INTO ops.{table} ({', '.join(names)}) VALUES ({', '.join(['%s'] * len(names))})", values)


@pytest.fixture
def fleet(settings: Settings, router) -> dict[str, Any]:
    """A solar site (1 MWp: two 500 kWp inverters and a weather station) and a wind site (one turbine),
    with readings three times an hour over the last six complete hours of the local day."""
    now = datetime.now(UTC)
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    zone = local_noon_zone(now)
    performance = {"expected_pr": 0.8, "tariff_per_mwh": 60.0, "currency": "EUR", "irradiance_threshold_wm2": 50.0}
    store = TelemetryStore(settings.database_url)
    store.migrate()
    hour0 = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=6)
    poa = [0.0, 30.0, 200.0, 600.0, 800.0, 700.0]  # per hour; hour 1 is below the threshold
    inv_a = [0.0, 10.0, 150.0, 460.0, 610.0, 540.0]
    inv_b = [0.0, 10.0, 150.0, 0.0, 0.0, 540.0]  # a fault in hours 3-4
    wind = [2.0, 8.5, 12.0, 12.0, 15.0, 30.0]  # calm, running, fault at rated, rated, cut out
    turbine = [0.0, 1650.0, 0.0, 2900.0, 3000.0, 0.0]
    readings: list[Reading] = []
    raw: dict[tuple[str, str], dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for h in range(6):
        for minute, wobble in ((5, -0.05), (25, 0.0), (45, 0.05)):  # three readings: the mean is the listed value
            ts = hour0 + timedelta(hours=h, minutes=minute)
            for asset, metric, value in (
                ("met", "poa_irradiance_wm2", poa[h]),
                ("inv-a", "ac_power_kw", inv_a[h]),
                ("inv-b", "ac_power_kw", inv_b[h]),
                ("wtg", "wind_speed_ms", wind[h]),
                ("wtg", "ac_power_kw", turbine[h]),
            ):
                v = value * (1 + wobble)
                readings.append(Reading(tenant, asset, metric, ts, v))
                raw[(asset, metric)][h].append(v)
    store.write(readings)
    store.close()
    base = {"tenant_id": tenant, "created_at": now.isoformat(), "updated_at": now.isoformat(), "version": 1}
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        solar = base | {"id": "solar", "name": "Sol", "kind": "solar", "capacity_mw": 1.0, "timezone": zone}
        _insert(
            conn,
            "sites",
            solar | {"performance": performance},
            name="Sol",
            kind="solar",
            capacity_mw=1.0,
            timezone=zone,
        )
        windy = base | {"id": "windy", "name": "Aire", "kind": "wind", "capacity_mw": 3.0, "timezone": zone}
        _insert(
            conn,
            "sites",
            windy | {"performance": performance},
            name="Aire",
            kind="wind",
            capacity_mw=3.0,
            timezone=zone,
        )
        for asset, site, kind, rated, extra in (
            ("met", "solar", "weather_station", None, {}),
            ("inv-a", "solar", "inverter", 500.0, {}),
            ("inv-b", "solar", "inverter", 500.0, {}),
            ("wtg", "windy", "turbine", 3000.0, {"power_curve": CURVE}),
        ):
            doc = base | {"id": asset, "site_id": site, "name": asset, "type": kind, "status": "operational"} | extra
            _insert(conn, "assets", doc, site_id=site, name=asset, type=kind, status="operational", rated_kw=rated)
        for n, (priority, days) in enumerate((("high", 0), ("high", 3), ("low", 40))):
            created = now - timedelta(days=days, hours=1)
            doc = base | {"id": f"wo-{n}", "site_id": "solar", "title": "t", "priority": priority, "status": "open"}
            _insert(
                conn,
                "work_orders",
                doc,
                site_id="solar",
                title="t",
                priority=priority,
                status="open",
                created_at=created,
                due_at=now - timedelta(hours=1) if n == 2 else None,
            )
        # inverter b's fault: a critical alert raised at hour 3 and still active; its work order, opened at
        # hour 4 from the alert, counts its outage from the alert's raise
        raised = hour0 + timedelta(hours=3, minutes=10)
        doc = base | {"id": "al-1", "site_id": "solar", "asset_id": "inv-b", "severity": "critical", "status": "active"}
        _insert(
            conn,
            "alerts",
            doc,
            site_id="solar",
            asset_id="inv-b",
            severity="critical",
            status="active",
            message="Inverter fault state",
            raised_at=raised,
        )
        # a shorter alert in hour 3 only, resolved
        doc = base | {"id": "al-2", "site_id": "solar", "asset_id": "inv-b", "severity": "major", "status": "resolved"}
        _insert(
            conn,
            "alerts",
            doc,
            site_id="solar",
            asset_id="inv-b",
            severity="major",
            status="resolved",
            message="Inverter without output in sunshine",
            raised_at=hour0 + timedelta(hours=3, minutes=20),
            resolved_at=hour0 + timedelta(hours=3, minutes=50),
        )
        fault = base | {"id": "wo-fault", "site_id": "solar", "asset_id": "inv-b", "title": "Fault"}
        _insert(
            conn,
            "work_orders",
            fault | {"priority": "critical", "status": "open"},
            site_id="solar",
            asset_id="inv-b",
            title="Fault",
            priority="critical",
            status="open",
            created_at=hour0 + timedelta(hours=4, minutes=5),
            source_alert_id="al-1",
        )
    return {"tenant": tenant, "raw": raw, "hours": 6, "hour0": hour0, "zone": zone, "readings": readings}


def _intervals(raw: dict, asset: str, hours: int, *metrics: tuple[str, str]) -> list[Interval]:
    """Hourly intervals from the raw readings: each metric's mean over the hour."""
    out = []
    for h in range(hours):
        values = {field: sum(raw[(src, m)][h]) / len(raw[(src, m)][h]) for field, (src, m) in metrics}
        out.append(Interval(1.0, **values))
    return out


def _refreshed(settings: Settings) -> kpis.Refresh:
    with psycopg.connect(settings.database_url) as conn:
        kpis.migrate(conn)
        conn.commit()
        outcome = kpis.refresh(conn)
        conn.commit()
    return outcome


def _rows(settings: Settings, tenant: str, view: str) -> dict[str, dict[str, Any]]:
    key = {"asset_kpis_today": "asset_id", "outage_losses": "id"}.get(view, "site_id")
    with psycopg.connect(settings.database_url) as conn:
        conn.row_factory = psycopg.rows.dict_row
        rows = conn.execute(f"SELECT * FROM ops.{view} WHERE tenant_id = %s", (tenant,)).fetchall()
    return {r[key]: r for r in rows}


def test_site_and_fleet_kpis_agree_with_a_recomputation_from_raw_readings(settings: Settings, fleet) -> None:
    outcome = _refreshed(settings)
    assert outcome.refreshed and outcome.as_of is not None
    raw, hours = fleet["raw"], fleet["hours"]
    a = _intervals(
        raw, "inv-a", hours, ("power_kw", ("inv-a", "ac_power_kw")), ("poa_w_m2", ("met", "poa_irradiance_wm2"))
    )
    b = _intervals(
        raw, "inv-b", hours, ("power_kw", ("inv-b", "ac_power_kw")), ("poa_w_m2", ("met", "poa_irradiance_wm2"))
    )
    energy = energy_kwh(a) + energy_kwh(b)
    insolation = insolation_kwh_m2(a)
    sites = _rows(settings, fleet["tenant"], "dashboard_kpis")
    sol = sites["solar"]
    assert sol["energy_today_kwh"] == pytest.approx(energy)
    assert sol["insolation_kwh_m2"] == pytest.approx(insolation)
    assert sol["performance_ratio"] == pytest.approx(performance_ratio(energy, insolation, 1000.0))
    assert sol["availability"] == pytest.approx((4 + 2) / 8)  # sun in hours 2-5 for both inverters; b lost 3-4
    assert solar_availability(a) == 1.0 and solar_availability(b) == pytest.approx(0.5)
    # lost: inverter b, hours 3-4, expected 500 x POA/1000 x 0.8 = 240 and 320 kW -> 560 kWh, EUR 33.60
    assert sol["lost_energy_kwh"] == pytest.approx(560.0) and sol["lost_money"] == pytest.approx(33.6)
    assert (sol["active_alerts"], sol["alerts_by_severity"]) == (1, {"critical": 1})
    assert (sol["open_work_orders"], sol["overdue_work_orders"]) == (4, 1)
    assert sol["open_by_priority"] == {"high": 2, "low": 1, "critical": 1}
    assert sol["open_by_age"] == {"under_1d": 2, "1d_to_7d": 1, "7d_to_30d": 0, "over_30d": 1}
    # the open work on inverter b lost what b lost since its source alert was raised (hours 3-4), not only
    # since the work order was opened (hour 4: 320 kWh); the active alert the same; the resolved one hour 3
    losses = _rows(settings, fleet["tenant"], "outage_losses")
    assert set(losses) == {"wo-fault", "al-1", "al-2"}  # the other work names no asset
    fault = losses["wo-fault"]
    assert fault["kind"] == "work_order" and fault["lost_kwh"] == pytest.approx(560.0)
    assert fault["lost_money"] == pytest.approx(33.6) and fault["until"] is None
    assert fault["since"] == fleet["hour0"] + timedelta(hours=3, minutes=10)
    assert losses["al-1"]["kind"] == "alert" and losses["al-1"]["lost_kwh"] == pytest.approx(560.0)
    assert losses["al-2"]["lost_kwh"] == pytest.approx(240.0) and losses["al-2"]["lost_money"] == pytest.approx(14.4)

    w = _intervals(raw, "wtg", hours, ("power_kw", ("wtg", "ac_power_kw")), ("wind_m_s", ("wtg", "wind_speed_ms")))
    curve = PowerCurve([tuple(p) for p in CURVE["points"]], CURVE["cut_out_ms"])
    aire = sites["windy"]
    assert aire["energy_today_kwh"] == pytest.approx(energy_kwh(w))
    assert aire["availability"] == pytest.approx(wind_time_availability(w, curve))  # (6 - 1) / 6
    assert aire["lost_energy_kwh"] == pytest.approx(3000.0)  # the fault hour at 12 m/s
    assert aire["performance_ratio"] is None  # no irradiance at a wind site

    fleet_row = sites[""]
    assert fleet_row["scope"] == "tenant" and fleet_row["sites"] == 2
    assert fleet_row["energy_today_kwh"] == pytest.approx(energy + energy_kwh(w))
    assert fleet_row["performance_ratio"] == pytest.approx(sol["performance_ratio"])  # the only solar site
    assert fleet_row["lost_energy_kwh"] == pytest.approx(3560.0) and fleet_row["lost_money"] == pytest.approx(213.6)
    assert fleet_row["open_work_orders"] == 4 and fleet_row["active_alerts"] == 1

    assets = _rows(settings, fleet["tenant"], "asset_kpis_today")
    assert assets["inv-b"]["lost_kwh"] == pytest.approx(560.0) and assets["inv-a"]["lost_kwh"] == 0
    assert set(assets) == {"inv-a", "inv-b", "wtg"}


def test_excused_downtime_leaves_availability_and_lost_energy(settings: Settings, fleet) -> None:
    """Inverter b's fault, recorded as a planned outage, is not unavailability and loses nothing."""
    hour0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=fleet["hours"])
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO ops.downtime_episodes (tenant_id, id, site_id, asset_id, started_at, ended_at, reason, source) "
            "VALUES (%s, 'planned-b', 'solar', 'inv-b', %s, %s, 'planned', 'status')",
            (fleet["tenant"], hour0 + timedelta(hours=3), hour0 + timedelta(hours=5)),
        )
    _refreshed(settings)
    sol = _rows(settings, fleet["tenant"], "dashboard_kpis")["solar"]
    assert sol["availability"] == pytest.approx(1.0) and sol["lost_energy_kwh"] == 0
    assert _rows(settings, fleet["tenant"], "asset_kpis_today")["inv-b"]["excused_hours"] == pytest.approx(2.0)
    assert {k: r["lost_kwh"] for k, r in _rows(settings, fleet["tenant"], "outage_losses").items()} == {
        "wo-fault": 0,
        "al-1": 0,
        "al-2": 0,
    }


def test_one_refresh_at_a_time(settings: Settings, fleet) -> None:
    _refreshed(settings)
    with psycopg.connect(settings.database_url) as holder:
        assert holder.execute(kpis.REFRESH_LOCK).fetchone()[0]  # a refresh in progress elsewhere
        outcomes: list[kpis.Refresh] = []
        thread = threading.Thread(target=lambda: outcomes.append(_refreshed(settings)))
        thread.start()
        thread.join(30)
        assert outcomes and not outcomes[0].refreshed
    assert _refreshed(settings).refreshed  # released: the next one runs


def test_fleet_and_site_dashboards_over_the_api(api, http, tenant, other_tenant, settings, streams_poller) -> None:
    """A site written through the API reaches the read model; its telemetry the rollups; the kpi function's
    refresh the dashboards, sortable, with ETag revalidation, tenant-scoped."""
    from tests.support.api import ApiClient, assert_problem
    from tests.support.waiting import projected

    now = datetime.now(UTC)
    zone = local_noon_zone(now)
    performance = {"expected_pr": 0.8, "tariff_per_mwh": 50.0, "currency": "EUR", "irradiance_threshold_wm2": 50.0}
    good = api.site(name="Good", capacity_mw=1.0, timezone=zone, performance=performance)
    poor = api.site(name="Poor", capacity_mw=1.0, timezone=zone, performance=performance)
    assets = {}
    for site in (good, poor):
        assets[site["id"]] = (
            api.asset(site["id"], name="MET", type="weather_station")["id"],
            api.asset(site["id"], name="INV", type="inverter", rated_kw=1000)["id"],
        )
    work = api.work_order(poor["id"], priority="critical")
    tid = tenant.tenant.id
    ids = [a for pair in assets.values() for a in pair]
    assert projected(settings.database_url, tid, {"assets": ids, "work_orders": [work["id"]]})
    hour0 = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    readings = []
    for site, power in ((good, 640.0), (poor, 400.0)):  # under 800 W/m²: PR 0.8 and 0.5
        met, inv = assets[site["id"]]
        for h in range(3):
            ts = hour0 + timedelta(hours=h, minutes=30)
            readings += [
                Reading(tid, met, "poa_irradiance_wm2", ts, 800.0),
                Reading(tid, inv, "ac_power_kw", ts, power),
            ]
    store = TelemetryStore(settings.database_url)
    store.migrate()
    store.write(readings)
    store.close()
    _refreshed(settings)

    response = api.get("/api/v1/dashboard", sort="performance_ratio", order="asc")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["as_of"] and (body["sort"], body["order"]) == ("performance_ratio", "asc")
    assert [s["name"] for s in body["sites"]][:2] == ["Poor", "Good"]  # worst performance ratio first
    by_name = {s["name"]: s for s in body["sites"]}
    assert by_name["Poor"]["performance_ratio"] == pytest.approx(0.5)
    assert by_name["Good"]["performance_ratio"] == pytest.approx(0.8)
    assert by_name["Good"]["energy_today_kwh"] == pytest.approx(1920.0)
    assert by_name["Good"]["energy_today_mwh"] == pytest.approx(1.92)
    assert by_name["Poor"]["open_work_orders_by_priority"] == {"critical": 1}
    assert body["totals"]["sites"] == len(body["sites"])
    assert body["totals"]["energy_today_kwh"] == pytest.approx(sum(s["energy_today_kwh"] or 0 for s in body["sites"]))
    again = api.get(
        "/api/v1/dashboard", headers={"If-None-Match": response.headers["etag"]}, sort="performance_ratio", order="asc"
    )
    assert again.status_code == 304
    assert api.get("/api/v1/dashboard", sort="availability").json()["sort"] == "availability"
    assert_problem(api.get("/api/v1/dashboard", sort="colour"), 422, "query.sort")

    site = api.get(f"/api/v1/sites/{poor['id']}/dashboard")
    assert site.status_code == 200, site.text
    shown = site.json()
    assert shown["site"]["performance_ratio"] == pytest.approx(0.5) and shown["as_of"] == body["as_of"]
    assert [a["asset_id"] for a in shown["assets"]] == [assets[poor["id"]][1]]
    assert shown["assets"][0]["availability"] == 1.0  # it produced, if poorly: no lost energy
    assert shown["open_work"]["total"] == 1 and shown["open_work"]["by_age"]["under_1d"] == 1
    assert shown["open_work"]["by_lost_energy"] == []  # its work order names no asset
    assert (
        api.get(f"/api/v1/sites/{poor['id']}/dashboard", headers={"If-None-Match": site.headers["etag"]}).status_code
        == 304
    )

    # the same figures per day (local dates) and over the month, from the refresh's daily rows
    local_today = datetime.now(ZoneInfo(zone)).date().isoformat()
    daily = api.get("/api/v1/energy", site_id=good["id"], to=local_today)
    assert daily.status_code == 200, daily.text
    days = daily.json()
    assert days["from"] == local_today[:8] + "01" and days["interval"] == "day" and days["as_of"] == body["as_of"]
    assert [d["period"] for d in days["periods"]] == [local_today]
    assert days["periods"][0]["energy_kwh"] == pytest.approx(1920.0) and days["totals"]["days"] == 1
    assert days["periods"][0]["performance_ratio"] == pytest.approx(0.8) and days["totals"]["lost_money"] == 0
    monthly = api.get("/api/v1/energy", interval="month", to=local_today).json()
    assert monthly["periods"][0]["period"] == local_today[:7]
    assert monthly["totals"]["energy_kwh"] == pytest.approx(body["totals"]["energy_today_kwh"])
    assert monthly["totals"]["performance_ratio"] == pytest.approx(body["totals"]["performance_ratio"])
    one = api.get("/api/v1/energy", asset_id=assets[poor["id"]][1], to=local_today).json()
    assert one["totals"]["performance_ratio"] == pytest.approx(0.5)  # 400 kW from 1,000 kWp under 800 W/m²
    assert_problem(api.get("/api/v1/energy", interval="week"), 422, "query.interval")
    assert_problem(api.get("/api/v1/energy", **{"from": "2026-02-01", "to": "2026-01-01"}), 422, "query.from")
    assert_problem(api.get("/api/v1/energy", **{"from": "2024-01-01", "to": "2026-01-01"}), 422, "query.from")
    assert_problem(api.get("/api/v1/energy", site_id=good["id"], asset_id=assets[poor["id"]][1]), 422, "query.asset_id")

    other = ApiClient(http, other_tenant.keys["admin"])
    assert_problem(other.get("/api/v1/energy", site_id=good["id"]), 404)
    assert other.get("/api/v1/energy").json()["totals"]["energy_kwh"] != monthly["totals"]["energy_kwh"]
    assert_problem(other.get(f"/api/v1/sites/{poor['id']}/dashboard"), 404)
    assert all(s["site_id"] not in (good["id"], poor["id"]) for s in other.get("/api/v1/dashboard").json()["sites"])
    fresh = api.site(name="New")  # not seen by a refresh yet
    empty = api.get(f"/api/v1/sites/{fresh['id']}/dashboard").json()
    assert empty["as_of"] is None and empty["site"]["energy_today_kwh"] is None and empty["assets"] == []
    # the dashboards share the router's pooled connections with search and analytics, whose rows are tuples
    assert api.get("/api/v1/search", q="Poor").status_code == 200


def test_lost_energy_of_a_work_order_and_its_alert_over_the_api(
    api, http, tenant, other_tenant, settings, streams_poller
) -> None:
    """An inverter that stopped under 800 W/m² for two hours: its alert's episode and the work order opened from
    that alert each lost 2 h x 1,000 kWp x 0.8 x 0.8 = 1,280 kWh (EUR 64 at 50/MWh); the site dashboard ranks
    the work by it; other tenants get 404s."""
    from tests.support.api import ApiClient, assert_problem
    from tests.support.waiting import projected

    now = datetime.now(UTC)
    performance = {"expected_pr": 0.8, "tariff_per_mwh": 50.0, "currency": "EUR", "irradiance_threshold_wm2": 50.0}
    site = api.site(name="Stopped", capacity_mw=1.0, timezone=local_noon_zone(now), performance=performance)
    met = api.asset(site["id"], name="MET", type="weather_station")["id"]
    inv = api.asset(site["id"], name="INV", type="inverter", rated_kw=1000)["id"]
    hour0 = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    alert = api.alert(inv, severity="critical", message="Inverter fault state", raised_at=hour0.isoformat())
    work = api.work_order(site["id"], asset_id=inv, priority="critical", source_alert_id=alert["id"])
    readings = []
    for h, power in enumerate((700.0, 0.0, 0.0)):  # producing, then stopped for two hours of sun
        ts = hour0 + timedelta(hours=h, minutes=30)
        readings += [Reading(tenant.tenant.id, met, "poa_irradiance_wm2", ts, 800.0)]
        readings += [Reading(tenant.tenant.id, inv, "ac_power_kw", ts, power)]
    store = TelemetryStore(settings.database_url)
    store.write(readings)
    store.close()
    tables = {"sites": [site["id"]], "assets": [met, inv], "alerts": [alert["id"]], "work_orders": [work["id"]]}
    assert projected(settings.database_url, tenant.tenant.id, tables)
    before = api.get(f"/api/v1/work-orders/{work['id']}/lost-energy").json()
    assert before["lost_energy_kwh"] is None and before["asset_id"] == inv  # not refreshed since it was written
    _refreshed(settings)

    lost = api.get(f"/api/v1/work-orders/{work['id']}/lost-energy")
    assert lost.status_code == 200, lost.text
    body = lost.json()
    assert (body["kind"], body["id"], body["asset_id"], body["priority"]) == ("work_order", work["id"], inv, "critical")
    assert body["lost_energy_kwh"] == pytest.approx(1280.0) and body["lost_energy_mwh"] == pytest.approx(1.28)
    assert (body["lost_money"], body["currency"]) == (pytest.approx(64.0), "EUR")
    assert datetime.fromisoformat(body["outage_since"]) == hour0 and body["as_of"]
    assert body["href"] == f"/api/v1/work-orders/{work['id']}"
    episode = api.get(f"/api/v1/alerts/{alert['id']}/lost-energy").json()
    assert episode["kind"] == "alert" and episode["severity"] == "critical" and episode["outage_until"] is None
    assert episode["lost_energy_kwh"] == pytest.approx(1280.0)
    dashboard = api.get(f"/api/v1/sites/{site['id']}/dashboard").json()
    ranked = dashboard["open_work"]["by_lost_energy"]
    # 700 kWh produced, 1,280 lost while it stood: production-based availability 700 / 1,980
    assert dashboard["site"]["availability_production"] == pytest.approx(
        production_availability(700.0, 1280.0), abs=1e-4
    )
    assert dashboard["site"]["availability_production"] == pytest.approx(0.3535, abs=1e-4)
    assert [(w["id"], w["lost_energy_kwh"]) for w in ranked] == [(work["id"], pytest.approx(1280.0))]
    assert_problem(api.get("/api/v1/work-orders/wo-missing/lost-energy"), 404)
    other = ApiClient(http, other_tenant.keys["admin"])
    assert_problem(other.get(f"/api/v1/work-orders/{work['id']}/lost-energy"), 404)
    assert_problem(other.get(f"/api/v1/alerts/{alert['id']}/lost-energy"), 404)


def test_a_finished_day_is_recomputed_once_and_days_add_up_to_the_month(settings: Settings, fleet) -> None:
    """Yesterday had the same readings as today. A refresh after midnight left a partial row for it (final =
    false): the next refresh recomputes that day over its whole length from the rollups and marks it final,
    and the month-to-date figures add yesterday (when it is in this month) to today."""
    tenant, zone = fleet["tenant"], fleet["zone"]
    store = TelemetryStore(settings.database_url)
    store.write(
        [Reading(r.tenant_id, r.asset_id, r.metric, r.ts - timedelta(days=1), r.value) for r in fleet["readings"]]
    )
    store.close()
    today = datetime.now(ZoneInfo(zone)).date()
    yesterday = today - timedelta(days=1)
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        kpis.migrate(conn)
        for site, asset, kind in (("solar", "inv-a", "inverter"), ("windy", "wtg", "turbine")):
            conn.execute(
                "INSERT INTO ops.asset_energy_daily (tenant_id, asset_id, day, site_id, type, energy_kwh, excused_hours,"
                " lost_kwh, final, computed_at) VALUES (%s, %s, %s, %s, %s, 1.0, 0, 0, false, now())",
                (tenant, asset, yesterday, site, kind),
            )
    _refreshed(settings)
    with psycopg.connect(settings.database_url) as conn:
        conn.row_factory = psycopg.rows.dict_row
        days = conn.execute(
            "SELECT * FROM ops.asset_energy_daily WHERE tenant_id = %s ORDER BY asset_id, day", (tenant,)
        ).fetchall()
    by = {(d["asset_id"], d["day"]): d for d in days}
    assert set(by) == {(a, d) for a in ("inv-a", "inv-b", "wtg") for d in (yesterday, today)}
    today_rows = _rows(settings, tenant, "asset_kpis_today")
    for asset in ("inv-a", "inv-b", "wtg"):
        past, now_ = by[(asset, yesterday)], by[(asset, today)]
        assert past["final"] and not now_["final"]
        assert now_["energy_kwh"] == pytest.approx(today_rows[asset]["energy_kwh"])
        for column in ("energy_kwh", "expected_hours", "available_hours", "lost_kwh", "insolation_kwh_m2"):
            assert past[column] == pytest.approx(now_[column]), (asset, column)  # the same readings, a day apart
    finished = by[("inv-a", yesterday)]["computed_at"]
    _refreshed(settings)  # a final day is left alone
    with psycopg.connect(settings.database_url) as conn:
        again = conn.execute(
            "SELECT computed_at FROM ops.asset_energy_daily WHERE tenant_id = %s AND asset_id = 'inv-a' AND day = %s",
            (tenant, yesterday),
        ).fetchone()[0]
    assert again == finished

    sites = _rows(settings, tenant, "dashboard_kpis")
    same_month = yesterday.month == today.month
    for name in ("solar", "windy", ""):
        row = sites[name]
        assert row["energy_mtd_kwh"] == pytest.approx(row["energy_today_kwh"] * (2 if same_month else 1)), name
        assert row["lost_energy_mtd_kwh"] == pytest.approx(row["lost_energy_kwh"] * (2 if same_month else 1)), name
        assert row["availability_mtd"] == pytest.approx(row["availability"]), name  # the same share on both days
    assert sites["solar"]["performance_ratio_mtd"] == pytest.approx(sites["solar"]["performance_ratio"])
    assert sites["windy"]["performance_ratio_mtd"] is None
    assert sites[""]["lost_money_mtd"] == pytest.approx(sites[""]["lost_money"] * (2 if same_month else 1))


def test_a_site_without_a_weather_station_still_counts_its_energy(settings: Settings, fleet) -> None:
    """No irradiance: no PR and no solar availability, but what its inverter produced is energy all the same."""
    tenant, hour0 = fleet["tenant"], fleet["hour0"]
    base = {"tenant_id": tenant, "version": 1}
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        site = base | {"id": "dark", "name": "Dark", "kind": "solar", "capacity_mw": 0.5, "timezone": fleet["zone"]}
        _insert(conn, "sites", site, name="Dark", kind="solar", capacity_mw=0.5, timezone=fleet["zone"])
        doc = base | {"id": "inv-dark", "site_id": "dark", "type": "inverter"}
        _insert(
            conn, "assets", doc, site_id="dark", name="inv-dark", type="inverter", status="operational", rated_kw=500
        )
    store = TelemetryStore(settings.database_url)
    power = [100.0, 300.0, 200.0]
    store.write(
        [Reading(tenant, "inv-dark", "ac_power_kw", hour0 + timedelta(hours=h, minutes=30), power[h]) for h in range(3)]
    )
    store.close()
    _refreshed(settings)
    dark = _rows(settings, tenant, "dashboard_kpis")["dark"]
    assert dark["energy_today_kwh"] == pytest.approx(600.0)
    assert dark["performance_ratio"] is None and dark["availability"] is None and dark["lost_energy_kwh"] == 0
    assert _rows(settings, tenant, "asset_kpis_today")["inv-dark"]["expected_hours"] is None
