"""Metric names per asset type, after SunSpec inverter/meter models and wind-turbine practice.

Names carry their unit as a suffix so a reader never has to guess it. ``COUNTERS`` only ever grow.
"""

from __future__ import annotations

from dcmms.domain.model import AssetType

_INVERTER = {
    "ac_power_kw",
    "ac_voltage_v",
    "ac_current_a",
    "ac_frequency_hz",
    "power_factor",
    "dc_power_kw",
    "dc_voltage_v",
    "dc_current_a",
    "energy_kwh",
    "heatsink_temp_c",
    "cabinet_temp_c",
    "inverter_state",
    "insulation_resistance_kohm",
}  # SunSpec models 101-103 (W, PhVphA, A, Hz, PF, DCW, DCV, DCA, WH, TmpSnk, TmpCab, St)
_METER = {
    "ac_power_kw",
    "reactive_power_kvar",
    "ac_voltage_v",
    "ac_current_a",
    "ac_frequency_hz",
    "power_factor",
    "energy_kwh",
    "energy_export_kwh",
    "energy_import_kwh",
}  # SunSpec models 201-204
_WEATHER = {
    "poa_irradiance_wm2",
    "ghi_irradiance_wm2",
    "module_temp_c",
    "ambient_temp_c",
    "wind_speed_ms",
    "wind_direction_deg",
    "relative_humidity_pct",
    "rainfall_mm",
}
_TURBINE = {
    "ac_power_kw",
    "wind_speed_ms",
    "wind_direction_deg",
    "rotor_rpm",
    "generator_rpm",
    "pitch_angle_deg",
    "yaw_angle_deg",
    "nacelle_vibration_mms",
    "gearbox_oil_temp_c",
    "generator_temp_c",
    "nacelle_temp_c",
    "energy_kwh",
    "turbine_state",
}

METRICS: dict[AssetType, frozenset[str]] = {
    AssetType.inverter: frozenset(_INVERTER),
    AssetType.string: frozenset({"dc_voltage_v", "dc_current_a", "dc_power_kw"}),
    AssetType.combiner: frozenset({"dc_voltage_v", "dc_current_a", "dc_power_kw", "fuse_state"}),
    AssetType.meter: frozenset(_METER),
    AssetType.transformer: frozenset({"oil_temp_c", "winding_temp_c", "load_pct", "ac_power_kw"}),
    AssetType.turbine: frozenset(_TURBINE),
    AssetType.tracker: frozenset({"tracker_angle_deg", "tracker_target_deg", "tracker_state", "motor_current_a"}),
    AssetType.weather_station: frozenset(_WEATHER),
    AssetType.battery: frozenset(
        {
            "state_of_charge_pct",
            "ac_power_kw",
            "dc_voltage_v",
            "dc_current_a",
            "cell_temp_c",
            "energy_kwh",
            "battery_state",
        }
    ),
}

COUNTERS = frozenset({"energy_kwh", "energy_export_kwh", "energy_import_kwh", "rainfall_mm"})
