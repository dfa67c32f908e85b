"""Demo and spec-scale data for the local stack, load tests and benchmarks (batch writes).

``seed_demo`` creates two tenants (a solar and a wind operator) with sites, ~500 assets each in a
realistic hierarchy, a few hundred work orders across every status, some alerts, an API key for
every role plus one per tier, and a preventive-maintenance programme (procedures and PM schedules,
docs/pm.md "Demo programmes"). ``seed_spec_scale`` adds the spec's 200 sites / 50,000 assets /
10,000 active work orders.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from dcmms.domain.apikeys import new_api_key
from dcmms.domain.commands import ProcedureCreate
from dcmms.domain.ids import new_id, ulid
from dcmms.domain.model import (
    ACTIVE_WORK_ORDER_STATUSES,
    Alert,
    AlertSeverity,
    AlertStatus,
    Asset,
    AssetStatus,
    AssetType,
    PowerCurveSpec,
    Principal,
    Priority,
    Role,
    Site,
    SiteKind,
    SitePerformance,
    Tenant,
    Tier,
    User,
    WorkOrder,
    WorkOrderStatus,
    WorkOrderType,
    iso,
    utcnow,
)
from dcmms.domain.pm import PMSchedule, PMScheduleCreate
from dcmms.domain.procedures import Procedure
from dcmms.domain.rules import AlertRule
from dcmms.store.repositories import (
    AlertRepository,
    AlertRuleRepository,
    AssetRepository,
    DirectoryRepository,
    SiteRepository,
    WorkOrderRepository,
)

if TYPE_CHECKING:
    from dcmms.services import Maintenance

Progress = Callable[[str, int, int], None]

# Role keys carry a tier too; the per-tier keys below are the ones for seeing rate limits work.
ROLE_TIERS = {Role.admin: Tier.enterprise, Role.supervisor: Tier.pro, Role.technician: Tier.pro, Role.viewer: Tier.free}


@dataclass
class TenantSeed:
    tenant: Tenant
    kind: SiteKind
    users: dict[Role, User] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)  # role -> raw key
    tier_keys: dict[str, str] = field(default_factory=dict)  # tier -> raw key
    sites: list[Site] = field(default_factory=list)
    assets: list[Asset] = field(default_factory=list)
    procedures: list[Procedure] = field(default_factory=list)  # the demo's PM procedures
    schedules: list[PMSchedule] = field(default_factory=list)  # ... and PM schedules (by site, in site order)


def provision_tenant(tenant_id: str, name: str, kind: SiteKind = SiteKind.solar, tier_keys: bool = False) -> TenantSeed:
    """A tenant, one user per role, an API key per role and, if asked, one key per tier."""
    directory = DirectoryRepository()
    now = utcnow()
    seed = TenantSeed(directory.create_tenant(Tenant(id=tenant_id, name=name, created_at=now)), kind)
    for role in Role:
        user = User(
            id=f"usr_{role.value}_{tenant_id}",
            tenant_id=tenant_id,
            name=f"{role.value.title()} of {name}",
            email=f"{role.value}@{tenant_id}.example.com",
            role=role,
        )
        seed.users[role] = directory.create_user(user)
        key = new_api_key()
        directory.store_api_key(key, f"key_{ulid()}", user, ROLE_TIERS[role], f"{role.value} key", iso(now))
        seed.keys[role.value] = key
    if tier_keys:
        for tier in Tier:
            key = new_api_key()
            directory.store_api_key(
                key, f"key_{ulid()}", seed.users[Role.supervisor], tier, f"{tier} tier key", iso(now)
            )
            seed.tier_keys[tier.value] = key
    return seed


def _site(
    seed: TenantSeed,
    name: str,
    kind: SiteKind,
    capacity: float,
    tz: str,
    lat: float,
    lon: float,
    tariff_per_mwh: float = 60.0,
) -> Site:
    """A site of ``capacity`` MW (DC for solar), judged at an expected PR of 0.8 and priced in EUR."""
    now = utcnow()
    return Site(
        id=f"site_{ulid()}",
        tenant_id=seed.tenant.id,
        name=name,
        kind=kind,
        capacity_mw=capacity,
        timezone=tz,
        location={"latitude": lat, "longitude": lon},
        performance=SitePerformance(expected_pr=0.8, tariff_per_mwh=tariff_per_mwh, currency="EUR"),
        created_at=now,
        updated_at=now,
    )


def _asset(site: Site, name: str, type_: AssetType, parent: Asset | None, rng: random.Random, **kw: Any) -> Asset:
    now = utcnow()
    status = rng.choices(list(AssetStatus), weights=[90, 5, 2, 2, 1])[0]
    return Asset(
        id=f"ast_{ulid()}",
        tenant_id=site.tenant_id,
        site_id=site.id,
        parent_id=parent.id if parent else None,
        name=name,
        type=type_,
        status=status,
        serial=f"SN-{rng.randrange(10**9):09d}",
        created_at=now,
        updated_at=now,
        **kw,
    )


def solar_site_assets(site: Site, rng: random.Random, inverters: int = 10) -> list[Asset]:
    """Meter, weather station, transformers -> inverters -> combiner boxes -> strings. Each inverter (an MV
    power station of central inverters) carries its share of the site's DC capacity as ``rated_kw``, so the
    inverters add up to the capacity the performance ratio is computed against."""
    dc_kwp = site.capacity_mw * 1000
    out = [
        _asset(site, "Revenue meter", AssetType.meter, None, rng, manufacturer="Schneider", model="ION9000"),
        _asset(
            site, "Weather station", AssetType.weather_station, None, rng, manufacturer="Campbell", model="MetSENS500"
        ),
    ]
    transformers = [
        _asset(site, f"TX-{t + 1}", AssetType.transformer, None, rng, rated_kw=round(dc_kwp / 2), manufacturer="ABB")
        for t in range(2)
    ]
    out += transformers
    for i in range(inverters):
        inv = _asset(
            site,
            f"INV-{i + 1:02d}",
            AssetType.inverter,
            transformers[i % 2],
            rng,
            rated_kw=round(dc_kwp / inverters, 1),
            manufacturer="SMA",
            model="Sunny Central MV Power Station",
        )
        out.append(inv)
        for c in range(3):
            cb = _asset(site, f"INV-{i + 1:02d}-CB{c + 1}", AssetType.combiner, inv, rng, manufacturer="Shoals")
            out.append(cb)
            out += [
                _asset(site, f"INV-{i + 1:02d}-CB{c + 1}-S{s + 1:02d}", AssetType.string, cb, rng, rated_kw=12.0)
                for s in range(4)
            ]
    return out


# A 3.45 MW turbine's power curve (m/s, kW), after the published V136-3.45 curve at 1.225 kg/m³: cut-in
# 3 m/s, rated from about 12 m/s, cut-out 25 m/s.
TURBINE_POWER_CURVE = PowerCurveSpec(
    points=[
        (3.0, 30.0),
        (4.0, 180.0),
        (5.0, 400.0),
        (6.0, 720.0),
        (7.0, 1150.0),
        (8.0, 1700.0),
        (9.0, 2350.0),
        (10.0, 2950.0),
        (11.0, 3330.0),
        (12.0, 3450.0),
    ],
    cut_out_ms=25.0,
)


def wind_site_assets(site: Site, rng: random.Random, turbines: int = 80) -> list[Asset]:
    """Substation transformer and meter, met masts, turbines (with their power curve) each with a pad-mount
    transformer."""
    out = [
        _asset(
            site, "Substation transformer", AssetType.transformer, None, rng, rated_kw=250_000.0, manufacturer="Siemens"
        ),
        _asset(site, "Export meter", AssetType.meter, None, rng, manufacturer="Landis+Gyr", model="E850"),
        _asset(site, "Met mast A", AssetType.weather_station, None, rng, manufacturer="Vaisala"),
        _asset(site, "Met mast B", AssetType.weather_station, None, rng, manufacturer="Vaisala"),
    ]
    for t in range(turbines):
        wtg = _asset(
            site,
            f"WTG-{t + 1:03d}",
            AssetType.turbine,
            None,
            rng,
            rated_kw=3450.0,
            manufacturer="Vestas",
            model="V136-3.45",
            power_curve=TURBINE_POWER_CURVE,
        )
        out += [wtg, _asset(site, f"WTG-{t + 1:03d}-TX", AssetType.transformer, wtg, rng, rated_kw=3800.0)]
    return out


_TITLES = {
    WorkOrderType.corrective: [
        "Replace failed fuse",
        "Inverter fault reset",
        "Repair damaged cable",
        "Gearbox oil leak",
    ],
    WorkOrderType.preventive: ["Quarterly inspection", "Annual torque check", "Filter replacement", "Module cleaning"],
    WorkOrderType.inspection: ["Thermal imaging survey", "Blade inspection", "Vegetation check", "IV curve trace"],
    WorkOrderType.emergency: ["Fire alarm response", "Grid disconnect", "Turbine overspeed trip", "Arc fault"],
}


def work_orders_for(
    seed: TenantSeed, assets: list[Asset], count: int, rng: random.Random, statuses: list[WorkOrderStatus] | None = None
) -> Iterator[WorkOrder]:
    techs = [seed.users[Role.technician].id, f"usr_tech2_{seed.tenant.id}", f"usr_tech3_{seed.tenant.id}"]
    now = utcnow()
    for _ in range(count):
        asset = rng.choice(assets)
        status = rng.choice(statuses or list(WorkOrderStatus))
        type_ = rng.choices(list(WorkOrderType), weights=[40, 35, 20, 5])[0]
        created = now - timedelta(minutes=rng.randrange(60 * 24 * 90))
        done = status in (WorkOrderStatus.completed, WorkOrderStatus.closed)
        yield WorkOrder(
            id=new_id("wo", int(created.timestamp() * 1000)),
            tenant_id=seed.tenant.id,
            site_id=asset.site_id,
            asset_id=asset.id,
            title=f"{rng.choice(_TITLES[type_])} - {asset.name}",
            type=type_,
            priority=rng.choices(list(Priority), weights=[30, 40, 20, 10])[0],
            status=status,
            assigned_to=rng.choice(techs) if status is not WorkOrderStatus.draft else None,
            due_at=created + timedelta(days=rng.randrange(1, 30)),
            created_by=seed.users[Role.supervisor].id,
            checklist=[{"item": "Lock-out / tag-out", "done": done}, {"item": "Record readings", "done": done}],
            completed_at=created + timedelta(hours=rng.randrange(1, 72)) if done else None,
            created_at=created,
            updated_at=created,
        )


def alerts_for(seed: TenantSeed, assets: list[Asset], count: int, rng: random.Random) -> Iterator[Alert]:
    now = utcnow()
    for _ in range(count):
        asset = rng.choice(assets)
        raised = now - timedelta(minutes=rng.randrange(60 * 24 * 14))
        status = rng.choices(list(AlertStatus), weights=[40, 20, 40])[0]
        yield Alert(
            id=new_id("alr", int(raised.timestamp() * 1000)),
            tenant_id=seed.tenant.id,
            site_id=asset.site_id,
            asset_id=asset.id,
            severity=rng.choice(list(AlertSeverity)),
            status=status,
            message=f"{asset.name}: {rng.choice(['over-temperature', 'fault state', 'low output', 'high vibration'])}",
            raised_at=raised,
            created_at=raised,
            updated_at=raised,
            acknowledged_at=raised + timedelta(minutes=5) if status is not AlertStatus.active else None,
            acknowledged_by=seed.users[Role.technician].id if status is not AlertStatus.active else None,
            resolved_at=raised + timedelta(hours=2) if status is AlertStatus.resolved else None,
            resolved_by=seed.users[Role.technician].id if status is AlertStatus.resolved else None,
        )


# name, capacity (MW; DC for solar), time zone, latitude, longitude, tariff (EUR/MWh)
SOLAR_SITES = [
    ("Tabernas PV", 75.0, "Europe/Madrid", 37.05, -2.39, 58.0),
    ("Mojave Flats", 120.0, "America/Los_Angeles", 35.01, -117.6, 47.5),
    ("Pavagada Block 4", 250.0, "Asia/Kolkata", 14.1, 77.28, 45.0),
]
WIND_SITES = [
    ("North Sea Ridge", 276.0, "Europe/London", 55.2, -1.5, 72.0),
    ("Plains Wind", 276.0, "America/Chicago", 35.2, -101.8, 49.0),
    ("Galway Hills", 276.0, "Europe/Dublin", 53.3, -9.0, 68.5),
]


DEFAULT_RULES = [
    {
        "name": "Inverter over-temperature",
        "asset_type": "inverter",
        "metric": "heatsink_temp_c",
        "condition": ">",
        "threshold": 75.0,
        "for_duration_s": 300,
        "severity": "major",
        "auto_work_order": True,
    },
    {
        "name": "Inverter fault state",
        "asset_type": "inverter",
        "metric": "inverter_state",
        "condition": "in",
        "values": [7.0],
        "for_duration_s": 0,
        "severity": "critical",
        "auto_work_order": True,
    },
    {
        "name": "Inverter without output in sunshine",
        "asset_type": "inverter",
        "metric": "ac_power_kw",
        "condition": "<",
        "threshold": 1.0,
        "while_site": {"metric": "poa_irradiance_wm2", "condition": ">", "threshold": 200.0},
        "for_duration_s": 900,
        "severity": "major",
        "auto_work_order": True,
    },
    {
        "name": "Turbine fault state",
        "asset_type": "turbine",
        "metric": "turbine_state",
        "condition": "in",
        "values": [0.0],  # 0 stopped on a fault (1 generating, 2 ready but idle for want of wind)
        "for_duration_s": 0,
        "severity": "critical",
        "auto_work_order": True,
    },
    {
        "name": "Turbine vibration high",
        "asset_type": "turbine",
        "metric": "nacelle_vibration_mms",
        "condition": ">",
        "threshold": 8.0,
        "for_duration_s": 120,
        "severity": "major",
        "auto_work_order": True,
    },
]


def default_rules(tenant_id: str) -> list[AlertRule]:
    """Sensible starting rules for a new operator (SunSpec fault state 7, a turbine stopped on a fault;
    ISO 10816-21 vibration zone)."""
    now = utcnow()
    return [
        AlertRule.model_validate(
            r | {"id": f"rule_{ulid()}", "tenant_id": tenant_id, "created_at": now, "updated_at": now}
        )
        for r in DEFAULT_RULES
    ]


# -- preventive-maintenance programmes (docs/pm.md "Demo programmes") --------------------------------------


def _check(step_id: str, title: str, kind: str = "check", **extra: Any) -> dict[str, Any]:
    return {"id": step_id, "title": title, "kind": kind, **extra}


def _number(step_id: str, title: str, unit: str | None, low: float | None, high: float | None) -> dict[str, Any]:
    limits = {k: v for k, v in (("unit", unit), ("min", low), ("max", high)) if v is not None}
    return {"id": step_id, "title": title, "kind": "number", **limits}


SOLAR_PROCEDURES: dict[str, dict[str, Any]] = {
    "inverter": {
        "name": "Monthly inverter inspection",
        "description": "Done at night with the inverter isolated: cooling, filters and fans.",
        "steps": [
            _check("loto", "Lock-out / tag-out applied and verified"),
            _number("heatsink", "Heat-sink temperature", "°C", 0, 70),
            _check("filters", "Air filters cleaned or replaced"),
            _check("fans", "Cooling fans run and sound normal", "pass_fail"),
        ],
        "estimated_duration_min": 90,
        "required_skills": ["electrical"],
        "asset_types": ["inverter"],
    },
    "iv_curve": {
        "name": "Quarterly string IV curve check",
        "description": "IV curve traces of the combiner box's four strings (IEC 62446-1), in good sun.",
        "steps": [
            _check("isolated", "Combiner box isolated from the inverter (fuses open)"),
            _number("poa", "Plane-of-array irradiance during the traces", "W/m²", None, None),
            *(_number(f"voc{n}", f"String {n} open-circuit voltage (Voc)", "V", 850, 1000) for n in range(1, 5)),
            _check("shape", "Curve shapes normal (no steps, no mismatch)", "pass_fail"),
        ],
        "estimated_duration_min": 60,
        "required_skills": ["electrical"],
        "asset_types": ["combiner", "string"],
    },
    "oil": {
        "name": "Annual transformer oil test",
        "description": "Oil sample from the bottom valve (IEC 60475), tested on site and sent for DGA.",
        "steps": [
            _check("permit", "Permit to work issued"),
            _number("bdv", "Dielectric breakdown voltage (IEC 60156)", "kV", 30, None),
            _number("water", "Water content (IEC 60814)", "mg/kg", 0, 30),
            _check("level", "Oil level and silica-gel breather", "pass_fail"),
            _check("dga", "Sample sent for dissolved gas analysis (IEC 60599)"),
        ],
        "estimated_duration_min": 120,
        "required_skills": ["electrical", "high-voltage"],
        "asset_types": ["transformer"],
    },
}

WIND_PROCEDURES: dict[str, dict[str, Any]] = {
    "service": {
        "name": "6-monthly turbine service",
        "description": "Lubrication, a bolt torque sample, brakes and the safety chain.",
        "steps": [
            _check("loto", "Turbine stopped, rotor locked, lock-out / tag-out applied"),
            _check("grease", "Main, pitch and yaw bearings greased"),
            _check("bolts", "Tower flange bolts: 10 % torque sample", "pass_fail"),
            _number("yaw_pads", "Yaw brake pad thickness", "mm", 3, None),
            _check("safety", "Safety chain test (emergency stops, overspeed)", "pass_fail"),
        ],
        "estimated_duration_min": 480,
        "required_skills": ["mechanical", "electrical", "work-at-height"],
        "asset_types": ["turbine"],
    },
    "gearbox": {
        "name": "Gearbox inspection",
        "description": "Every 2,500 operating hours: oil sample, filter and an endoscope look at the gears.",
        "steps": [
            _check("loto", "Turbine stopped, rotor locked, lock-out / tag-out applied"),
            _check("oil_sample", "Gearbox oil sample taken (particle count, water)"),
            _number("filter_dp", "Offline filter differential pressure", "bar", 0, 2.5),
            _check("endoscope", "Endoscope: high-speed stage gears and bearings", "pass_fail", photo_required=True),
        ],
        "estimated_duration_min": 240,
        "required_skills": ["mechanical"],
        "asset_types": ["turbine"],
    },
    "blade": {
        "name": "Blade inspection",
        "description": "Rope-access inspection of the three blades, done in low wind with the rotor locked.",
        "steps": [
            _check("loto", "Rotor locked with the blade to inspect pointing down"),
            _number("erosion", "Leading-edge erosion category (0 none - 5 laminate exposed)", None, 0, 2),
            _number("lps", "Lightning down-conductor resistance", "mΩ", None, 50),
            _check("damage", "No cracks, delamination or lightning damage", "pass_fail", photo_required=True),
            _check("drains", "Drain holes clear"),
        ],
        "estimated_duration_min": 300,
        "required_skills": ["rope-access"],
        "asset_types": ["turbine"],
    },
}

# The wind sites' turbines' operating hours when the programme starts (the gearbox schedule's meter reading):
# the first site's are 3 producing hours from their 2,500-hour inspection, so `make run SIMULATE=1` shows
# those inspections generated within hours; the others are further off.
GEARBOX_HOURS = (2497.0, 1900.0, 900.0)


def _calendar(anchor: date, at: str, **rule: Any) -> dict[str, Any]:
    return {"kind": "calendar", "anchor": anchor.isoformat(), "at": at, **rule}


def solar_schedules(today: date, i: int) -> list[tuple[str, dict[str, Any]]]:
    """The i-th solar site's schedules (procedure key, body): the monthly inverter inspection anchored a few
    days back (the first run generates this month's, at night), the IV curves and the oil test ahead."""
    return [
        ("inverter", {"name": "Monthly inverter inspection", "asset_type": "inverter",
                      "trigger": _calendar(today - timedelta(days=3 + 7 * i), "22:00", every=1, unit="months"),
                      "production_window": {"kind": "night"}}),
        ("iv_curve", {"name": "Quarterly string IV curve check", "asset_type": "combiner", "priority": "low",
                      "trigger": _calendar(today + timedelta(days=12 + 25 * i), "10:00", every=3, unit="months"),
                      "lead_time_days": 7}),
        ("oil", {"name": "Annual transformer oil test", "asset_type": "transformer", "priority": "high",
                 "trigger": _calendar(today, "09:00", rrule="FREQ=YEARLY;BYMONTH=6;BYMONTHDAY=1"),
                 "lead_time_days": 14}),
    ]  # fmt: skip


def wind_schedules(today: date, i: int) -> list[tuple[str, dict[str, Any]]]:
    """The i-th wind site's schedules: the 6-monthly service ahead (the first site's inside its 14 days' lead
    time, so generated at once), the gearbox on operating hours, the yearly blade inspection due a few days
    back and waiting for 3 hours of wind under 3.5 m/s."""
    return [
        ("service", {"name": "6-monthly turbine service", "asset_type": "turbine", "priority": "high",
                     "trigger": _calendar(today + timedelta(days=10 + 45 * i), "08:00", every=6, unit="months"),
                     "lead_time_days": 14}),
        ("gearbox", {"name": "Gearbox inspection (2,500 h)", "asset_type": "turbine", "priority": "high",
                     "trigger": {"kind": "meter", "meter": "operating_hours", "every": 2500,
                                 "reading": GEARBOX_HOURS[i % len(GEARBOX_HOURS)]}}),
        ("blade", {"name": "Blade inspection (low wind)", "asset_type": "turbine",
                   "trigger": _calendar(today - timedelta(days=2 + i), "08:00", every=1, unit="years"),
                   "production_window": {"kind": "low_wind", "hours": 3, "cut_in_ms": 3.5}}),
    ]  # fmt: skip


def seed_programmes(seed: TenantSeed, maintenance: Maintenance | None = None) -> None:
    """The tenant's demo PM programme (``SOLAR_PROCEDURES`` or ``WIND_PROCEDURES``, then each site's
    schedules on them), created through the services as the tenant's admin, so they are validated as the API
    would; anchors are relative to today on each site's clock."""
    if maintenance is None:
        from dcmms.runtime import build_maintenance

        maintenance = build_maintenance()
    admin = seed.users[Role.admin]
    p = Principal(tenant_id=seed.tenant.id, user_id=admin.id, role=admin.role, tier=Tier.enterprise, key_id="seed")
    solar = seed.kind is SiteKind.solar
    procedures = {
        key: maintenance.procedures.create_procedure(p, ProcedureCreate.model_validate(body))
        for key, body in (SOLAR_PROCEDURES if solar else WIND_PROCEDURES).items()
    }
    seed.procedures += procedures.values()
    now = utcnow()
    for i, site in enumerate(seed.sites):
        today = now.astimezone(ZoneInfo(site.timezone)).date()
        for key, fields in (solar_schedules if solar else wind_schedules)(today, i):
            body = fields | {
                "procedure_id": procedures[key].id,
                "site_id": site.id,
                "assigned_to": seed.users[Role.technician].id,
            }
            seed.schedules.append(maintenance.pm.create_schedule(p, PMScheduleCreate.model_validate(body)))


def seed_demo(rng: random.Random | None = None, prefix: str = "") -> list[TenantSeed]:
    """The two demo tenants with their fleets, work orders, alerts, keys and PM programmes; ``prefix`` goes
    before their ids (``helios-solar``, ``boreas-wind``), e.g. for a test that needs tenants of its own."""
    rng = rng or random.Random(2026)
    out = []
    for tenant_id, name, kind, sites in (
        ("helios-solar", "Helios Solar", SiteKind.solar, SOLAR_SITES),
        ("boreas-wind", "Boreas Wind", SiteKind.wind, WIND_SITES),
    ):
        seed = provision_tenant(prefix + tenant_id, name, kind, tier_keys=True)
        for site_name, capacity, tz, lat, lon, tariff in sites:
            site = _site(seed, site_name, kind, capacity, tz, lat, lon, tariff)
            seed.sites.append(site)
            build = solar_site_assets if kind is SiteKind.solar else wind_site_assets
            seed.assets += build(site, rng)
        SiteRepository().batch_create(seed.sites)
        AssetRepository().batch_create(seed.assets)
        WorkOrderRepository().batch_create(list(work_orders_for(seed, seed.assets, 300, rng)))
        AlertRepository().batch_create(list(alerts_for(seed, seed.assets, 40, rng)))
        AlertRuleRepository().batch_create(default_rules(seed.tenant.id))
        seed_programmes(seed)
        out.append(seed)
    return out


def seed_spec_scale(
    progress: Progress,
    tenant_id: str = "spec-scale",
    rng: random.Random | None = None,
    sites: int = 200,
    assets: int = 50_000,
    active_work_orders: int = 10_000,
) -> TenantSeed:
    """The spec's scale in one operator tenant, written in batches with progress reports."""
    rng = rng or random.Random(72_000)
    seed = provision_tenant(tenant_id, "Spec Scale Operator", SiteKind.hybrid, tier_keys=True)
    per_site = assets // sites
    inverters = max(1, (per_site - 4) // 16)  # 16 assets per inverter branch in solar_site_assets
    site_repo, asset_repo, wo_repo = SiteRepository(), AssetRepository(), WorkOrderRepository()
    for i in range(sites):
        lat, lon = rng.uniform(-50, 60), rng.uniform(-120, 140)
        site = _site(seed, f"Site {i + 1:03d}", SiteKind.solar, 50.0, "UTC", lat, lon, 45.0 + (i * 7) % 31)
        seed.sites.append(site)
        site_assets = solar_site_assets(site, rng, inverters)
        while len(site_assets) < per_site:  # top up with trackers to reach exactly per_site
            site_assets.append(_asset(site, f"TRK-{len(site_assets)}", AssetType.tracker, None, rng))
        asset_repo.batch_create(site_assets[:per_site])
        seed.assets += site_assets[:per_site]
        progress("assets", len(seed.assets), assets)
    site_repo.batch_create(seed.sites)
    active = sorted(ACTIVE_WORK_ORDER_STATUSES)
    batch: list[WorkOrder] = []
    for n, wo in enumerate(work_orders_for(seed, seed.assets, active_work_orders, rng, active), 1):
        batch.append(wo)
        if len(batch) == 500 or n == active_work_orders:
            wo_repo.batch_create(batch)
            batch = []
            progress("work orders", n, active_work_orders)
    return seed
