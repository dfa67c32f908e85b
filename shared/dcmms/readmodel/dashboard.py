"""Reading the materialized dashboard KPIs (``readmodel.kpis``) on a read replica (router purpose
``dashboard``, lag bound 1 s): the tenant's fleet, one site, a site's assets ranked by lost energy."""

from __future__ import annotations

from typing import Any, NamedTuple

import psycopg
from psycopg.rows import dict_row

from dcmms.readmodel.kpis import SITES
from dcmms.readmodel.router import DatabaseRouter
from dcmms.readmodel.schema import SCHEMA

KPI_COLUMNS = (
    "site_id",
    "name",
    "kind",
    "capacity_mw",
    "currency",
    "energy_today_kwh",
    "insolation_kwh_m2",
    "performance_ratio",
    "availability",
    "lost_energy_kwh",
    "lost_money",
    "active_alerts",
    "alerts_by_severity",
    "open_work_orders",
    "overdue_work_orders",
    "open_by_priority",
    "open_by_age",
    "failures_30d",
    "mttr_30d_h",
    "mtbf_30d_h",
    "energy_mtd_kwh",
    "performance_ratio_mtd",
    "availability_mtd",
    "lost_energy_mtd_kwh",
    "lost_money_mtd",
    "sites",
    "pm_due_mtd",
    "pm_on_time_mtd",
    "pm_compliance_mtd",
    "pm_overdue",
    "planned_ratio_mtd",
    "as_of",
)


class SiteRows(NamedTuple):
    kpis: dict[str, Any] | None
    assets: list[dict[str, Any]]
    losses: list[dict[str, Any]]


_SELECT = f"SELECT {', '.join(KPI_COLUMNS)} FROM {SCHEMA}.dashboard_kpis"
_ASSETS = f"""
SELECT k.asset_id, a.name, k.type, k.energy_kwh, k.lost_kwh, k.expected_hours, k.available_hours
FROM {SCHEMA}.asset_kpis_today k
JOIN {SCHEMA}.assets a ON a.tenant_id = k.tenant_id AND a.id = k.asset_id AND NOT a.deleted
WHERE k.tenant_id = %s AND k.site_id = %s
ORDER BY k.lost_kwh DESC, k.energy_kwh, k.asset_id
LIMIT %s
"""

_LOSS_COLUMNS = "kind, id, site_id, asset_id, title, level, status, since, until, lost_kwh, lost_money, currency, as_of"
_LOSSES = f"""
SELECT {_LOSS_COLUMNS} FROM {SCHEMA}.outage_losses
WHERE tenant_id = %s AND site_id = %s AND kind = 'work_order' AND lost_kwh > 0
ORDER BY lost_kwh DESC, id
LIMIT %s
"""
_LOSS = f"SELECT {_LOSS_COLUMNS} FROM {SCHEMA}.outage_losses WHERE tenant_id = %s AND kind = %s AND id = %s"
_AS_OF = f"SELECT max(as_of) AS as_of FROM {SCHEMA}.dashboard_kpis WHERE tenant_id = %s"


# Energy per day or month (and over the whole span) from the daily rows (a site's, or the one asset's), per
# period; PR over a site's DC capacity, or the asset's rating when the scope is an asset (docs/kpis.md).
ENERGY = f"""
WITH site_days AS (
    SELECT site_id, day, energy_kwh, solar_kwh, insolation_kwh_m2, expected_hours, available_hours, lost_kwh
    FROM {SCHEMA}.site_energy_daily
    WHERE %(asset)s::text IS NULL AND tenant_id = %(tenant)s AND day >= %(since)s AND day <= %(until)s
      AND (%(site)s::text IS NULL OR site_id = %(site)s)
    UNION ALL
    SELECT site_id, day, energy_kwh, CASE WHEN type = 'inverter' THEN energy_kwh END, insolation_kwh_m2,
           expected_hours, available_hours, lost_kwh
    FROM {SCHEMA}.asset_energy_daily
    WHERE %(asset)s::text IS NOT NULL AND tenant_id = %(tenant)s AND asset_id = %(asset)s
      AND day >= %(since)s AND day <= %(until)s
),
priced AS (  -- with the site's settings as the KPI views read them
    SELECT sd.*, to_char(sd.day, %(format)s) AS period,
           CASE WHEN %(asset)s::text IS NULL THEN st.dc_kwp
                ELSE (SELECT coalesce(rated_kw, 0) FROM {SCHEMA}.assets WHERE tenant_id = %(tenant)s AND id = %(asset)s)
           END AS dc_kwp,
           st.tariff_per_mwh, st.currency
    FROM site_days sd JOIN ({SITES}) st ON st.tenant_id = %(tenant)s AND st.site_id = sd.site_id
)
SELECT grouping(period) = 1 AS total, period, sum(energy_kwh) AS energy_kwh,
       CASE WHEN count(DISTINCT site_id) = 1 THEN sum(insolation_kwh_m2) END AS insolation_kwh_m2,
       sum(solar_kwh) FILTER (WHERE insolation_kwh_m2 > 0)
           / nullif(sum(dc_kwp * insolation_kwh_m2) FILTER (WHERE solar_kwh IS NOT NULL), 0) AS performance_ratio,
       sum(coalesce(available_hours, 0)) / nullif(sum(expected_hours), 0) AS availability,
       sum(lost_kwh) AS lost_kwh,
       CASE WHEN count(DISTINCT currency) = 1 THEN sum(lost_kwh / 1000.0 * tariff_per_mwh) END AS lost_money,
       CASE WHEN count(DISTINCT currency) = 1 THEN min(currency) END AS currency,
       count(DISTINCT site_id) AS sites, count(DISTINCT day) AS days
FROM priced GROUP BY GROUPING SETS ((period), ()) ORDER BY total, period
"""
PERIOD_FORMATS = {"day": "YYYY-MM-DD", "month": "YYYY-MM"}


def energy_params(
    tenant_id: str, since: Any, until: Any, interval: str, site_id: str | None, asset_id: str | None
) -> dict[str, Any]:
    """``ENERGY``'s parameters: per ``interval`` ('day' or 'month') over local dates, for the fleet, a site or an
    asset."""
    return {
        "tenant": tenant_id,
        "since": since,
        "until": until,
        "site": site_id,
        "asset": asset_id,
        "format": PERIOD_FORMATS[interval],
    }


_OVERDUE_PM = f"""
SELECT id, site_id, asset_id, title, priority, status, assigned_to, due_at, doc->>'pm_schedule_id' AS pm_schedule_id,
       doc->>'pm_occurrence' AS pm_occurrence, extract(epoch FROM now() - due_at) / 86400 AS days_overdue
FROM {SCHEMA}.work_orders
WHERE tenant_id = %(tenant)s AND NOT deleted AND status IN ('draft', 'open', 'in_progress', 'on_hold')
  AND due_at < now() AND doc->>'pm_schedule_id' IS NOT NULL AND (%(site)s::text IS NULL OR site_id = %(site)s)
ORDER BY due_at, id
LIMIT %(limit)s
"""


class PostgresDashboards:
    def __init__(self, router: DatabaseRouter) -> None:
        self._router = router

    def _read(self, query: Any, before_first_refresh: Any) -> Any:
        """``query``'s answer, or ``before_first_refresh`` while the views do not exist or hold nothing yet
        (the kpi function creates and fills them; the service answers with ``as_of`` null)."""

        def run(conn: Any) -> Any:
            # a cursor of its own: the pooled connection's row factory is every other reader's too
            return query(conn.cursor(row_factory=dict_row))

        try:
            return self._router.read("dashboard", run)
        except (psycopg.errors.UndefinedTable, psycopg.errors.ObjectNotInPrerequisiteState):
            return before_first_refresh

    def fleet(self, tenant_id: str) -> list[dict[str, Any]]:
        """Every row of the tenant: one per site and the tenant's own (``site_id`` '')."""
        return self._read(lambda c: c.execute(f"{_SELECT} WHERE tenant_id = %s", (tenant_id,)).fetchall(), [])

    def site(self, tenant_id: str, site_id: str, limit: int) -> SiteRows:
        """The site's row (None before the first refresh that saw it), its assets most energy lost first, and
        its open work that lost energy, most first (``limit`` of each)."""

        def query(cur: Any) -> SiteRows:
            row = cur.execute(
                f"{_SELECT} WHERE tenant_id = %s AND scope = 'site' AND site_id = %s", (tenant_id, site_id)
            ).fetchone()
            assets = cur.execute(_ASSETS, (tenant_id, site_id, limit)).fetchall()
            return SiteRows(row, assets, cur.execute(_LOSSES, (tenant_id, site_id, limit)).fetchall())

        return self._read(query, SiteRows(None, [], []))

    def energy(
        self, tenant_id: str, since: Any, until: Any, interval: str, site_id: str | None, asset_id: str | None
    ) -> tuple[list[dict[str, Any]], Any]:
        """(per ``interval`` ('day' or 'month') from ``since`` to ``until`` (local dates, both included), then
        one row with ``total`` true for the whole span; the last refresh's time): ([], None) before the first."""
        params = energy_params(tenant_id, since, until, interval, site_id, asset_id)

        def query(cur: Any) -> tuple[list[dict[str, Any]], Any]:
            rows = cur.execute(ENERGY, params).fetchall()
            return rows, cur.execute(_AS_OF, (tenant_id,)).fetchone()["as_of"]

        return self._read(query, ([], None))

    def overdue_pm(self, tenant_id: str, site_id: str | None, limit: int) -> list[dict[str, Any]]:
        """Preventive work open past its due time, most overdue first."""
        params = {"tenant": tenant_id, "site": site_id, "limit": limit}
        return self._read(lambda c: c.execute(_OVERDUE_PM, params).fetchall(), [])

    def outage_loss(self, tenant_id: str, kind: str, outage_id: str) -> tuple[dict[str, Any] | None, Any]:
        """(the outage's loss row, or None when the last refresh computed none for it; that refresh's time,
        None before the first)."""

        def query(cur: Any) -> tuple[dict[str, Any] | None, Any]:
            row = cur.execute(_LOSS, (tenant_id, kind, outage_id)).fetchone()
            if row is not None:
                return row, row["as_of"]
            return None, cur.execute(_AS_OF, (tenant_id,)).fetchone()["as_of"]

        return self._read(query, (None, None))
