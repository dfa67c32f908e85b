"""The gateway simulator: plausible physics, PutRecords limits, retry of failed entries only."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from dcmms.domain.model import AssetType
from dcmms.telemetry.producer import chunks, put_records
from dcmms.telemetry.record_format import AssetRef, decode_record
from dcmms_dev.simulator import FleetModel, SimAsset, solar_elevation_deg, wind_power_kw

NOON = datetime(2026, 6, 21, 12, 0, tzinfo=UTC)


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
