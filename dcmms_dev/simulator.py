"""A site-gateway simulator: physically plausible readings for a fleet, put on Kinesis in batches.

Weather is per site and shared by all of its assets in one round, so a weather station and the inverters
next to it agree: plane-of-array irradiance follows the sun at the site's latitude and longitude (solar
elevation from the UTC time) dimmed by slowly passing clouds, ambient and module temperature follow the
sun, and a hub-height wind speed wanders around a mean. Inverters turn irradiance into AC power through
the usual losses (module temperature, soiling, wiring and mismatch, inverter efficiency; a performance
ratio of about 0.8, docs/kpis.md), clipped at their rating. Turbines see the site's wind plus their own
turbulence and follow their power curve (the asset's own, else a generic one). Inverters and turbines
fault now and then for a while (SunSpec state 7 / turbine state 0, no output), heat sinks and nacelles
sometimes read high for a moment. Everything steps with the simulated time between rounds, so one reading
a second and one a minute describe the same day, and a seeded ``random.Random`` makes it reproducible.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from dcmms.domain.energy import STC_IRRADIANCE_W_M2, PowerCurve
from dcmms.telemetry.producer import chunks, put_records
from dcmms.telemetry.record_format import VERSION

# PV losses between plane-of-array irradiance and AC output (a PR of ~0.8 on a warm clear day)
TEMP_COEFF_PER_C = -0.004  # module power per °C of module temperature above 25 °C (crystalline silicon;
# no gain is credited below 25 °C, which keeps winter PRs from running away in this simple model)
MODULE_HEATING_C_PER_WM2 = 0.028  # module temperature ≈ ambient + POA × 0.028 (NOCT-style, no wind)
SOILING_LOSS = 0.02
WIRING_MISMATCH_LOSS = 0.03  # DC cabling and module mismatch
OPTICAL_LOSS = 0.02  # reflection at incidence angles and spectrum, over a day
LOW_LIGHT_LOSS = 0.05  # module efficiency falls in weak light: this share of it lost at 0 W/m², none at 1000
INVERTER_EFFICIENCY = 0.97
AC_LOSS = 0.01  # AC cabling up to the inverter's meter point
DEGRADATION_LOSS = 0.015  # modules a few years into service

MAX_STEP_S = 3600.0  # a longer gap between rounds (a paused gateway) advances the physics by at most this

# Turbine states (turbine_state): 0 stopped on a fault, 1 generating, 2 ready but idle (wind out of range)
TURBINE_FAULT, TURBINE_GENERATING, TURBINE_READY = 0, 1, 2
# SunSpec inverter states (St): 2 sleeping, 4 MPPT, 7 fault
INVERTER_SLEEPING, INVERTER_MPPT, INVERTER_FAULT = 2, 4, 7


@dataclass
class SimAsset:
    tenant_id: str
    site_id: str
    asset_id: str
    type: str
    rated_kw: float  # inverters: their share of the site's DC capacity (kWp); turbines: rated power
    latitude: float
    longitude: float
    energy_kwh: float = 0.0
    state: dict[str, float] = field(default_factory=dict)
    power_curve: PowerCurve | None = None  # turbines: the asset's warranted curve (else a generic one)


@dataclass
class SiteWeather:
    """One site's weather, advanced once per round and read by every asset of the site."""

    clearness: float  # 1 clear sky, lower under cloud
    wind_ms: float  # hub-height wind speed
    at: datetime | None = None  # the round it was last advanced to
    poa_wm2: float = 0.0
    ambient_c: float = 0.0
    module_c: float = 0.0


def solar_elevation_deg(latitude: float, longitude: float, at: datetime) -> float:
    """Approximate sun elevation (declination and hour angle; good to a degree or two)."""
    day = at.timetuple().tm_yday
    declination = -23.44 * math.cos(math.radians(360 / 365 * (day + 10)))
    hours = at.hour + at.minute / 60 + at.second / 3600 + longitude / 15
    hour_angle = 15 * (hours - 12)
    lat, dec, ha = map(math.radians, (latitude, declination, hour_angle))
    return math.degrees(math.asin(math.sin(lat) * math.sin(dec) + math.cos(lat) * math.cos(dec) * math.cos(ha)))


def clear_sky_poa_wm2(elevation_deg: float) -> float:
    """Plane-of-array irradiance under a clear sky at this sun elevation."""
    return 0.0 if elevation_deg <= 0 else 1050 * math.sin(math.radians(elevation_deg)) ** 1.15


def ambient_c(latitude: float, at: datetime, elevation_deg: float) -> float:
    """Air temperature: warmer nearer the equator, in summer (by hemisphere) and with the sun up."""
    summer = -math.cos(math.radians(360 / 365 * (at.timetuple().tm_yday + 10)))  # +1 at the June solstice
    season = 0.15 * latitude * summer  # latitude's sign puts summer in the right half of the year
    return 24 - 0.3 * abs(latitude) + season + 12 * max(0.0, math.sin(math.radians(elevation_deg)))


def pv_ac_kw(dc_kwp: float, poa_wm2: float, module_temp_c: float) -> tuple[float, float]:
    """(AC, DC) power of a PV block of ``dc_kwp`` under ``poa_wm2``: temperature and low-light derating,
    soiling, optical, degradation, wiring and mismatch losses, inverter efficiency and AC losses; AC clipped
    at the rating. About 0.80 of the irradiance's worth at 800 W/m² and 45 °C of module temperature."""
    if poa_wm2 <= 0 or dc_kwp <= 0:
        return 0.0, 0.0
    derate = max(0.0, 1 + TEMP_COEFF_PER_C * max(0.0, module_temp_c - 25))
    derate *= 1 - LOW_LIGHT_LOSS * max(0.0, 1 - poa_wm2 / STC_IRRADIANCE_W_M2)
    optics = (1 - SOILING_LOSS) * (1 - OPTICAL_LOSS) * (1 - DEGRADATION_LOSS) * (1 - WIRING_MISMATCH_LOSS)
    dc = dc_kwp * poa_wm2 / STC_IRRADIANCE_W_M2 * derate * optics
    ac = min(dc_kwp, dc * INVERTER_EFFICIENCY * (1 - AC_LOSS))
    return ac, ac / (INVERTER_EFFICIENCY * (1 - AC_LOSS))


def wind_power_kw(speed_ms: float, rated_kw: float) -> float:
    """A generic curve for turbines without their own: cubic from cut-in 3 m/s to rated at 12 m/s, nothing
    at or above 25 m/s."""
    if speed_ms < 3 or speed_ms >= 25:
        return 0.0
    if speed_ms >= 12:
        return rated_kw
    return rated_kw * ((speed_ms - 3) / 9) ** 3


def _ou(rng: random.Random, x: float, mean: float, sd: float, tau_s: float, dt_s: float) -> float:
    """One exact step of an Ornstein-Uhlenbeck process (stationary ``sd``, correlation time ``tau_s``)."""
    decay = math.exp(-dt_s / tau_s)
    return mean + (x - mean) * decay + sd * math.sqrt(1 - decay * decay) * rng.gauss(0, 1)


class FleetModel:
    """The state of a fleet and one reading per asset per call to ``readings``.

    ``fault_rate`` is the chance per simulated second that an inverter or turbine that is producing goes
    into a fault (the per-reading chance at one reading a second, scaled to the time between readings); a
    fault lasts an exponentially distributed time of mean ``fault_mean_s``. The defaults (about one fault
    per 4.6 days of production, 3 h each) leave an asset unavailable ~2.6 % of its producing time, a
    time-based availability of ~0.97-0.98 even on hourly rollups (shorter faults hardly show in an
    hour's mean power). ``spike_rate`` is the per-reading chance of a one-reading heat-sink or vibration
    spike. ``cloudiness`` scales the clouds (0: a clear sky all day); ``mean_wind_ms`` is the sites' mean
    hub-height wind speed.
    """

    def __init__(
        self,
        assets: Sequence[SimAsset],
        rng: random.Random | None = None,
        fault_rate: float = 2.5e-6,
        fault_mean_s: float = 10_800.0,
        spike_rate: float = 0.002,
        cloudiness: float = 1.0,
        mean_wind_ms: float = 7.5,
    ) -> None:
        self.assets = list(assets)
        self.rng = rng or random.Random()
        self.fault_rate = fault_rate
        self.fault_mean_s = fault_mean_s
        self.spike_rate = spike_rate
        self.cloudiness = cloudiness
        self.mean_wind_ms = mean_wind_ms
        self.sites: dict[tuple[str, str], SiteWeather] = {}

    def inject_fault(self, asset_id: str, until: datetime | None = None) -> None:
        """Put an inverter or turbine into a fault from its next reading until ``until`` (simulated time;
        default: for good): it reports no output and its fault state, as a real one would."""
        for a in self.assets:
            if a.asset_id == asset_id:
                if a.type not in ("inverter", "turbine"):
                    raise ValueError(f"{asset_id} is a {a.type}: only inverters and turbines fault")
                a.state["fault_until"] = math.inf if until is None else until.timestamp()
                return
        raise ValueError(f"{asset_id} is not among the simulated assets")

    # --- the site's weather, once per round ---

    def _weather(self, a: SimAsset, at: datetime) -> SiteWeather:
        key = (a.tenant_id, a.site_id)
        w = self.sites.get(key)
        if w is None:
            w = self.sites[key] = SiteWeather(clearness=1.0 - 0.12 * self.cloudiness, wind_ms=self.mean_wind_ms)
        if w.at == at:
            return w
        dt = 0.0 if w.at is None else min(MAX_STEP_S, max(0.0, (at - w.at).total_seconds()))
        w.at = at
        if dt > 0:
            if self.cloudiness > 0:
                c = _ou(self.rng, w.clearness, 1.0 - 0.12 * self.cloudiness, 0.15 * self.cloudiness, 1800.0, dt)
                w.clearness = min(1.0, max(0.2, c))
            w.wind_ms = min(30.0, max(0.0, _ou(self.rng, w.wind_ms, self.mean_wind_ms, 3.0, 10_800.0, dt)))
        elevation = solar_elevation_deg(a.latitude, a.longitude, at)
        w.poa_wm2 = clear_sky_poa_wm2(elevation) * w.clearness
        w.ambient_c = ambient_c(a.latitude, at, elevation) + self.rng.gauss(0, 0.5)
        w.module_c = w.ambient_c + w.poa_wm2 * MODULE_HEATING_C_PER_WM2
        return w

    # --- per asset ---

    def _step_s(self, a: SimAsset, at: datetime) -> float:
        """Simulated seconds since this asset's previous reading (0 for its first)."""
        now = at.timestamp()
        last = a.state.get("last_ts")
        a.state["last_ts"] = now
        return 0.0 if last is None else min(MAX_STEP_S, max(0.0, now - last))

    def _faulted(self, a: SimAsset, at: datetime, dt: float, running: bool) -> bool:
        """Whether the asset is in a fault episode now: one that has not ended, or one starting now (only
        while it runs, with ``fault_rate`` per simulated second)."""
        now = at.timestamp()
        if a.state.get("fault_until", -math.inf) > now:
            return True
        if running and dt > 0 and self.fault_rate > 0 and self.rng.random() < -math.expm1(-self.fault_rate * dt):
            a.state["fault_until"] = now + self.rng.expovariate(1 / self.fault_mean_s)
            return True
        return False

    def _solar(self, a: SimAsset, at: datetime) -> dict[str, float]:
        w = self._weather(a, at)
        dt = self._step_s(a, at)
        poa = w.poa_wm2
        if a.type == "weather_station":
            return {
                "poa_irradiance_wm2": round(poa, 1),
                "ambient_temp_c": round(w.ambient_c, 2),
                "module_temp_c": round(w.module_c, 2),
                "wind_speed_ms": round(w.wind_ms, 2),
            }
        sun = min(1.0, poa / STC_IRRADIANCE_W_M2)
        dc_v = 0.0 if poa <= 0 else 620 + 160 * sun + self.rng.gauss(0, 3)
        if a.type == "string":
            return {
                "dc_voltage_v": round(dc_v, 1),
                "dc_current_a": round(max(0.0, 9.5 * sun + self.rng.gauss(0, 0.1)), 2),
            }
        ac, dc = pv_ac_kw(a.rated_kw, poa, w.module_c)
        faulted = a.type == "inverter" and self._faulted(a, at, dt, running=ac > 0)
        if faulted:
            ac = dc = 0.0
        a.energy_kwh += ac * dt / 3600
        load = ac / a.rated_kw if a.rated_kw > 0 else 0.0
        if a.type == "meter":
            return {
                "ac_power_kw": round(ac, 3),
                "energy_kwh": round(a.energy_kwh, 3),
                "ac_frequency_hz": round(50 + self.rng.gauss(0, 0.02), 3),
            }
        spike = 25 if self.rng.random() < self.spike_rate else 0
        heatsink = w.ambient_c + 32 * load + self.rng.gauss(0, 0.8) + spike
        state = INVERTER_FAULT if faulted else (INVERTER_MPPT if poa > 20 else INVERTER_SLEEPING)
        return {
            "ac_power_kw": round(ac, 3),
            "dc_power_kw": round(dc, 3),
            "dc_voltage_v": round(dc_v, 1),
            "dc_current_a": round((dc * 1000 / dc_v) if dc_v else 0.0, 2),
            "heatsink_temp_c": round(heatsink, 2),
            "energy_kwh": round(a.energy_kwh, 3),
            "inverter_state": state,
        }

    def _wind(self, a: SimAsset, at: datetime) -> dict[str, float]:
        w = self._weather(a, at)
        dt = self._step_s(a, at)
        gust = a.state.get("gust", 0.0)
        if dt > 0:
            a.state["gust"] = gust = _ou(self.rng, gust, 0.0, 0.4, 60.0, dt)  # the turbine's own turbulence
        speed = round(min(30.0, max(0.0, w.wind_ms + gust)), 2)
        curve = a.power_curve
        power = curve.power_kw(speed) if curve is not None else wind_power_kw(speed, a.rated_kw)
        faulted = self._faulted(a, at, dt, running=power > 0)
        if faulted:
            power = 0.0
        a.energy_kwh += power * dt / 3600
        rated = max(a.rated_kw, curve.points[-1][1] if curve is not None else 0.0, 1.0)
        vibration = 2.5 + power / rated * 1.5 + abs(self.rng.gauss(0, 0.3))
        if self.rng.random() < self.spike_rate:
            vibration += 7.0
        state = TURBINE_FAULT if faulted else (TURBINE_GENERATING if power > 0 else TURBINE_READY)
        return {
            "wind_speed_ms": speed,
            "ac_power_kw": round(power, 2),
            "rotor_rpm": round(min(14.0, speed * 1.15) if power else 0.0, 2),
            "nacelle_vibration_mms": round(vibration, 2),
            "energy_kwh": round(a.energy_kwh, 3),
            "turbine_state": state,
        }

    def readings(self, at: datetime) -> Iterator[tuple[SimAsset, dict[str, float]]]:
        for a in self.assets:
            if a.type == "turbine":
                yield a, self._wind(a, at)
            elif a.type in ("inverter", "meter", "string", "weather_station"):
                yield a, self._solar(a, at)

    def records(self, at: datetime) -> list[tuple[str, bytes]]:
        """One Kinesis record (partition key, data) per asset, in the v1 format."""
        ts = at.astimezone(UTC).isoformat().replace("+00:00", "Z")
        return [
            (
                a.asset_id,
                orjson.dumps(
                    {
                        "v": VERSION,
                        "tenant_id": a.tenant_id,
                        "site_id": a.site_id,
                        "asset_id": a.asset_id,
                        "readings": [{"ts": ts, "metrics": metrics}],
                    }
                ),
            )
            for a, metrics in self.readings(at)
        ]


def power_curve(spec: Any) -> PowerCurve | None:
    """A ``PowerCurve`` from an asset's ``power_curve`` (the API's JSON or a ``PowerCurveSpec``), or None."""
    if spec is None:
        return None
    if not isinstance(spec, dict):
        spec = spec.model_dump()
    return PowerCurve([(float(s), float(kw)) for s, kw in spec["points"]], float(spec["cut_out_ms"]))


def fleet_from_domain(sites: Iterable[Any], assets: Iterable[Any]) -> list[SimAsset]:
    """The fleet of seeded ``Site`` and ``Asset`` objects (dcmms.domain.model), power curves included."""
    locations = {s.id: s.location for s in sites}
    return [
        SimAsset(
            a.tenant_id,
            a.site_id,
            a.id,
            a.type.value,
            a.rated_kw or 100.0,
            locations[a.site_id].latitude if locations.get(a.site_id) else 0.0,
            locations[a.site_id].longitude if locations.get(a.site_id) else 0.0,
            power_curve=power_curve(a.power_curve),
        )
        for a in assets
    ]


def fleet_from_api(api_url: str, api_key: str, sites: int, assets_per_site: int) -> list[SimAsset]:
    """The fleet a gateway would be provisioned with, read from the API alone (sites, then assets)."""
    import urllib.parse
    import urllib.request

    def get(path: str, **params: Any) -> Any:
        url = f"{api_url.rstrip('/')}{path}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(urllib.request.Request(url, headers={"x-api-key": api_key}), timeout=10) as r:
            return orjson.loads(r.read())

    out: list[SimAsset] = []
    for site in get("/api/v1/sites", limit=sites)["items"]:
        location = site.get("location") or {"latitude": 0.0, "longitude": 0.0}
        for a in get("/api/v1/assets", site_id=site["id"], limit=min(1000, assets_per_site))["items"]:
            out.append(
                SimAsset(
                    a["tenant_id"],
                    site["id"],
                    a["id"],
                    a["type"],
                    a.get("rated_kw") or 100.0,
                    location["latitude"],
                    location["longitude"],
                    power_curve=power_curve(a.get("power_curve")),
                )
            )
    return out


def run(
    model: FleetModel,
    kinesis: Any,
    stream: str,
    duration_s: float,
    interval_s: float = 1.0,
    report: Callable[[int, int], None] | None = None,
) -> tuple[int, int]:
    """Emit one round of readings every ``interval_s`` for ``duration_s``; returns (records, failed)."""
    sent = failed = 0
    deadline = time.monotonic() + duration_s
    while time.monotonic() < deadline:
        started = time.monotonic()
        for batch in chunks(model.records(datetime.now(UTC))):
            failed += put_records(kinesis, stream, batch)
            sent += len(batch)
        if report:
            report(sent, failed)
        time.sleep(max(0.0, interval_s - (time.monotonic() - started)))
    return sent, failed
