"""Dashboard KPIs in the read model: materialized views over the projected entities and the telemetry
rollups, refreshed ``CONCURRENTLY`` by the ``kpi`` function every 5 minutes (spec §6.4).

- ``ops.asset_kpis_today``: per producing asset (solar inverters, turbines) today, in its site's time zone,
  from the hourly rollups: energy, the hours it was expected to produce (solar: site irradiance at or above
  the site's threshold; wind: every hour with a wind reading) and was available, the energy it lost while
  unavailable. The formulas are ``docs/kpis.md``'s (``dcmms.domain.energy`` is their reference; the tests
  recompute these rows from raw readings with it).
- ``ops.outage_losses``: the energy and money lost over each open work order's and recent alert's outage.
- ``ops.asset_energy_daily`` (a table): each producing asset's KPIs per local day, today's kept current by
  every refresh, a finished day recomputed once over the whole day; periods add these up.
- ``ops.dashboard_kpis``: one row per site (``scope`` 'site') and per tenant ('tenant', ``site_id`` '')
  with energy today and month to date, insolation, performance ratio, availability, lost energy and money,
  active alerts by severity, open work by priority and age, overdue work, and ``as_of`` (when the refresh
  ran).

An hour's mean is the rollup's ``sum / count``; the current hour counts for the part of it that has passed.
The telemetry tables (``telemetry_series``, ``telemetry_1h``) must exist before ``migrate`` (the kpi
function creates both schemas, telemetry first). One refresh runs at a time across concurrent invocations
(a transaction-scoped advisory lock; a second invocation finds it held and returns).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Final

import psycopg

from dcmms.readmodel.schema import MIGRATIONS, SCHEMA

REFRESH_LOCK: Final = "SELECT pg_try_advisory_xact_lock(hashtext('dcmms.readmodel.kpi-refresh'))"
_DDL_LOCK: Final = "SELECT pg_advisory_xact_lock(hashtext('dcmms.readmodel.kpi-ddl'))"
ACTIVE_WORK: Final = ("draft", "open", "in_progress", "on_hold")
UNRESOLVED_ALERTS: Final = ("active", "acknowledged")

_POWER_CURVE = f"""
CREATE OR REPLACE FUNCTION {SCHEMA}.power_curve_kw(curve jsonb, wind double precision)
RETURNS double precision LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $body$
    WITH p AS (
        SELECT (e->>0)::float8 AS v, (e->>1)::float8 AS kw FROM jsonb_array_elements(curve->'points') AS e
    )
    SELECT CASE
        WHEN curve IS NULL OR jsonb_typeof(curve->'points') IS DISTINCT FROM 'array' OR wind IS NULL THEN NULL
        WHEN wind < (SELECT min(v) FROM p) OR wind > (curve->>'cut_out_ms')::float8 THEN 0.0
        WHEN wind >= (SELECT max(v) FROM p) THEN (SELECT kw FROM p ORDER BY v DESC LIMIT 1)
        ELSE (
            SELECT lo.kw + (hi.kw - lo.kw) * (wind - lo.v) / (hi.v - lo.v)
            FROM (SELECT * FROM p WHERE v <= wind ORDER BY v DESC LIMIT 1) lo,
                 (SELECT * FROM p WHERE v > wind ORDER BY v LIMIT 1) hi
        )
    END
$body$;
"""

# Per site: its settings and where its local day starts (readmodel.dashboard reads them too).
SITES: Final = f"""
    SELECT tenant_id, id AS site_id, name, kind, capacity_mw, coalesce(capacity_mw, 0) * 1000 AS dc_kwp,
           coalesce((doc->'performance'->>'expected_pr')::float8, 0.8) AS expected_pr,
           coalesce((doc->'performance'->>'irradiance_threshold_wm2')::float8, 50) AS threshold_wm2,
           (doc->'performance'->>'tariff_per_mwh')::float8 AS tariff_per_mwh,
           coalesce(doc->'performance'->>'currency', 'EUR') AS currency,
           date_trunc('day', now() AT TIME ZONE coalesce(timezone, 'UTC')) AT TIME ZONE coalesce(timezone, 'UTC')
               AS day_start,
           coalesce(timezone, 'UTC') AS zone, (now() AT TIME ZONE coalesce(timezone, 'UTC'))::date AS today
    FROM {SCHEMA}.sites WHERE NOT deleted
"""


def _intervals(windows: str) -> str:
    """CTEs ending in ``intervals`` and ``produced``: one row per hour of each *window* — ``windows`` is a query of (key,
    tenant_id, site_id, asset_id, type, rated_kw, power_curve, expected_pr, threshold_wm2, since, until) — over
    the hours from ``since``'s to ``until`` (NULL: now), with the asset's mean power, whether it was expected
    to produce, its expected power, whether it was available and whether an excused downtime episode overlaps
    the hour (docs/kpis.md). A solar inverter's hours are its site's irradiance hours; a turbine's, its own
    wind hours. ``produced`` is each window's energy per hour of its own power readings."""
    return f"""windows AS ({windows}),
poa AS MATERIALIZED (  -- each site's plane-of-array irradiance per hour: the mean over its weather stations
    SELECT a.tenant_id, a.site_id, h.bucket, avg(h.sum / h.count) AS poa_wm2,
           least(1.0, extract(epoch FROM now() - h.bucket) / 3600.0)::float8 AS hours
    FROM (SELECT tenant_id, site_id, min(since) AS since FROM windows WHERE type = 'inverter' GROUP BY 1, 2) ws
    JOIN {SCHEMA}.assets a ON a.tenant_id = ws.tenant_id AND a.site_id = ws.site_id
        AND a.type = 'weather_station' AND NOT a.deleted
    JOIN telemetry_series s ON s.tenant_id = a.tenant_id AND s.asset_id = a.id AND s.metric = 'poa_irradiance_wm2'
    JOIN telemetry_1h h ON h.series_id = s.series_id AND h.bucket >= date_trunc('hour', ws.since)
        AND h.bucket < now() AND h.count > 0
    GROUP BY a.tenant_id, a.site_id, h.bucket
),
solar AS (  -- every inverter in every hour of its site's irradiance: its mean power (NULL: it said nothing)
    SELECT w.key, w.tenant_id, w.site_id, w.asset_id, w.type, p.bucket, p.hours, hp.sum / hp.count AS power_kw,
           p.poa_wm2 >= w.threshold_wm2 AS expected,
           coalesce(w.rated_kw, 0) * p.poa_wm2 / 1000.0 * w.expected_pr AS expected_kw, p.poa_wm2
    FROM windows w
    JOIN poa p ON p.tenant_id = w.tenant_id AND p.site_id = w.site_id AND p.bucket >= date_trunc('hour', w.since)
        AND p.bucket < coalesce(w.until, now())
    LEFT JOIN telemetry_series sp ON sp.tenant_id = w.tenant_id AND sp.asset_id = w.asset_id
        AND sp.metric = 'ac_power_kw'
    LEFT JOIN telemetry_1h hp ON hp.series_id = sp.series_id AND hp.bucket = p.bucket AND hp.count > 0
    WHERE w.type = 'inverter'
),
wind AS (  -- every turbine hour with a wind reading; expected power from the turbine's power curve
    SELECT w.key, w.tenant_id, w.site_id, w.asset_id, w.type, hw.bucket,
           least(1.0, extract(epoch FROM now() - hw.bucket) / 3600.0)::float8 AS hours,
           hp.sum / hp.count AS power_kw, true AS expected,
           {SCHEMA}.power_curve_kw(w.power_curve, hw.sum / hw.count) AS expected_kw, NULL::float8 AS poa_wm2
    FROM windows w
    JOIN telemetry_series sw ON sw.tenant_id = w.tenant_id AND sw.asset_id = w.asset_id
        AND sw.metric = 'wind_speed_ms'
    JOIN telemetry_1h hw ON hw.series_id = sw.series_id AND hw.bucket >= date_trunc('hour', w.since)
        AND hw.bucket < coalesce(w.until, now()) AND hw.count > 0
    LEFT JOIN telemetry_series sp ON sp.tenant_id = w.tenant_id AND sp.asset_id = w.asset_id
        AND sp.metric = 'ac_power_kw'
    LEFT JOIN telemetry_1h hp ON hp.series_id = sp.series_id AND hp.bucket = hw.bucket AND hp.count > 0
    WHERE w.type = 'turbine'
),
intervals AS (  -- excused: an hour overlapped by an episode of reason planned, curtailment, grid or weather
    SELECT u.*, coalesce(power_kw, 0) > 0 OR (type = 'turbine' AND expected_kw = 0) AS available,
           EXISTS (
               SELECT 1 FROM {SCHEMA}.downtime_episodes d
               WHERE d.tenant_id = u.tenant_id AND d.asset_id = u.asset_id AND d.reason <> 'forced'
                 AND d.started_at < u.bucket + interval '1 hour' AND coalesce(d.ended_at, now()) > u.bucket
           ) AS excused
    FROM (SELECT * FROM solar UNION ALL SELECT * FROM wind) u
),
produced AS (  -- each window's energy from its own power readings, whatever irradiance or wind data there is
    SELECT w.key, w.tenant_id, w.site_id, w.asset_id, w.type,
           hp.sum / hp.count * least(1.0, extract(epoch FROM now() - hp.bucket) / 3600.0) AS produced_kwh
    FROM windows w
    JOIN telemetry_series sp ON sp.tenant_id = w.tenant_id AND sp.asset_id = w.asset_id
        AND sp.metric = 'ac_power_kw'
    JOIN telemetry_1h hp ON hp.series_id = sp.series_id AND hp.bucket >= date_trunc('hour', w.since)
        AND hp.bucket < coalesce(w.until, now()) AND hp.count > 0
)"""


# The hours of the windows, and beside them (as rows of their own, grouped with them rather than joined: the
# planner's row estimates for CTE scans are guesses) the energy each window produced.
_FACTS = """(
    SELECT key, tenant_id, site_id, asset_id, type, hours, expected, excused, available, expected_kw, power_kw,
           poa_wm2, NULL::float8 AS produced_kwh
    FROM intervals
    UNION ALL
    SELECT key, tenant_id, site_id, asset_id, type, NULL, NULL, NULL, NULL, NULL, NULL, NULL, produced_kwh
    FROM produced
) facts"""


# The producing assets with their site's settings: what both views' windows are made of.
_PRODUCING = f"""
    SELECT a.tenant_id, a.site_id, a.id AS asset_id, a.type, a.rated_kw, a.doc->'power_curve' AS power_curve,
           st.expected_pr, st.threshold_wm2, st.day_start, st.tariff_per_mwh, st.currency, st.zone, st.today
    FROM {SCHEMA}.assets a JOIN sites st ON st.tenant_id = a.tenant_id AND st.site_id = a.site_id
    WHERE NOT a.deleted AND a.type IN ('inverter', 'turbine')
"""
_WINDOW_SETTINGS = (
    "tenant_id",
    "site_id",
    "asset_id",
    "type",
    "rated_kw",
    "power_curve",
    "expected_pr",
    "threshold_wm2",
)


def _settings(alias: str = "") -> str:
    """A window's asset and site settings (``_intervals``), from ``producing`` under ``alias``."""
    return ", ".join(f"{alias}.{c}" if alias else c for c in _WINDOW_SETTINGS)


_LOSS = "greatest(0, expected_kw - coalesce(power_kw, 0)) * hours"
_LOST = f"coalesce(sum({_LOSS}) FILTER (WHERE expected AND NOT excused AND NOT available), 0)"
# An asset's figures over a span of its facts (grouped by asset, or by asset and day), in _DAY_COLUMNS' order.
_DAY_FIGURES = f"""coalesce(sum(produced_kwh), 0) AS energy_kwh,
       sum(poa_wm2 * hours) / 1000.0 AS insolation_kwh_m2,
       sum(hours) FILTER (WHERE expected AND NOT excused) AS expected_hours,
       sum(hours) FILTER (WHERE expected AND NOT excused AND available) AS available_hours,
       coalesce(sum(hours) FILTER (WHERE expected AND excused), 0) AS excused_hours,
       {_LOST} AS lost_kwh"""

ASSET_KPIS: Final = f"""
CREATE MATERIALIZED VIEW IF NOT EXISTS {SCHEMA}.asset_kpis_today AS
WITH sites AS ({SITES}),
producing AS ({_PRODUCING}),
{_intervals(f"SELECT asset_id AS key, {_settings()}, day_start AS since, NULL::timestamptz AS until FROM producing")}
SELECT tenant_id, site_id, asset_id, type,
       {_DAY_FIGURES},
       now() AS as_of
FROM {_FACTS}
GROUP BY tenant_id, site_id, asset_id, type
WITH NO DATA;
CREATE UNIQUE INDEX IF NOT EXISTS asset_kpis_today_key ON {SCHEMA}.asset_kpis_today (tenant_id, asset_id);
CREATE INDEX IF NOT EXISTS asset_kpis_today_by_site ON {SCHEMA}.asset_kpis_today (tenant_id, site_id, lost_kwh DESC);
"""

LOSS_WINDOW_DAYS: Final = 7
# The energy lost over each outage on a producing asset, so work ranks by MWh and money: an open work order's
# outage runs from its source alert's raise (else its creation) to now; an alert episode's from its raise to
# its resolution (or now). Whole hours overlapping the outage count, over at most the last LOSS_WINDOW_DAYS.
OUTAGE_LOSSES: Final = f"""
CREATE MATERIALIZED VIEW IF NOT EXISTS {SCHEMA}.outage_losses AS
WITH sites AS ({SITES}),
producing AS ({_PRODUCING}),
outages AS (
    SELECT 'work_order'::text AS kind, w.tenant_id, w.id, w.asset_id, w.title, w.priority AS level, w.status,
           greatest(coalesce(al.raised_at, w.created_at, now()), now() - interval '{LOSS_WINDOW_DAYS} days') AS since,
           NULL::timestamptz AS until
    FROM {SCHEMA}.work_orders w
    LEFT JOIN {SCHEMA}.alerts al ON al.tenant_id = w.tenant_id AND al.id = w.source_alert_id AND NOT al.deleted
    WHERE NOT w.deleted AND w.status IN {ACTIVE_WORK!r} AND w.asset_id IS NOT NULL
    UNION ALL
    SELECT 'alert', a.tenant_id, a.id, a.asset_id, a.message, a.severity, a.status,
           greatest(coalesce(a.raised_at, a.created_at, now()), now() - interval '{LOSS_WINDOW_DAYS} days'),
           a.resolved_at
    FROM {SCHEMA}.alerts a
    WHERE NOT a.deleted AND a.asset_id IS NOT NULL
      AND coalesce(a.resolved_at, now()) > now() - interval '{LOSS_WINDOW_DAYS} days'
),
{
    _intervals(
        f"SELECT o.kind || ':' || o.id AS key, {_settings('p')}, o.since, o.until, o.kind, o.id, o.title, o.level, o.status, p.tariff_per_mwh, p.currency "
        "FROM outages o JOIN producing p ON p.tenant_id = o.tenant_id AND p.asset_id = o.asset_id"
    )
}
-- each window once with what it says of its outage, each of its hours with what it lost: grouped by window
-- (a join of the windows to their grouped hours would be planned as a nested loop: the row estimates of
-- CTE scans are guesses)
SELECT tenant_id, max(kind) AS kind, max(id) AS id, max(site_id) AS site_id, max(asset_id) AS asset_id,
       max(title) AS title, max(level) AS level, max(status) AS status, max(since) AS since, max(until) AS until,
       sum(lost_kwh) AS lost_kwh, sum(lost_kwh) / 1000.0 * max(tariff_per_mwh) AS lost_money,
       max(currency) AS currency, now() AS as_of
FROM (
    SELECT tenant_id, key, kind, id, site_id, asset_id, title, level, status, since, until, tariff_per_mwh, currency,
           0.0::float8 AS lost_kwh
    FROM windows
    UNION ALL
    SELECT tenant_id, key, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
           CASE WHEN expected AND NOT excused AND NOT available THEN {_LOSS} ELSE 0.0 END
    FROM intervals
) u
GROUP BY tenant_id, key
WITH NO DATA;
CREATE UNIQUE INDEX IF NOT EXISTS outage_losses_key ON {SCHEMA}.outage_losses (tenant_id, kind, id);
CREATE INDEX IF NOT EXISTS outage_losses_by_site ON {SCHEMA}.outage_losses (tenant_id, site_id, kind, lost_kwh DESC);
"""

# Each producing asset's KPIs per local day of its site, kept by the refresh: today's row is copied from
# asset_kpis_today at every refresh (final = false); the first refresh after a site's midnight recomputes its
# unfinished days over the whole day from the rollups (late readings included) and marks them final. Periods
# (month to date, GET /api/v1/energy) add these rows up instead of walking hourly rollups.
_DAY_COLUMNS = (
    "energy_kwh, insolation_kwh_m2, expected_hours, available_hours, excused_hours, lost_kwh, final, computed_at"
)
ENERGY_DAILY: Final = f"""
CREATE TABLE IF NOT EXISTS {SCHEMA}.asset_energy_daily (
    tenant_id text NOT NULL,
    asset_id text NOT NULL,
    day date NOT NULL,
    site_id text NOT NULL,
    type text NOT NULL,
    energy_kwh double precision NOT NULL,
    insolation_kwh_m2 double precision,
    expected_hours double precision,
    available_hours double precision,
    excused_hours double precision NOT NULL,
    lost_kwh double precision NOT NULL,
    final boolean NOT NULL,
    computed_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, asset_id, day)
);
CREATE INDEX IF NOT EXISTS asset_energy_daily_by_site ON {SCHEMA}.asset_energy_daily (tenant_id, site_id, day);
CREATE INDEX IF NOT EXISTS asset_energy_daily_open ON {SCHEMA}.asset_energy_daily (tenant_id, site_id, day)
    WHERE NOT final;
CREATE INDEX IF NOT EXISTS asset_energy_daily_this_refresh ON {SCHEMA}.asset_energy_daily (computed_at);
-- the same per site and day (a site's insolation is its weather stations', the same on each inverter's row),
-- so that fleet and site periods add up one row per site-day
CREATE TABLE IF NOT EXISTS {SCHEMA}.site_energy_daily (
    tenant_id text NOT NULL,
    site_id text NOT NULL,
    day date NOT NULL,
    energy_kwh double precision NOT NULL,
    solar_kwh double precision,
    insolation_kwh_m2 double precision,
    expected_hours double precision,
    available_hours double precision,
    lost_kwh double precision NOT NULL,
    PRIMARY KEY (tenant_id, site_id, day)
);
CREATE INDEX IF NOT EXISTS site_energy_daily_by_day ON {SCHEMA}.site_energy_daily (tenant_id, day);
"""
_UPSERT_DAY = f"""
ON CONFLICT (tenant_id, asset_id, day) DO UPDATE SET
    {", ".join(f"{c} = excluded.{c}" for c in _DAY_COLUMNS.split(", "))}
WHERE NOT d.final
"""
_TODAY = f"""
INSERT INTO {SCHEMA}.asset_energy_daily AS d (tenant_id, asset_id, day, site_id, type, {_DAY_COLUMNS})
SELECT k.tenant_id, k.asset_id, st.today, k.site_id, k.type,
       k.energy_kwh, k.insolation_kwh_m2, k.expected_hours, k.available_hours, k.excused_hours, k.lost_kwh, false, now()
FROM {SCHEMA}.asset_kpis_today k JOIN ({SITES}) st ON st.tenant_id = k.tenant_id AND st.site_id = k.site_id
{_UPSERT_DAY}
"""
_FINISH_DAYS = f"""
WITH sites AS ({SITES}),
producing AS ({_PRODUCING}),
pending AS (
    SELECT DISTINCT d.tenant_id, d.site_id, d.day FROM {SCHEMA}.asset_energy_daily d
    JOIN sites st ON st.tenant_id = d.tenant_id AND st.site_id = d.site_id
    WHERE NOT d.final AND d.day < st.today
),
{
    _intervals(
        f"SELECT d.day::text || p.asset_id AS key, {_settings('p')}, d.day::timestamp AT TIME ZONE p.zone AS since, (d.day + 1)::timestamp AT TIME ZONE p.zone AS until "
        "FROM pending d JOIN producing p ON p.tenant_id = d.tenant_id AND p.site_id = d.site_id"
    )
}
INSERT INTO {SCHEMA}.asset_energy_daily AS d (tenant_id, asset_id, day, site_id, type, {_DAY_COLUMNS})
SELECT tenant_id, asset_id, left(key, 10)::date, site_id, type, {_DAY_FIGURES}, true, now()
FROM {_FACTS} GROUP BY tenant_id, asset_id, left(key, 10), site_id, type
{_UPSERT_DAY};
UPDATE {SCHEMA}.asset_energy_daily d SET final = true
FROM ({SITES}) st
WHERE NOT d.final AND st.tenant_id = d.tenant_id AND st.site_id = d.site_id AND d.day < st.today
"""
# The site-days this refresh wrote asset rows of (now() is the transaction's: their computed_at), added up again.
_SITE_DAYS = f"""
INSERT INTO {SCHEMA}.site_energy_daily AS s (tenant_id, site_id, day, energy_kwh, solar_kwh, insolation_kwh_m2,
                                             expected_hours, available_hours, lost_kwh)
SELECT d.tenant_id, d.site_id, d.day, sum(d.energy_kwh), sum(d.energy_kwh) FILTER (WHERE d.type = 'inverter'),
       max(d.insolation_kwh_m2), sum(d.expected_hours), sum(d.available_hours), sum(d.lost_kwh)
FROM {SCHEMA}.asset_energy_daily d
JOIN (SELECT DISTINCT tenant_id, site_id, day FROM {SCHEMA}.asset_energy_daily WHERE computed_at = now()) t
    ON t.tenant_id = d.tenant_id AND t.site_id = d.site_id AND t.day = d.day
GROUP BY d.tenant_id, d.site_id, d.day
ON CONFLICT (tenant_id, site_id, day) DO UPDATE SET
    energy_kwh = excluded.energy_kwh, solar_kwh = excluded.solar_kwh, insolation_kwh_m2 = excluded.insolation_kwh_m2,
    expected_hours = excluded.expected_hours, available_hours = excluded.available_hours, lost_kwh = excluded.lost_kwh
"""

_AGE_BUCKETS = """jsonb_build_object(
        'under_1d', count(*) FILTER (WHERE age < interval '1 day'),
        '1d_to_7d', count(*) FILTER (WHERE age >= interval '1 day' AND age < interval '7 days'),
        '7d_to_30d', count(*) FILTER (WHERE age >= interval '7 days' AND age < interval '30 days'),
        'over_30d', count(*) FILTER (WHERE age >= interval '30 days'))"""
_NO_AGES = '{"under_1d": 0, "1d_to_7d": 0, "7d_to_30d": 0, "over_30d": 0}'
_BY = "coalesce(jsonb_object_agg({key}, n) FILTER (WHERE {key} IS NOT NULL), '{{}}'::jsonb)"

# The per_site columns a period's figures come from: (solar energy, insolation, expected hours, available
# hours, lost energy), today's and the month's.
_TODAY_FIGURES = ("solar_kwh", "insolation_kwh_m2", "expected_hours", "available_hours", "lost_energy_kwh")
_MTD_FIGURES = (
    "solar_mtd_kwh",
    "insolation_mtd_kwh_m2",
    "expected_mtd_hours",
    "available_mtd_hours",
    "lost_energy_mtd_kwh",
)


def _site_figures(columns: tuple[str, ...], suffix: str) -> str:
    """A site's PR, availability, lost energy and money (docs/kpis.md), named with ``suffix``."""
    solar, insolation, expected, available, lost = columns
    return f"""CASE WHEN dc_kwp > 0 AND {insolation} > 0 THEN {solar} / dc_kwp / {insolation} END
               AS performance_ratio{suffix},
           CASE WHEN {expected} > 0 THEN coalesce({available}, 0) / {expected} END AS availability{suffix},
           {lost}, {lost} / 1000.0 * tariff_per_mwh AS lost_money{suffix}"""


def _fleet_figures(columns: tuple[str, ...]) -> str:
    """The same over a tenant's sites: PR Σ E_solar / Σ (P_0 · H), weighted by capacity and sunshine;
    availability Σ available / Σ expected hours; money only where the sites share one currency."""
    solar, insolation, expected, available, lost = columns
    return f"""CASE WHEN sum(dc_kwp * {insolation}) FILTER (WHERE {solar} IS NOT NULL) > 0
               THEN sum({solar}) FILTER (WHERE {insolation} > 0)
                    / sum(dc_kwp * {insolation}) FILTER (WHERE {solar} IS NOT NULL) END,
           CASE WHEN sum({expected}) > 0 THEN sum(coalesce({available}, 0)) / sum({expected}) END,
           sum({lost}),
           CASE WHEN count(DISTINCT currency) = 1 THEN sum({lost} / 1000.0 * tariff_per_mwh) END"""


DASHBOARD_KPIS: Final = f"""
CREATE MATERIALIZED VIEW IF NOT EXISTS {SCHEMA}.dashboard_kpis AS
WITH sites AS ({SITES}),
energy AS (
    SELECT tenant_id, site_id,
           sum(energy_kwh) AS energy_kwh,
           sum(energy_kwh) FILTER (WHERE type = 'inverter') AS solar_kwh,
           max(insolation_kwh_m2) AS insolation_kwh_m2,
           sum(expected_hours) AS expected_hours,
           sum(available_hours) AS available_hours,
           sum(lost_kwh) AS lost_kwh
    FROM {SCHEMA}.asset_kpis_today GROUP BY tenant_id, site_id
),
site_days AS (  -- this month's days at each site (its local month), today's as of this refresh
    SELECT d.* FROM {SCHEMA}.site_energy_daily d
    JOIN sites st ON st.tenant_id = d.tenant_id AND st.site_id = d.site_id
    WHERE d.day >= date_trunc('month', st.today)::date AND d.day <= st.today
),
month AS (
    SELECT tenant_id, site_id, sum(energy_kwh) AS energy_kwh, sum(solar_kwh) AS solar_kwh,
           sum(insolation_kwh_m2) FILTER (WHERE solar_kwh IS NOT NULL) AS insolation_kwh_m2,
           sum(expected_hours) AS expected_hours, sum(available_hours) AS available_hours, sum(lost_kwh) AS lost_kwh
    FROM site_days GROUP BY tenant_id, site_id
),
work AS (
    SELECT tenant_id, site_id, priority, now() - coalesce(created_at, now()) AS age,
           due_at IS NOT NULL AND due_at < now() AS overdue
    FROM {SCHEMA}.work_orders WHERE NOT deleted AND status IN {ACTIVE_WORK!r}
),
work_by_priority AS (
    SELECT tenant_id, site_id, {_BY.format(key="priority")} AS by_priority
    FROM (SELECT tenant_id, site_id, priority, count(*) AS n FROM work GROUP BY 1, 2, 3) c GROUP BY 1, 2
),
work_totals AS (
    SELECT tenant_id, site_id, count(*) AS open_work_orders, count(*) FILTER (WHERE overdue) AS overdue,
           {_AGE_BUCKETS} AS by_age
    FROM work GROUP BY 1, 2
),
alerts AS (
    SELECT tenant_id, site_id, severity, count(*) AS n
    FROM {SCHEMA}.alerts WHERE NOT deleted AND status IN {UNRESOLVED_ALERTS!r} GROUP BY 1, 2, 3
),
alert_totals AS (
    SELECT tenant_id, site_id, sum(n)::bigint AS active_alerts, {_BY.format(key="severity")} AS by_severity
    FROM alerts GROUP BY 1, 2
),
failures AS (  -- forced downtime of the last 30 days (clipped to them), per site
    SELECT tenant_id, site_id, count(*) AS failures,
           sum(extract(epoch FROM least(coalesce(ended_at, now()), now())
                                  - greatest(started_at, now() - interval '30 days')) / 3600.0)::float8 AS downtime_h
    FROM {SCHEMA}.downtime_episodes
    WHERE reason = 'forced' AND coalesce(ended_at, now()) > now() - interval '30 days' AND started_at < now()
    GROUP BY tenant_id, site_id
),
pm AS (  -- this local month at each site: preventive work due so far, done by its due day, overdue now; and
          -- the planned (preventive, inspection) and unplanned (corrective, emergency) work created (docs/pm.md)
    SELECT w.tenant_id, w.site_id,
           count(*) FILTER (WHERE w.scheduled AND w.due_at <= now() AND w.due_day >= w.month_start) AS pm_due,
           count(*) FILTER (WHERE w.scheduled AND w.due_at <= now() AND w.due_day >= w.month_start
                                  AND w.done_day <= w.due_day) AS pm_on_time,
           count(*) FILTER (WHERE w.scheduled AND w.status IN {ACTIVE_WORK!r} AND w.due_at < now()) AS pm_overdue,
           count(*) FILTER (WHERE w.type IN ('preventive', 'inspection') AND w.created_day >= w.month_start) AS planned,
           count(*) FILTER (WHERE w.type IN ('corrective', 'emergency') AND w.created_day >= w.month_start) AS unplanned
    FROM (
        SELECT wo.tenant_id, wo.site_id, wo.status, wo.type, wo.due_at,
               wo.doc->>'pm_schedule_id' IS NOT NULL AS scheduled,
               (wo.due_at AT TIME ZONE st.zone)::date AS due_day,
               (wo.completed_at AT TIME ZONE st.zone)::date AS done_day,
               (wo.created_at AT TIME ZONE st.zone)::date AS created_day,
               date_trunc('month', st.today)::date AS month_start
        FROM {SCHEMA}.work_orders wo JOIN sites st ON st.tenant_id = wo.tenant_id AND st.site_id = wo.site_id
        WHERE NOT wo.deleted AND (wo.status IN {ACTIVE_WORK!r} OR wo.created_at > now() - interval '32 days'
                                  OR wo.due_at > now() - interval '32 days')
    ) w
    GROUP BY w.tenant_id, w.site_id
),
fleet_size AS (
    SELECT tenant_id, site_id, count(*) AS producing_assets
    FROM {SCHEMA}.assets WHERE NOT deleted AND type IN ('inverter', 'turbine') GROUP BY tenant_id, site_id
),
per_site AS (
    SELECT st.tenant_id, 'site'::text AS scope, st.site_id, st.name, st.kind, st.capacity_mw, st.dc_kwp,
           st.currency, st.tariff_per_mwh,
           coalesce(e.energy_kwh, 0) AS energy_today_kwh, e.solar_kwh, e.insolation_kwh_m2,
           e.expected_hours, e.available_hours, coalesce(e.lost_kwh, 0) AS lost_energy_kwh,
           coalesce(a.active_alerts, 0) AS active_alerts, coalesce(a.by_severity, '{{}}'::jsonb) AS alerts_by_severity,
           coalesce(w.open_work_orders, 0) AS open_work_orders, coalesce(w.overdue, 0) AS overdue_work_orders,
           coalesce(p.by_priority, '{{}}'::jsonb) AS open_by_priority,
           coalesce(w.by_age, '{_NO_AGES}'::jsonb) AS open_by_age,
           coalesce(f.failures, 0) AS failures_30d, coalesce(f.downtime_h, 0) AS downtime_30d_h,
           coalesce(n.producing_assets, 0) AS producing_assets,
           coalesce(m.energy_kwh, 0) AS energy_mtd_kwh, m.solar_kwh AS solar_mtd_kwh,
           m.insolation_kwh_m2 AS insolation_mtd_kwh_m2, m.expected_hours AS expected_mtd_hours,
           m.available_hours AS available_mtd_hours, coalesce(m.lost_kwh, 0) AS lost_energy_mtd_kwh,
           coalesce(pm.pm_due, 0) AS pm_due, coalesce(pm.pm_on_time, 0) AS pm_on_time,
           coalesce(pm.pm_overdue, 0) AS pm_overdue, coalesce(pm.planned, 0) AS planned,
           coalesce(pm.unplanned, 0) AS unplanned
    FROM sites st
    LEFT JOIN energy e USING (tenant_id, site_id)
    LEFT JOIN alert_totals a USING (tenant_id, site_id)
    LEFT JOIN work_totals w USING (tenant_id, site_id)
    LEFT JOIN work_by_priority p USING (tenant_id, site_id)
    LEFT JOIN failures f USING (tenant_id, site_id)
    LEFT JOIN fleet_size n USING (tenant_id, site_id)
    LEFT JOIN month m USING (tenant_id, site_id)
    LEFT JOIN pm USING (tenant_id, site_id)
),
rows AS (
    SELECT tenant_id, scope, site_id, name, kind, capacity_mw, currency,
           energy_today_kwh, insolation_kwh_m2,
           {_site_figures(_TODAY_FIGURES, "")},
           active_alerts, alerts_by_severity, open_work_orders, overdue_work_orders, open_by_priority, open_by_age,
           failures_30d, CASE WHEN failures_30d > 0 THEN downtime_30d_h / failures_30d END AS mttr_30d_h,
           CASE WHEN failures_30d > 0 THEN greatest(0, producing_assets * 720.0 - downtime_30d_h) / failures_30d END
               AS mtbf_30d_h,
           energy_mtd_kwh,
           {_site_figures(_MTD_FIGURES, "_mtd")},
           1 AS sites,
           pm_due AS pm_due_mtd, pm_on_time AS pm_on_time_mtd,
           CASE WHEN pm_due > 0 THEN pm_on_time::float8 / pm_due END AS pm_compliance_mtd, pm_overdue,
           CASE WHEN planned + unplanned > 0 THEN planned::float8 / (planned + unplanned) END AS planned_ratio_mtd
    FROM per_site
    UNION ALL
    SELECT tenant_id, 'tenant', '', NULL, NULL, sum(capacity_mw),
           CASE WHEN count(DISTINCT currency) = 1 THEN min(currency) END,
           sum(energy_today_kwh), NULL,
           {_fleet_figures(_TODAY_FIGURES)},
           sum(active_alerts), '{{}}'::jsonb, sum(open_work_orders), sum(overdue_work_orders), '{{}}'::jsonb,
           '{{}}'::jsonb, sum(failures_30d),
           CASE WHEN sum(failures_30d) > 0 THEN sum(downtime_30d_h) / sum(failures_30d) END,
           CASE WHEN sum(failures_30d) > 0
               THEN greatest(0, sum(producing_assets) * 720.0 - sum(downtime_30d_h)) / sum(failures_30d) END,
           sum(energy_mtd_kwh),
           {_fleet_figures(_MTD_FIGURES)},
           count(*),
           sum(pm_due), sum(pm_on_time),
           CASE WHEN sum(pm_due) > 0 THEN sum(pm_on_time)::float8 / sum(pm_due) END, sum(pm_overdue),
           CASE WHEN sum(planned + unplanned) > 0 THEN sum(planned)::float8 / sum(planned + unplanned) END
    FROM per_site GROUP BY tenant_id
)
SELECT *, now() AS as_of FROM rows
WITH NO DATA;
CREATE UNIQUE INDEX IF NOT EXISTS dashboard_kpis_key ON {SCHEMA}.dashboard_kpis (tenant_id, scope, site_id);
"""
DDL: Final = _POWER_CURVE + ENERGY_DAILY + ASSET_KPIS + OUTAGE_LOSSES + DASHBOARD_KPIS
DIGEST: Final = hashlib.sha256(DDL.encode()).hexdigest()[:16]
_VIEWS: Final = ("asset_kpis_today", "outage_losses", "dashboard_kpis")
# A refresh, in order: the views by name, the daily rows' statements between them (today's are copied from
# asset_kpis_today, and dashboard_kpis reads the days).
_REFRESH_STEPS: Final = ("asset_kpis_today", "outage_losses", _TODAY, _FINISH_DAYS, _SITE_DAYS, "dashboard_kpis")


def migrate(conn: psycopg.Connection) -> None:
    """Create the views (idempotent; the telemetry schema and the read model's tables must exist). A change
    of their definition (a new digest) drops and recreates them."""
    conn.execute(_DDL_LOCK)
    conn.execute(MIGRATIONS)
    if conn.execute(f"SELECT 1 FROM {SCHEMA}.schema_migrations WHERE digest = %s", (f"kpi-{DIGEST}",)).fetchone():
        return
    conn.execute(f"DROP MATERIALIZED VIEW IF EXISTS {', '.join(f'{SCHEMA}.{v}' for v in reversed(_VIEWS))}")
    conn.execute(DDL)
    conn.execute(f"INSERT INTO {SCHEMA}.schema_migrations (digest) VALUES (%s)", (f"kpi-{DIGEST}",))


@dataclass(frozen=True)
class Refresh:
    refreshed: bool  # False: another invocation held the refresh
    seconds: float
    as_of: datetime | None


def refresh(conn: psycopg.Connection) -> Refresh:
    """Refresh the views, concurrently (readers keep the previous rows until it commits), and the daily rows
    (today's, and any finished day's last pass), unless another refresh is running; one transaction."""
    started = time.perf_counter()
    row = conn.execute(REFRESH_LOCK).fetchone()
    if not (row and row[0]):
        return Refresh(False, time.perf_counter() - started, None)
    for step in _REFRESH_STEPS:
        if step in _VIEWS:
            populated = conn.execute(
                "SELECT ispopulated FROM pg_matviews WHERE schemaname = %s AND matviewname = %s", (SCHEMA, step)
            ).fetchone()
            concurrently = "CONCURRENTLY " if populated and populated[0] else ""  # the first refresh cannot be
            conn.execute(f"REFRESH MATERIALIZED VIEW {concurrently}{SCHEMA}.{step}")
        else:
            conn.execute(step)
    as_of = conn.execute(f"SELECT max(as_of) FROM {SCHEMA}.dashboard_kpis").fetchone()
    return Refresh(True, time.perf_counter() - started, as_of[0] if as_of else None)
