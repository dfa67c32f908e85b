"""Meters and conditions of preventive-maintenance schedules, computed from the hourly rollups (``telemetry_1h``)
on the analytics replica: operating hours, energy, start/stop cycles, a counter's increase, any metric's
integral, and a statistic of a metric over a trailing window. One query per schedule, grouped by asset."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from dcmms.domain.pm import ConditionTrigger, MeterKind, MeterTrigger

Reads = Callable[[Callable[[Any], list[Any]]], list[Any]]

_SERIES = """
SELECT s.asset_id, h.bucket, h.sum / nullif(h.count, 0) AS mean, h.min, h.max
FROM telemetry_series s JOIN telemetry_1h h ON h.series_id = s.series_id
WHERE s.tenant_id = %(tenant)s AND s.asset_id = ANY(%(assets)s) AND s.metric = %(metric)s
  AND h.bucket >= %(since)s AND h.bucket < %(until)s
"""
_METERS = {
    MeterKind.operating_hours: "count(*) FILTER (WHERE mean > 0)::float8",
    MeterKind.energy_mwh: "coalesce(sum(mean), 0) / 1000.0",
    MeterKind.integral: "coalesce(sum(mean), 0)",
    MeterKind.counter: "coalesce(max(max) - min(min), 0)",
}
_STARTS = f"""
SELECT asset_id, count(*) FILTER (WHERE mean > 0 AND coalesce(previous, 0) <= 0)::float8
FROM (SELECT asset_id, mean, lag(mean) OVER (PARTITION BY asset_id ORDER BY bucket) AS previous FROM ({_SERIES}) r) t
GROUP BY asset_id
"""
_STATS = {
    "mean": "avg(mean)",
    "min": "min(mean)",
    "max": "max(mean)",
    "p95": "percentile_cont(0.95) WITHIN GROUP (ORDER BY mean)",
}


class PostgresMeters:
    def __init__(self, reads: Reads) -> None:
        self._reads = reads  # runs a query on the analytics replica (readmodel.router)

    def _by_asset(self, query: str, params: dict[str, Any]) -> dict[str, float | None]:
        rows = self._reads(lambda conn: conn.execute(query, params).fetchall())
        return {asset: None if value is None else float(value) for asset, value in rows}

    def readings(
        self, tenant_id: str, asset_ids: Sequence[str], trigger: MeterTrigger, since: datetime, until: datetime
    ) -> dict[str, float]:
        """Each asset's meter over [since, until) (0 for an asset without readings)."""
        metric = trigger.metric or "ac_power_kw"
        params = {"tenant": tenant_id, "assets": list(asset_ids), "metric": metric, "since": since, "until": until}
        if trigger.meter is MeterKind.start_stops:
            found = self._by_asset(_STARTS, params)
        else:
            query = f"SELECT asset_id, {_METERS[trigger.meter]} FROM ({_SERIES}) r GROUP BY asset_id"
            found = self._by_asset(query, params)
        return {a: found.get(a) or 0.0 for a in asset_ids}

    def statistic(
        self, tenant_id: str, asset_ids: Sequence[str], trigger: ConditionTrigger, since: datetime, until: datetime
    ) -> dict[str, float | None]:
        """Each asset's statistic of the metric's hourly means over [since, until) (None without readings)."""
        params = {
            "tenant": tenant_id,
            "assets": list(asset_ids),
            "metric": trigger.metric,
            "since": since,
            "until": until,
        }
        found = self._by_asset(f"SELECT asset_id, {_STATS[trigger.stat]} FROM ({_SERIES}) r GROUP BY asset_id", params)
        return {a: found.get(a) for a in asset_ids}
