"""Record format v1: what is accepted, and the reason given for each kind of refusal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from dcmms.domain.model import AssetType
from dcmms.telemetry.metric_names import METRICS
from dcmms.telemetry.record_format import AssetRef, RecordRejected, decode_record

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
WEEK = timedelta(days=7)
ASSETS = {("t1", "inv1"): AssetRef("s1", AssetType.inverter), ("t1", "wtg1"): AssetRef("s2", AssetType.turbine)}


def lookup(tenant: str, asset: str) -> AssetRef | None:
    return ASSETS.get((tenant, asset))


def record(**overrides) -> bytes:
    doc = {
        "v": 1,
        "tenant_id": "t1",
        "site_id": "s1",
        "asset_id": "inv1",
        "readings": [
            {"ts": "2026-11-28T11:59:00Z", "metrics": {"ac_power_kw": 812.5, "heatsink_temp_c": 61}},
            {"ts": int((NOW - timedelta(seconds=30)).timestamp() * 1000), "metrics": {"inverter_state": 4}},
        ],
    }
    doc.update(overrides)
    return orjson.dumps(doc)


def test_a_good_record_decodes_to_samples() -> None:
    decoded = decode_record(record(), lookup, NOW, WEEK)
    assert (decoded.tenant_id, decoded.site_id, decoded.asset_id, decoded.asset_type) == (
        "t1",
        "s1",
        "inv1",
        AssetType.inverter,
    )
    assert [(s.metric, s.value) for s in decoded.samples] == [
        ("ac_power_kw", 812.5),
        ("heatsink_temp_c", 61.0),
        ("inverter_state", 4.0),
    ]
    assert decoded.samples[0].ts == datetime(2026, 11, 28, 11, 59, tzinfo=UTC)
    assert decoded.samples[2].ts == NOW - timedelta(seconds=30)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"{not json", "malformed JSON"),
        (b"[1, 2]", "not a JSON object"),
        (record(v=2), "unsupported version"),
        (record(tenant_id="t2"), "unknown tenant or asset"),
        (record(asset_id="nope"), "unknown tenant or asset"),
        (record(site_id="s2"), "not on that site"),
        (record(readings=[]), "non-empty"),
        (record(readings=[{"ts": "2026-11-28T12:20:00Z", "metrics": {"ac_power_kw": 1}}]), "future"),
        (record(readings=[{"ts": "2026-11-01T00:00:00Z", "metrics": {"ac_power_kw": 1}}]), "retention"),
        (record(readings=[{"ts": "yesterday", "metrics": {"ac_power_kw": 1}}]), "RFC 3339"),
        (record(readings=[{"ts": "2026-11-28T11:00:00", "metrics": {"ac_power_kw": 1}}]), "UTC offset"),
        (
            record(readings=[{"ts": "2026-11-28T11:00:00Z", "metrics": {"rotor_rpm": 1}}]),
            "unknown metric 'rotor_rpm' for inverter",
        ),
        (record(readings=[{"ts": "2026-11-28T11:00:00Z", "metrics": {"ac_power_kw": "high"}}]), "not a finite number"),
        (record(readings=[{"ts": "2026-11-28T11:00:00Z", "metrics": {"ac_power_kw": True}}]), "not a finite number"),
        (
            b'{"v":1,"tenant_id":"t1","site_id":"s1","asset_id":"inv1","readings":[{"ts":0,"metrics":{"ac_power_kw":NaN}}]}',
            "malformed JSON",
        ),
        (record(readings=[{"ts": "2026-11-28T11:00:00Z"}]), "metrics object"),
    ],
)
def test_each_rule_names_itself(data: bytes, reason: str) -> None:
    with pytest.raises(RecordRejected) as err:
        decode_record(data, lookup, NOW, WEEK)
    assert reason in err.value.reason


def test_catalogue_follows_sunspec_and_turbine_names() -> None:
    assert {
        "ac_power_kw",
        "dc_voltage_v",
        "dc_current_a",
        "energy_kwh",
        "heatsink_temp_c",
        "inverter_state",
    } <= METRICS[AssetType.inverter]
    assert {"wind_speed_ms", "rotor_rpm", "nacelle_vibration_mms"} <= METRICS[AssetType.turbine]
    assert {"poa_irradiance_wm2", "module_temp_c"} <= METRICS[AssetType.weather_station]
    assert set(METRICS) == set(AssetType)
