"""What the reports read, on the analytics replica (router purpose ``analytics``, lag bound 5 s, every statement
under the analytics timeout of ``telemetry.postgres.configure_reader``): the dashboards' daily rows per site and
period, downtime episodes, work, alerts, hourly power, and the telemetry export streamed as CSV by ``COPY``.

Energy figures come from the same SQL as ``GET /api/v1/energy`` (``readmodel.dashboard.ENERGY``), so a report
and the API say the same numbers for the same period. Local days are each site's own (``ops.sites.timezone``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import IO, Any

from psycopg import sql
from psycopg.rows import dict_row

from dcmms.readmodel.dashboard import ENERGY, energy_params
from dcmms.readmodel.kpis import SITES
from dcmms.readmodel.router import DatabaseRouter
from dcmms.readmodel.schema import SCHEMA

_PRODUCING_TYPES = "('inverter', 'turbine')"
_ACTIVE = "('draft', 'open', 'in_progress', 'on_hold')"

# Every live site of every tenant, with its time zone: what the daily schedule walks.
_ALL_SITES = (
    f"SELECT tenant_id, id AS site_id, coalesce(timezone, 'UTC') AS timezone FROM {SCHEMA}.sites WHERE NOT deleted"
)

# Per site over [since, until] (local dates): the energy view's figures, grouped by site instead of by period.
_SITE_ENERGY = f"""
WITH priced AS (
    SELECT d.site_id, d.day, d.energy_kwh, d.solar_kwh, d.insolation_kwh_m2, d.expected_hours, d.available_hours,
           d.lost_kwh, st.dc_kwp, st.tariff_per_mwh, st.currency
    FROM {SCHEMA}.site_energy_daily d JOIN ({SITES}) st ON st.tenant_id = d.tenant_id AND st.site_id = d.site_id
    WHERE d.tenant_id = %(tenant)s AND d.day >= %(since)s AND d.day <= %(until)s
      AND (%(site)s::text IS NULL OR d.site_id = %(site)s)
)
SELECT site_id, sum(energy_kwh) AS energy_kwh, sum(insolation_kwh_m2) AS insolation_kwh_m2,
       sum(solar_kwh) FILTER (WHERE insolation_kwh_m2 > 0)
           / nullif(sum(dc_kwp * insolation_kwh_m2) FILTER (WHERE solar_kwh IS NOT NULL), 0) AS performance_ratio,
       sum(coalesce(available_hours, 0)) / nullif(sum(expected_hours), 0) AS availability,
       sum(lost_kwh) AS lost_kwh, sum(lost_kwh / 1000.0 * tariff_per_mwh) AS lost_money, min(currency) AS currency,
       count(DISTINCT day) AS days
FROM priced GROUP BY site_id
"""

# Forced downtime per producing asset inside [since, until): failures (episodes overlapping it) and hours. The
# episodes are grouped first and hash-joined to the assets: joined row by row, the plan turned into a nested loop
# over 50,000 assets once the episodes' statistics arrived (0.1 s -> 8 s in tests/bench/reports.py).
_DOWNTIME_BY_ASSET = f"""
WITH down AS (
    SELECT asset_id, count(*) AS failures,
           sum(extract(epoch FROM least(coalesce(ended_at, %(until)s), %(until)s) - greatest(started_at, %(since)s))
               / 3600) AS downtime_h
    FROM {SCHEMA}.downtime_episodes
    WHERE tenant_id = %(tenant)s AND reason = 'forced' AND started_at < %(until)s
      AND (ended_at IS NULL OR ended_at > %(since)s)
      AND (%(site)s::text IS NULL OR site_id = %(site)s) AND (%(asset)s::text IS NULL OR asset_id = %(asset)s)
    GROUP BY asset_id
)
SELECT a.id AS asset_id, a.site_id, a.name, a.type, coalesce(a.manufacturer, '') AS manufacturer,
       coalesce(a.model, '') AS model, coalesce(d.failures, 0) AS failures, coalesce(d.downtime_h, 0) AS downtime_h
FROM {SCHEMA}.assets a LEFT JOIN down d ON d.asset_id = a.id
WHERE a.tenant_id = %(tenant)s AND NOT a.deleted AND a.type IN {_PRODUCING_TYPES}
  AND (%(site)s::text IS NULL OR a.site_id = %(site)s) AND (%(asset)s::text IS NULL OR a.id = %(asset)s)
"""

_EPISODES = f"""
SELECT e.id, e.asset_id, a.name AS asset_name, e.site_id, e.started_at, e.ended_at, e.reason, e.source,
       extract(epoch FROM least(coalesce(e.ended_at, %(until)s), %(until)s) - greatest(e.started_at, %(since)s))
           / 3600 AS hours
FROM {SCHEMA}.downtime_episodes e JOIN {SCHEMA}.assets a ON a.tenant_id = e.tenant_id AND a.id = e.asset_id
WHERE e.tenant_id = %(tenant)s AND e.started_at < %(until)s AND (e.ended_at IS NULL OR e.ended_at > %(since)s)
  AND (%(site)s::text IS NULL OR e.site_id = %(site)s) AND (%(asset)s::text IS NULL OR e.asset_id = %(asset)s)
ORDER BY e.started_at DESC LIMIT %(limit)s
"""

_ALERTS_IN = f"""
SELECT severity, count(*) FILTER (WHERE raised_at >= %(since)s AND raised_at < %(until)s) AS raised,
       count(*) FILTER (WHERE resolved_at >= %(since)s AND resolved_at < %(until)s) AS resolved
FROM {SCHEMA}.alerts
WHERE tenant_id = %(tenant)s AND NOT deleted AND (%(site)s::text IS NULL OR site_id = %(site)s)
  AND (raised_at >= %(since)s AND raised_at < %(until)s OR resolved_at >= %(since)s AND resolved_at < %(until)s)
GROUP BY severity
"""

_WORK_IN = f"""
SELECT priority, count(*) FILTER (WHERE created_at >= %(since)s AND created_at < %(until)s) AS opened,
       count(*) FILTER (WHERE completed_at >= %(since)s AND completed_at < %(until)s) AS closed
FROM {SCHEMA}.work_orders
WHERE tenant_id = %(tenant)s AND NOT deleted AND (%(site)s::text IS NULL OR site_id = %(site)s)
  AND (created_at >= %(since)s AND created_at < %(until)s OR completed_at >= %(since)s AND completed_at < %(until)s)
GROUP BY priority
"""

# Open work now: one row per work order (the backlog's figures are grouped from them in Python).
_OPEN_WORK = f"""
SELECT w.id, w.site_id, s.name AS site_name, w.asset_id, w.title, w.type, w.priority, w.status, w.assigned_to,
       w.created_at, w.due_at, extract(epoch FROM now() - w.created_at) / 86400 AS age_days,
       w.due_at IS NOT NULL AND w.due_at < now() AS overdue
FROM {SCHEMA}.work_orders w LEFT JOIN {SCHEMA}.sites s ON s.tenant_id = w.tenant_id AND s.id = w.site_id
WHERE w.tenant_id = %(tenant)s AND NOT w.deleted AND w.status IN {_ACTIVE}
  AND (%(site)s::text IS NULL OR w.site_id = %(site)s)
ORDER BY w.created_at
"""

# The site's power per hour of its local day: each producing asset's mean power, summed (kW).
_HOURLY_POWER = f"""
SELECT h.bucket, sum(h.sum / nullif(h.count, 0)) AS power_kw
FROM telemetry_series ts
JOIN {SCHEMA}.assets a ON a.tenant_id = ts.tenant_id AND a.id = ts.asset_id
JOIN telemetry_1h h ON h.series_id = ts.series_id
WHERE ts.tenant_id = %(tenant)s AND a.site_id = %(site)s AND NOT a.deleted AND a.type IN {_PRODUCING_TYPES}
  AND ts.metric = 'ac_power_kw' AND h.bucket >= %(since)s AND h.bucket < %(until)s
GROUP BY h.bucket ORDER BY h.bucket
"""

_ASSET_DAYS = f"""
SELECT d.asset_id, a.name, d.type, sum(d.energy_kwh) AS energy_kwh, sum(d.lost_kwh) AS lost_kwh,
       sum(coalesce(d.available_hours, 0)) / nullif(sum(d.expected_hours), 0) AS availability
FROM {SCHEMA}.asset_energy_daily d JOIN {SCHEMA}.assets a ON a.tenant_id = d.tenant_id AND a.id = d.asset_id
WHERE d.tenant_id = %(tenant)s AND d.site_id = %(site)s AND d.day >= %(since)s AND d.day <= %(until)s
GROUP BY d.asset_id, a.name, d.type
ORDER BY sum(d.lost_kwh) DESC, d.asset_id
"""

# Per site over [since, until] (each site's local dates): preventive work due in the period (by now), done by its
# due day; planned (preventive, inspection) and unplanned (corrective, emergency) work created in it.
_PM = f"""
SELECT w.site_id,
       count(*) FILTER (WHERE w.scheduled AND w.due_day BETWEEN %(since)s AND %(until)s AND w.due_at <= now()) AS pm_due,
       count(*) FILTER (WHERE w.scheduled AND w.due_day BETWEEN %(since)s AND %(until)s AND w.due_at <= now()
                              AND w.done_day <= w.due_day) AS pm_on_time,
       count(*) FILTER (WHERE w.type IN ('preventive', 'inspection') AND w.created_day BETWEEN %(since)s AND %(until)s)
           AS planned,
       count(*) FILTER (WHERE w.type IN ('corrective', 'emergency') AND w.created_day BETWEEN %(since)s AND %(until)s)
           AS unplanned
FROM (
    SELECT wo.site_id, wo.type, wo.due_at, wo.doc->>'pm_schedule_id' IS NOT NULL AS scheduled,
           (wo.due_at AT TIME ZONE st.zone)::date AS due_day, (wo.completed_at AT TIME ZONE st.zone)::date AS done_day,
           (wo.created_at AT TIME ZONE st.zone)::date AS created_day
    FROM {SCHEMA}.work_orders wo JOIN ({SITES}) st ON st.tenant_id = wo.tenant_id AND st.site_id = wo.site_id
    WHERE wo.tenant_id = %(tenant)s AND NOT wo.deleted
      AND (wo.created_at >= %(since)s::date - 1 OR wo.due_at >= %(since)s::date - 1)
) w
GROUP BY w.site_id
"""

_SITE_ASSETS = f"SELECT id FROM {SCHEMA}.assets WHERE tenant_id = %s AND site_id = %s AND NOT deleted ORDER BY id"


class PostgresReportData:
    """The queries of the report generators (``services.reports``)."""

    def __init__(self, router: DatabaseRouter) -> None:
        self._router = router

    def _rows(self, query: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        return self._router.read(
            "analytics", lambda c: c.cursor(row_factory=dict_row).execute(query, params).fetchall()
        )

    def all_sites(self) -> list[dict[str, Any]]:
        """(tenant_id, site_id, timezone) of every live site of every tenant."""
        return self._rows(_ALL_SITES, {})

    def sites(self, tenant_id: str) -> list[dict[str, Any]]:
        """The tenant's sites with the settings the KPIs use (name, kind, capacity, tariff, currency, zone)."""
        return self._rows(f"SELECT * FROM ({SITES}) st WHERE tenant_id = %(tenant)s ORDER BY name, site_id",
                          {"tenant": tenant_id})  # fmt: skip

    def energy(
        self, tenant_id: str, since: date, until: date, interval: str, site_id: str | None
    ) -> list[dict[str, Any]]:
        """``GET /api/v1/energy``'s rows (per period, then the span's total with ``total`` true)."""
        return self._rows(ENERGY, energy_params(tenant_id, since, until, interval, site_id, None))

    def site_energy(self, tenant_id: str, since: date, until: date, site_id: str | None = None) -> list[dict[str, Any]]:
        return self._rows(_SITE_ENERGY, {"tenant": tenant_id, "since": since, "until": until, "site": site_id})

    def pm_compliance(self, tenant_id: str, since: date, until: date) -> list[dict[str, Any]]:
        """Per site: PM due and done on time, planned and unplanned work, over the period (docs/pm.md)."""
        return self._rows(_PM, {"tenant": tenant_id, "since": since, "until": until})

    def asset_days(self, tenant_id: str, site_id: str, since: date, until: date) -> list[dict[str, Any]]:
        return self._rows(_ASSET_DAYS, {"tenant": tenant_id, "site": site_id, "since": since, "until": until})

    def downtime_by_asset(
        self, tenant_id: str, since: datetime, until: datetime, site_id: str | None = None, asset_id: str | None = None
    ) -> list[dict[str, Any]]:
        params = {"tenant": tenant_id, "since": since, "until": until, "site": site_id, "asset": asset_id}
        return self._rows(_DOWNTIME_BY_ASSET, params)

    def episodes(
        self,
        tenant_id: str,
        since: datetime,
        until: datetime,
        site_id: str | None = None,
        asset_id: str | None = None,
        limit: int = 200,
    ) -> list[dict[str, Any]]:
        params = {
            "tenant": tenant_id,
            "since": since,
            "until": until,
            "site": site_id,
            "asset": asset_id,
            "limit": limit,
        }
        return self._rows(_EPISODES, params)

    def alerts_in(self, tenant_id: str, since: datetime, until: datetime, site_id: str | None) -> list[dict[str, Any]]:
        return self._rows(_ALERTS_IN, {"tenant": tenant_id, "since": since, "until": until, "site": site_id})

    def work_in(self, tenant_id: str, since: datetime, until: datetime, site_id: str | None) -> list[dict[str, Any]]:
        return self._rows(_WORK_IN, {"tenant": tenant_id, "since": since, "until": until, "site": site_id})

    def open_work(self, tenant_id: str, site_id: str | None) -> list[dict[str, Any]]:
        return self._rows(_OPEN_WORK, {"tenant": tenant_id, "site": site_id})

    def hourly_power(self, tenant_id: str, site_id: str, since: datetime, until: datetime) -> list[dict[str, Any]]:
        return self._rows(_HOURLY_POWER, {"tenant": tenant_id, "site": site_id, "since": since, "until": until})

    def export_telemetry(
        self,
        tenant_id: str,
        asset_ids: Sequence[str] | None,
        site_id: str | None,
        metrics: Sequence[str],
        counters: frozenset[str],
        since: datetime,
        until: datetime,
        width: str,
        out: IO[bytes],
    ) -> int:
        """Write the readings as CSV to ``out`` and return the data rows written: one row per (bucket, asset),
        ``timestamp_utc,asset_id,<metric>...`` (each metric's name carries its unit), the bucket's mean from the
        1-minute rollups, a counter's last value; a bucket with none of the metrics is absent."""
        columns = [
            sql.SQL("max(r.last) FILTER (WHERE s.metric = {m})").format(m=sql.Literal(m))
            if m in counters
            else sql.SQL("sum(r.sum) FILTER (WHERE s.metric = {m}) / nullif(sum(r.count) FILTER (WHERE s.metric = {m}), 0)").format(m=sql.Literal(m))
            for m in metrics
        ]  # fmt: skip
        scope = (
            sql.SQL("ts.asset_id = ANY({ids})").format(ids=sql.Literal(list(asset_ids)))
            if asset_ids
            else sql.SQL(
                "ts.asset_id IN (SELECT id FROM {schema}.assets WHERE tenant_id = {tenant} AND site_id = {site} AND NOT deleted)"
            ).format(schema=sql.Identifier(SCHEMA), tenant=sql.Literal(tenant_id), site=sql.Literal(site_id))
        )
        query = sql.SQL(
            "COPY (SELECT to_char(date_bin({width}::interval, r.bucket, '2000-01-01 00:00:00+00') AT TIME ZONE 'UTC', "
            "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS timestamp_utc, s.asset_id, {columns} "
            "FROM telemetry_1m r JOIN (SELECT series_id, asset_id, metric FROM telemetry_series ts "
            "WHERE ts.tenant_id = {tenant} AND ts.metric = ANY({metrics}) AND {scope}) s USING (series_id) "
            "WHERE r.bucket >= {since} AND r.bucket < {until} GROUP BY 1, 2 ORDER BY 1, 2) "
            "TO STDOUT WITH (FORMAT csv, HEADER)"
        ).format(
            width=sql.Literal(width),
            columns=sql.SQL(", ").join(sql.SQL("{c} AS {n}").format(c=c, n=sql.Identifier(m)) for c, m in zip(columns, metrics, strict=True)),
            tenant=sql.Literal(tenant_id),
            metrics=sql.Literal(list(metrics)),
            scope=scope,
            since=sql.Literal(since),
            until=sql.Literal(until),
        )  # fmt: skip

        def copy(conn: Any) -> int:
            newlines = 0
            with conn.cursor() as cur, cur.copy(query) as stream:
                for chunk in stream:
                    data = bytes(chunk)
                    newlines += data.count(b"\n")
                    out.write(data)
            return max(0, newlines - 1)  # the header

        return self._router.read("analytics", copy)

    def site_asset_ids(self, tenant_id: str, site_id: str) -> list[str]:
        return [
            r[0]
            for r in self._router.read("analytics", lambda c: c.execute(_SITE_ASSETS, (tenant_id, site_id)).fetchall())
        ]
