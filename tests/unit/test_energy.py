"""The energy KPIs against the worked examples of docs/kpis.md, computed by hand."""

from __future__ import annotations

import pytest

from dcmms.domain.energy import (
    Interval,
    PowerCurve,
    energy_kwh,
    expected_solar_kw,
    expected_wind_kw,
    insolation_kwh_m2,
    lost_energy_kwh,
    performance_ratio,
    production_availability,
    reliability,
    solar_availability,
    wind_time_availability,
)

# A 1,000 kWp plant over one day of hours (docs/kpis.md, example 1): night, a morning ramp, a fault at noon.
DAY = [
    Interval(6.0, power_kw=0.0, poa_w_m2=0.0),  # 00-06 night
    Interval(1.0, power_kw=80.0, poa_w_m2=100.0),  # 06-07
    Interval(1.0, power_kw=320.0, poa_w_m2=400.0),  # 07-08
    Interval(2.0, power_kw=640.0, poa_w_m2=800.0),  # 08-10
    Interval(2.0, power_kw=0.0, poa_w_m2=900.0),  # 10-12 inverter fault: sun, no power
    Interval(2.0, power_kw=560.0, poa_w_m2=700.0),  # 12-14
    Interval(1.0, power_kw=24.0, poa_w_m2=30.0),  # 14-15 overcast, below the 50 W/m² threshold
    Interval(9.0, power_kw=0.0, poa_w_m2=0.0),  # 15-24
]


def test_energy_and_insolation_are_mean_times_hours() -> None:
    # 80 + 320 + 1280 + 0 + 1120 + 24 = 2,824 kWh; (100 + 400 + 1600 + 1800 + 1400 + 30) / 1000 = 5.33 kWh/m²
    assert energy_kwh(DAY) == pytest.approx(2824.0)
    assert insolation_kwh_m2(DAY) == pytest.approx(5.33)
    assert energy_kwh([Interval(1.0), Interval(0.5, power_kw=100.0)]) == pytest.approx(50.0)  # no reading, no energy


def test_performance_ratio_is_final_over_reference_yield() -> None:
    # Y_f = 2,824 / 1,000 = 2.824 h; Y_r = 5.33 / 1 = 5.33 h; PR = 0.5298 (the fault's two hours cost it)
    assert performance_ratio(energy_kwh(DAY), insolation_kwh_m2(DAY), 1000.0) == pytest.approx(2.824 / 5.33)
    assert performance_ratio(4000.0, 5.0, 1000.0) == pytest.approx(0.8)
    assert performance_ratio(100.0, 0.0, 1000.0) is None  # no sun
    assert performance_ratio(100.0, 5.0, 0.0) is None  # no capacity


def test_solar_availability_counts_sunny_time_with_production() -> None:
    # sun ≥ 50 W/m²: 06-14 = 8 h; producing 6 of them (the fault's 2 h not) -> 0.75
    assert solar_availability(DAY) == pytest.approx(6 / 8)
    # a threshold of 150 W/m² leaves 07-14 = 7 h, 5 producing
    assert solar_availability(DAY, threshold_w_m2=150.0) == pytest.approx(5 / 7)
    excused = [*DAY[:4], Interval(2.0, power_kw=0.0, poa_w_m2=900.0, excused=True), *DAY[5:]]
    assert solar_availability(excused) == pytest.approx(1.0)  # a planned outage is not unavailability
    assert solar_availability([Interval(12.0, poa_w_m2=0.0)]) is None


CURVE = PowerCurve([(3.0, 0.0), (5.0, 400.0), (12.0, 3000.0)], cut_out_m_s=25.0)


def test_power_curve_interpolates_and_cuts_in_and_out() -> None:
    assert CURVE.power_kw(2.9) == 0.0
    assert CURVE.power_kw(4.0) == pytest.approx(200.0)
    assert CURVE.power_kw(8.5) == pytest.approx(400.0 + 2600.0 * 3.5 / 7.0)  # 1,700 kW
    assert CURVE.power_kw(18.0) == 3000.0  # rated
    assert CURVE.power_kw(25.5) == 0.0  # cut out
    with pytest.raises(ValueError):
        PowerCurve([(5.0, 1.0), (3.0, 0.0)], cut_out_m_s=25.0)


# A 3 MW turbine over 10 hours (docs/kpis.md, example 2).
TURBINE = [
    Interval(4.0, power_kw=1650.0, wind_m_s=8.5),  # running, a little under the curve (1,700)
    Interval(2.0, power_kw=0.0, wind_m_s=2.0),  # calm: ready, not failed
    Interval(3.0, power_kw=0.0, wind_m_s=12.0),  # pitch fault at rated wind
    Interval(1.0, power_kw=0.0, wind_m_s=12.0, excused=True),  # grid outage: excused
]


def test_wind_time_availability_counts_calm_as_available() -> None:
    # not excused: 9 h; available: 4 running + 2 calm = 6 -> 0.667
    assert wind_time_availability(TURBINE, CURVE) == pytest.approx(6 / 9)


def test_lost_energy_and_production_based_availability() -> None:
    expected = [expected_wind_kw(i, CURVE) for i in TURBINE]
    assert expected == pytest.approx([1700.0, 0.0, 3000.0, 3000.0])
    fault = TURBINE[2:3]
    assert lost_energy_kwh(fault, expected[2:3]) == pytest.approx(9000.0)  # 3 h x 3,000 kW
    # the whole period, excused hour left out by the caller: (1700-1650)x4 + 0 + 3000x3 = 9,200 kWh lost
    counted = [i for i in TURBINE if not i.excused]
    lost = lost_energy_kwh(counted, [expected_wind_kw(i, CURVE) for i in counted])
    assert lost == pytest.approx(9200.0)
    actual = energy_kwh(counted)  # 6,600 kWh
    assert production_availability(actual, lost) == pytest.approx(6600 / 15800)
    assert production_availability(0.0, 0.0) is None


def test_expected_solar_power_and_lost_energy_of_a_fault() -> None:
    fault = DAY[4]
    assert expected_solar_kw(fault, 1000.0, 0.8) == pytest.approx(720.0)  # 1,000 x 900/1000 x 0.8
    assert lost_energy_kwh([fault], [expected_solar_kw(fault, 1000.0, 0.8)]) == pytest.approx(1440.0)  # 2 h
    over = Interval(1.0, power_kw=800.0, poa_w_m2=900.0)  # above expectation: no negative loss
    assert lost_energy_kwh([over], [720.0]) == 0.0
    assert lost_energy_kwh([Interval(1.0, power_kw=5.0)], [None]) == 0.0  # no irradiance: no expectation


def test_mttr_and_mtbf() -> None:
    # 30 days = 720 h, three forced outages of 2, 4 and 6 h: MTTR 4 h, MTBF (720 - 12) / 3 = 236 h
    r = reliability(720.0, [2.0, 4.0, 6.0])
    assert (r.failures, r.downtime_h) == (3, 12.0)
    assert r.mttr_h == pytest.approx(4.0) and r.mtbf_h == pytest.approx(236.0)
    none = reliability(720.0, [])
    assert (none.failures, none.mttr_h, none.mtbf_h) == (0, None, None)


def test_the_read_models_downtime_reasons_are_the_apis() -> None:
    from dcmms.domain.commands import DowntimeReason
    from dcmms.readmodel.schema import DOWNTIME_REASONS

    assert tuple(r.value for r in DowntimeReason) == DOWNTIME_REASONS
