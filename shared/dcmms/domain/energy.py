"""Energy performance KPIs from telemetry intervals: energy, performance ratio, availability, lost energy,
MTTR and MTBF. Pure functions, no I/O; every formula, its source and a worked example are in ``docs/kpis.md``.

An *interval* is one rollup bucket of one asset (e.g. an hour of ``telemetry_1h``): its length and the mean
of each metric over it (``sum / count`` of the rollup, never a mean of means). Energy is mean power × length.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

STC_IRRADIANCE_W_M2 = 1000.0  # G_STC, IEC 61724-1: the irradiance at which a module's DC rating is stated
DEFAULT_IRRADIANCE_THRESHOLD_W_M2 = 50.0  # sun is "up" for availability above this plane-of-array irradiance


@dataclass(frozen=True)
class Interval:
    """One bucket of one asset: hours covered and mean values over it (None: no reading)."""

    hours: float
    power_kw: float | None = None  # mean AC active power
    poa_w_m2: float | None = None  # mean plane-of-array irradiance (solar)
    wind_m_s: float | None = None  # mean hub-height wind speed (wind)
    excused: bool = False  # not the asset's fault: planned outage, curtailment, grid, weather (IEC categories)


def energy_kwh(intervals: Iterable[Interval]) -> float:
    """E = Σ P̄ · Δt over the intervals with a power reading (kWh)."""
    return sum(i.power_kw * i.hours for i in intervals if i.power_kw is not None)


def insolation_kwh_m2(intervals: Iterable[Interval]) -> float:
    """H_POA = Σ Ḡ_POA · Δt / 1000 (kWh/m²)."""
    return sum(i.poa_w_m2 * i.hours for i in intervals if i.poa_w_m2 is not None) / 1000.0


def performance_ratio(energy_ac_kwh: float, insolation: float, dc_capacity_kwp: float) -> float | None:
    """IEC 61724-1: PR = Y_f / Y_r, with final yield Y_f = E_AC / P_0 (kWh/kWp) and reference yield
    Y_r = H_POA / G_STC (kWh/m² over 1 kW/m²). None when there was no sun or no capacity to divide by."""
    if dc_capacity_kwp <= 0 or insolation <= 0:
        return None
    final_yield = energy_ac_kwh / dc_capacity_kwp
    reference_yield = insolation / (STC_IRRADIANCE_W_M2 / 1000.0)
    return final_yield / reference_yield


def solar_availability(
    intervals: Iterable[Interval],
    threshold_w_m2: float = DEFAULT_IRRADIANCE_THRESHOLD_W_M2,
    min_power_kw: float = 0.0,
) -> float | None:
    """Time-based availability of a PV asset (IEC TS 63019's information categories, reduced): of the time
    with plane-of-array irradiance at or above the threshold and not excused, the share in which the asset
    produced more than ``min_power_kw``. None when the sun never reached the threshold."""
    sun = producing = 0.0
    for i in intervals:
        if i.excused or i.poa_w_m2 is None or i.poa_w_m2 < threshold_w_m2:
            continue
        sun += i.hours
        if i.power_kw is not None and i.power_kw > min_power_kw:
            producing += i.hours
    return producing / sun if sun > 0 else None


@dataclass(frozen=True)
class PowerCurve:
    """A turbine's warranted power curve: (wind speed m/s, power kW) points, ascending, linear between them;
    nothing below the first point (cut-in) or above ``cut_out_m_s``."""

    points: Sequence[tuple[float, float]]
    cut_out_m_s: float

    def __post_init__(self) -> None:
        speeds = [s for s, _ in self.points]
        if len(speeds) < 2 or speeds != sorted(speeds) or len(set(speeds)) != len(speeds):
            raise ValueError("a power curve needs two or more points in strictly ascending wind speed")

    def power_kw(self, wind_m_s: float) -> float:
        speeds = [s for s, _ in self.points]
        if wind_m_s < speeds[0] or wind_m_s > self.cut_out_m_s:
            return 0.0
        if wind_m_s >= speeds[-1]:
            return self.points[-1][1]
        k = bisect_right(speeds, wind_m_s)
        (s0, p0), (s1, p1) = self.points[k - 1], self.points[k]
        return p0 + (p1 - p0) * (wind_m_s - s0) / (s1 - s0)


def wind_time_availability(intervals: Iterable[Interval], curve: PowerCurve, min_power_kw: float = 0.0) -> float | None:
    """IEC 61400-26-1, time-based, reduced: of the time not excused, the share in which the turbine was
    available — producing, or not expected to (wind below cut-in or above cut-out: the turbine is ready
    and waiting, not failed)."""
    total = available = 0.0
    for i in intervals:
        if i.excused:
            continue
        total += i.hours
        producing = i.power_kw is not None and i.power_kw > min_power_kw
        idle_by_wind = i.wind_m_s is not None and curve.power_kw(i.wind_m_s) == 0.0
        if producing or idle_by_wind:
            available += i.hours
    return available / total if total > 0 else None


def expected_wind_kw(interval: Interval, curve: PowerCurve) -> float | None:
    """Potential power from the power curve at the measured wind speed."""
    return None if interval.wind_m_s is None else curve.power_kw(interval.wind_m_s)


def expected_solar_kw(interval: Interval, dc_capacity_kwp: float, reference_pr: float) -> float | None:
    """Expected AC power: P_0 · Ḡ_POA / G_STC · PR_ref (the site's expected performance ratio)."""
    if interval.poa_w_m2 is None:
        return None
    return dc_capacity_kwp * interval.poa_w_m2 / STC_IRRADIANCE_W_M2 * reference_pr


def lost_energy_kwh(intervals: Iterable[Interval], expected_kw: Sequence[float | None]) -> float:
    """Σ max(0, expected − actual) · Δt over the intervals (an outage's, an alert episode's): energy the
    asset should have produced and did not. An interval without an expectation loses nothing; one without
    a power reading lost all of it."""
    lost = 0.0
    for i, expected in zip(intervals, expected_kw, strict=True):
        if expected is None:
            continue
        lost += max(0.0, expected - (i.power_kw or 0.0)) * i.hours
    return lost


def production_availability(actual_kwh: float, lost_kwh: float) -> float | None:
    """IEC 61400-26-2, production-based: A_P = E_actual / (E_actual + E_lost), with E_lost the potential
    energy not produced while unavailable (excused losses left out by the caller)."""
    potential = actual_kwh + lost_kwh
    return actual_kwh / potential if potential > 0 else None


@dataclass(frozen=True)
class Reliability:
    failures: int
    downtime_h: float
    mttr_h: float | None  # mean time to repair
    mtbf_h: float | None  # mean time between failures


def reliability(period_h: float, outages_h: Iterable[float]) -> Reliability:
    """Over a period with ``failures`` forced outages: MTTR = Σ downtime / failures and MTBF = (period − Σ
    downtime) / failures (uptime per failure); both None without a failure."""
    outages = [h for h in outages_h if h >= 0]
    down = sum(outages)
    n = len(outages)
    if n == 0:
        return Reliability(0, 0.0, None, None)
    return Reliability(n, down, down / n, max(0.0, period_h - down) / n)


def group_reliability(period_h: float, assets: int, failures: int, downtime_h: float) -> Reliability:
    """``reliability`` over a group of ``assets`` (a site, a model): the uptime is every asset's, so MTBF =
    (assets x period - downtime) / failures; both None without a failure."""
    if failures <= 0:
        return Reliability(0, 0.0, None, None)
    return Reliability(failures, downtime_h, downtime_h / failures, max(0.0, assets * period_h - downtime_h) / failures)
