"""The seeders write what they promise (the spec-scale run, scaled down, uses the same code path; the demo,
under tenant ids of its own, with its PM programmes)."""

from __future__ import annotations

import uuid

from dcmms.domain.model import Role
from dcmms_dev.seed import GEARBOX_HOURS, seed_demo, seed_spec_scale
from tests.support.api import ApiClient


def _all(api: ApiClient, path: str, **params) -> list[dict]:
    items, cursor = [], None
    while True:
        body = api.get(path, limit=1000, **params, **({"cursor": cursor} if cursor else {})).json()
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items


def test_spec_scale_seed_writes_sites_assets_and_active_work_orders(http) -> None:
    progress = []
    seed = seed_spec_scale(
        lambda what, done, total: progress.append((what, done, total)),
        tenant_id=f"spec-{uuid.uuid4().hex[:8]}",
        sites=4,
        assets=400,
        active_work_orders=150,
    )
    api = ApiClient(http, seed.keys["viewer"])
    assert len(_all(api, "/api/v1/sites")) == 4
    assets = _all(api, "/api/v1/assets")
    assert len(assets) == 400 and len({a["site_id"] for a in assets}) == 4
    orders = _all(api, "/api/v1/work-orders")
    assert len(orders) == 150
    assert {o["status"] for o in orders} <= {"draft", "open", "in_progress", "on_hold"}
    assert progress[-1] == ("work orders", 150, 150) and ("assets", 400, 400) in progress


def test_demo_seed_writes_the_fleets_and_their_pm_programmes(http) -> None:
    """Both demo tenants (under a prefix of their own), each with three procedures and three schedules a site,
    created through the services: stored as the API serves them, calendars with a next due date."""
    solar, wind = seed_demo(prefix=f"seed-{uuid.uuid4().hex[:8]}-")
    assert solar.tenant.id.endswith("-helios-solar") and wind.tenant.id.endswith("-boreas-wind")
    programmes = {
        solar.tenant.id: [
            "Monthly inverter inspection",
            "Quarterly string IV curve check",
            "Annual transformer oil test",
        ],
        wind.tenant.id: ["6-monthly turbine service", "Gearbox inspection (2,500 h)", "Blade inspection (low wind)"],
    }
    for seed in (solar, wind):
        api = ApiClient(http, seed.keys["viewer"])
        assert len(_all(api, "/api/v1/sites")) == 3 and len(_all(api, "/api/v1/assets")) == len(seed.assets)
        assert len(_all(api, "/api/v1/work-orders")) == 300
        procedures = {p["id"]: p for p in _all(api, "/api/v1/procedures")}
        assert set(procedures) == {p.id for p in seed.procedures} and len(procedures) == 3
        schedules = _all(api, "/api/v1/pm-schedules")
        assert sorted(s["id"] for s in schedules) == sorted(s.id for s in seed.schedules)
        for site in seed.sites:
            here = [s for s in seed.schedules if s.site_id == site.id]
            assert [s.name for s in here] == programmes[seed.tenant.id]
            assert all(s.timezone == site.timezone and s.assigned_to == seed.users[Role.technician].id for s in here)
        for s in schedules:
            assert s["procedure_id"] in procedures and (s["next_due"] is None) == (s["trigger"]["kind"] == "meter")
    inverter, iv, oil = (s for s in solar.schedules if s.site_id == solar.sites[0].id)
    assert (inverter.asset_type, iv.asset_type, oil.asset_type) == ("inverter", "combiner", "transformer")
    assert inverter.production_window is not None and inverter.production_window.kind == "night"
    assert oil.trigger.kind == "calendar" and oil.trigger.rrule == "FREQ=YEARLY;BYMONTH=6;BYMONTHDAY=1"
    voc = [st for p in solar.procedures if p.name.startswith("Quarterly") for st in p.steps if "Voc" in st.title]
    assert len(voc) == 4 and all((st.kind, st.unit, st.min, st.max) == ("number", "V", 850, 1000) for st in voc)
    bdv = next(st for p in solar.procedures for st in p.steps if st.id == "bdv")
    assert (bdv.unit, bdv.min) == ("kV", 30)
    gearbox = [s for s in wind.schedules if s.name.startswith("Gearbox")]
    assert [(s.trigger.meter, s.trigger.every, s.trigger.reading) for s in gearbox] == [
        ("operating_hours", 2500, hours) for hours in GEARBOX_HOURS
    ]
    blade = next(s for s in wind.schedules if s.name.startswith("Blade"))
    assert blade.production_window is not None and blade.production_window.model_dump(exclude_none=True) == {
        "kind": "low_wind",
        "hours": 3,
        "cut_in_ms": 3.5,
    }
