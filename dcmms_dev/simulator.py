"""A site-gateway simulator: physically plausible readings for a fleet, put on Kinesis in batches.

Solar: irradiance follows the sun at the site's latitude and longitude (solar elevation from the UTC
time), passing clouds dim it, inverter output follows irradiance, heat sinks warm with load and
sometimes overheat, inverters sometimes fault. Wind: wind speed wanders, turbines follow a power curve
(cut-in 3 m/s, rated 12 m/s, cut-out 25 m/s), vibration sometimes runs high.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from dcmms.telemetry.producer import chunks, put_records
from dcmms.telemetry.record_format import VERSION


@dataclass
class SimAsset:
    tenant_id: str
    site_id: str
    asset_id: str
    type: str
    rated_kw: float
    latitude: float
    longitude: float
    energy_kwh: float = 0.0
    state: dict[str, float] = field(default_factory=dict)


def solar_elevation_deg(latitude: float, longitude: float, at: datetime) -> float:
    """Approximate sun elevation (declination and hour angle; good to a degree or two)."""
    day = at.timetuple().tm_yday
    declination = -23.44 * math.cos(math.radians(360 / 365 * (day + 10)))
    hours = at.hour + at.minute / 60 + at.second / 3600 + longitude / 15
    hour_angle = 15 * (hours - 12)
    lat, dec, ha = map(math.radians, (latitude, declination, hour_angle))
    return math.degrees(math.asin(math.sin(lat) * math.sin(dec) + math.cos(lat) * math.cos(dec) * math.cos(ha)))


def wind_power_kw(speed_ms: float, rated_kw: float) -> float:
    if speed_ms < 3 or speed_ms >= 25:
        return 0.0
    if speed_ms >= 12:
        return rated_kw
    return rated_kw * ((speed_ms - 3) / 9) ** 3


class FleetModel:
    """The state of a fleet and one reading per asset per call to ``readings``."""

    def __init__(self, assets: Sequence[SimAsset], rng: random.Random | None = None, fault_rate: float = 0.002) -> None:
        self.assets = list(assets)
        self.rng = rng or random.Random()
        self.fault_rate = fault_rate

    def _solar(self, a: SimAsset, at: datetime) -> dict[str, float]:
        clouds = a.state.setdefault("clouds", 1.0)
        a.state["clouds"] = min(1.0, max(0.2, clouds + self.rng.gauss(0, 0.05)))
        elevation = solar_elevation_deg(a.latitude, a.longitude, at)
        poa = 0.0 if elevation <= 0 else 1050 * math.sin(math.radians(elevation)) ** 1.15 * a.state["clouds"]
        ambient = 12 + 14 * max(0.0, math.sin(math.radians(elevation))) + self.rng.gauss(0, 0.5)
        if a.type == "weather_station":
            return {
                "poa_irradiance_wm2": round(poa, 1),
                "ambient_temp_c": round(ambient, 2),
                "module_temp_c": round(ambient + poa * 0.028, 2),
                "wind_speed_ms": round(abs(self.rng.gauss(3, 1.5)), 2),
            }
        load = min(1.0, poa / 1000)
        faulted = self.rng.random() < self.fault_rate
        ac = 0.0 if faulted else a.rated_kw * load * 0.965
        a.energy_kwh += ac / 3600  # one reading per simulated second of output
        dc_v = 0.0 if poa <= 0 else 620 + 160 * load + self.rng.gauss(0, 3)
        heatsink = ambient + 32 * load + self.rng.gauss(0, 0.8) + (25 if self.rng.random() < self.fault_rate else 0)
        state = 7 if faulted else (4 if poa > 20 else 2)  # SunSpec St: 4 MPPT, 2 sleeping, 7 fault
        if a.type == "inverter":
            return {
                "ac_power_kw": round(ac, 3),
                "dc_power_kw": round(ac / 0.965, 3),
                "dc_voltage_v": round(dc_v, 1),
                "dc_current_a": round((ac / 0.965 * 1000 / dc_v) if dc_v else 0.0, 2),
                "heatsink_temp_c": round(heatsink, 2),
                "energy_kwh": round(a.energy_kwh, 3),
                "inverter_state": state,
            }
        if a.type == "meter":
            return {
                "ac_power_kw": round(ac, 3),
                "energy_kwh": round(a.energy_kwh, 3),
                "ac_frequency_hz": round(50 + self.rng.gauss(0, 0.02), 3),
            }
        return {"dc_voltage_v": round(dc_v, 1), "dc_current_a": round(max(0.0, 9.5 * load + self.rng.gauss(0, 0.1)), 2)}

    def _wind(self, a: SimAsset) -> dict[str, float]:
        speed = a.state.setdefault("wind", 7.0)
        a.state["wind"] = min(30.0, max(0.0, speed + self.rng.gauss(0, 0.4) + (8.0 - speed) * 0.02))
        power = wind_power_kw(a.state["wind"], a.rated_kw)
        a.energy_kwh += power / 3600
        vibration = 2.5 + power / max(a.rated_kw, 1) * 1.5 + abs(self.rng.gauss(0, 0.3))
        if self.rng.random() < self.fault_rate:
            vibration += 7.0
        return {
            "wind_speed_ms": round(a.state["wind"], 2),
            "ac_power_kw": round(power, 2),
            "rotor_rpm": round(min(14.0, a.state["wind"] * 1.15) if power else 0.0, 2),
            "nacelle_vibration_mms": round(vibration, 2),
            "energy_kwh": round(a.energy_kwh, 3),
            "turbine_state": 1 if power else 0,
        }

    def readings(self, at: datetime) -> Iterator[tuple[SimAsset, dict[str, float]]]:
        for a in self.assets:
            if a.type == "turbine":
                yield a, self._wind(a)
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
