"""Dashboards (spec §6.4): the tenant's fleet and one site, answered from the read model's materialized KPIs
(``readmodel.kpis``, refreshed every 5 minutes by the ``kpi`` function); every answer carries ``as_of``.

The service checks the site (a missing or foreign one is a 404, from the system of record), sorts and shapes;
the reader (``readmodel.dashboard.PostgresDashboards`` in production) reads the views on a replica.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

import orjson

from dcmms.domain.energy import production_availability
from dcmms.domain.model import Principal

from .common import field_error
from .maintenance import Maintenance

ASSETS_SHOWN = 50  # a site's assets and open work by lost energy: the worst fifty of each


class DashboardSort(StrEnum):
    name = "name"
    energy_today_kwh = "energy_today_kwh"
    performance_ratio = "performance_ratio"
    availability = "availability"
    lost_energy_kwh = "lost_energy_kwh"
    lost_money = "lost_money"
    active_alerts = "active_alerts"
    open_work_orders = "open_work_orders"
    overdue_work_orders = "overdue_work_orders"
    energy_mtd_kwh = "energy_mtd_kwh"
    performance_ratio_mtd = "performance_ratio_mtd"
    availability_mtd = "availability_mtd"
    lost_energy_mtd_kwh = "lost_energy_mtd_kwh"
    lost_money_mtd = "lost_money_mtd"


class SortOrder(StrEnum):
    asc = "asc"
    desc = "desc"


class EnergyInterval(StrEnum):
    day = "day"
    month = "month"


MAX_ENERGY_SPAN = timedelta(days=366)


class DashboardReader(Protocol):
    def fleet(self, tenant_id: str) -> list[dict[str, Any]]: ...

    def site(self, tenant_id: str, site_id: str, limit: int) -> tuple[Any, list[Any], list[Any]]:
        """(the site's KPI row or None, its asset rows, its open work's loss rows)."""
        ...

    def overdue_pm(self, tenant_id: str, site_id: str | None, limit: int) -> list[dict[str, Any]]: ...

    def outage_loss(self, tenant_id: str, kind: str, outage_id: str) -> tuple[dict[str, Any] | None, Any]:
        """(the outage's loss row or None, the last refresh's time or None)."""
        ...

    def energy(
        self, tenant_id: str, since: date, until: date, interval: str, site_id: str | None, asset_id: str | None
    ) -> tuple[list[dict[str, Any]], Any]: ...


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(float(value), digits)


def _mwh(kwh: float | None) -> float | None:
    return None if kwh is None else _round(kwh / 1000, 6)


def _ratio(part: float | None, whole: float | None) -> float | None:
    return None if not whole or part is None else round(float(part) / float(whole), 4)


def _production_availability(energy: float | None, lost: float | None) -> float | None:
    """IEC 61400-26-2: E / (E + E_lost) (``dcmms.domain.energy.production_availability``)."""
    if energy is None:
        return None
    return production_availability(float(energy), float(lost or 0.0))


def kpis_json(row: dict[str, Any]) -> dict[str, Any]:
    """One row of ``dashboard_kpis`` as the API shows it (energies in kWh and MWh)."""
    return {
        **energy_json(row, today=True),
        "active_alerts": int(row.get("active_alerts") or 0),
        "active_alerts_by_severity": row.get("alerts_by_severity") or {},
        "open_work_orders": int(row.get("open_work_orders") or 0),
        "open_work_orders_by_priority": row.get("open_by_priority") or {},
        "overdue_work_orders": int(row.get("overdue_work_orders") or 0),
        "energy_mtd_kwh": _round(row.get("energy_mtd_kwh"), 3),
        "energy_mtd_mwh": _mwh(row.get("energy_mtd_kwh")),
        "performance_ratio_mtd": _round(row.get("performance_ratio_mtd"), 4),
        "availability_mtd": _round(row.get("availability_mtd"), 4),
        "availability_production_mtd": _round(
            _production_availability(row.get("energy_mtd_kwh"), row.get("lost_energy_mtd_kwh")), 4
        ),
        "lost_energy_mtd_kwh": _round(row.get("lost_energy_mtd_kwh"), 3),
        "lost_money_mtd": _round(row.get("lost_money_mtd"), 2),
        "failures_30d": int(row.get("failures_30d") or 0),
        "mttr_30d_h": _round(row.get("mttr_30d_h"), 3),
        "mtbf_30d_h": _round(row.get("mtbf_30d_h"), 3),
        "pm_due_mtd": int(row.get("pm_due_mtd") or 0),
        "pm_on_time_mtd": int(row.get("pm_on_time_mtd") or 0),
        "pm_compliance_mtd": _round(row.get("pm_compliance_mtd"), 4),
        "pm_overdue": int(row.get("pm_overdue") or 0),
        "planned_ratio_mtd": _round(row.get("planned_ratio_mtd"), 4),
    }


def site_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "site_id": row["site_id"],
        "name": row.get("name"),
        "kind": row.get("kind"),
        "capacity_mw": row.get("capacity_mw"),
        **kpis_json(row),
        "href": f"/api/v1/sites/{row['site_id']}/dashboard",
    }


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def sort_sites(sites: list[dict[str, Any]], key: DashboardSort, order: SortOrder) -> list[dict[str, Any]]:
    """By ``key`` in ``order``, sites without a value last whatever the order; ties by name, then id."""
    present = [s for s in sites if s.get(key.value) is not None]
    missing = [s for s in sites if s.get(key.value) is None]
    present.sort(key=lambda s: (str(s.get("name") or ""), s["site_id"]))
    present.sort(key=lambda s: s[key.value], reverse=order is SortOrder.desc)
    missing.sort(key=lambda s: (str(s.get("name") or ""), s["site_id"]))
    return present + missing


class DashboardService:
    def __init__(self, maintenance: Maintenance, reader: Callable[[], DashboardReader]) -> None:
        self.fleet = maintenance.fleet
        self.work_orders = maintenance.work_orders
        self.alerts = maintenance.alerts
        self._reader_factory = reader

    def fleet_dashboard(self, p: Principal, sort: DashboardSort, order: SortOrder) -> bytes:
        """``{"as_of", "sort", "order", "totals", "sites": [...]}``: one row per site plus the fleet's totals."""
        rows = self._reader_factory().fleet(p.tenant_id)
        tenant = next((r for r in rows if r["site_id"] == ""), None)
        sites = [site_json(r) for r in rows if r["site_id"] != ""]
        totals = {"sites": int(tenant["sites"]), **kpis_json(tenant)} if tenant else {"sites": 0, **kpis_json({})}
        return orjson.dumps(
            {
                "as_of": _iso(tenant["as_of"]) if tenant else None,
                "sort": sort.value,
                "order": order.value,
                "totals": totals,
                "sites": sort_sites(sites, sort, order),
            }
        )

    def site_dashboard(self, p: Principal, site_id: str) -> bytes:
        """``{"as_of", "site", "assets", "open_work"}``; a site the last refresh did not see yet answers with
        empty KPIs and ``as_of`` null."""
        site = orjson.loads(self.fleet.read_site(p, site_id).body)  # 404 for a missing or foreign site
        row, assets, losses = self._reader_factory().site(p.tenant_id, site_id, ASSETS_SHOWN)
        base = {"site_id": site_id, "name": site.get("name"), "kind": site.get("kind")}
        shown = site_json(row if row is not None else base | {"capacity_mw": site.get("capacity_mw")})
        return orjson.dumps(
            {
                "as_of": _iso(row["as_of"]) if row else None,
                "site": shown,
                "assets": [asset_json(a) for a in assets],
                "open_work": {
                    "total": shown["open_work_orders"],
                    "overdue": shown["overdue_work_orders"],
                    "by_priority": shown["open_work_orders_by_priority"],
                    "by_age": (row or {}).get("open_by_age")
                    or {"under_1d": 0, "1d_to_7d": 0, "7d_to_30d": 0, "over_30d": 0},
                    "by_lost_energy": [loss_json(w) for w in losses],
                },
            }
        )

    def energy(
        self,
        p: Principal,
        since: date | None,
        until: date | None,
        interval: EnergyInterval,
        site_id: str | None,
        asset_id: str | None,
    ) -> bytes:
        """Energy, PR, availability and lost energy per day or month over local dates (default: this month to
        date), for the fleet, a site or an asset, with the span's totals; from the refreshes' daily rows."""
        if asset_id is not None:
            asset = orjson.loads(self.fleet.read_asset(p, asset_id).body)  # 404: missing or foreign
            if site_id is not None and asset.get("site_id") != site_id:
                raise field_error("asset_id", f"the asset is not at site '{site_id}'", "query")
        if site_id is not None:
            self.fleet.read_site(p, site_id)  # 404: missing or foreign
        until = until or datetime.now(UTC).date()
        since = since or until.replace(day=1)
        if since > until:
            raise field_error("from", "must not be after 'to'", "query")
        if until - since >= MAX_ENERGY_SPAN:
            raise field_error("from", f"the span may cover at most {MAX_ENERGY_SPAN.days} days", "query")
        rows, as_of = self._reader_factory().energy(p.tenant_id, since, until, interval.value, site_id, asset_id)
        total = next((r for r in rows if r["total"]), {})
        return orjson.dumps(
            {
                "as_of": _iso(as_of),
                "from": since.isoformat(),
                "to": until.isoformat(),
                "interval": interval.value,
                "site_id": site_id,
                "asset_id": asset_id,
                "totals": {"days": int(total.get("days") or 0), **energy_json(total)},
                "periods": [{"period": r["period"], **energy_json(r)} for r in rows if not r["total"]],
            }
        )

    def overdue_pm(self, p: Principal, site_id: str | None, limit: int) -> bytes:
        """Preventive work open past its due time (the read model), most overdue first."""
        if site_id is not None:
            self.fleet.read_site(p, site_id)  # 404: missing or foreign
        rows = self._reader_factory().overdue_pm(p.tenant_id, site_id, limit)
        return orjson.dumps(
            {
                "items": [
                    {
                        **{
                            k: r[k] for k in ("id", "site_id", "asset_id", "title", "priority", "status", "assigned_to")
                        },
                        "due_at": _iso(r["due_at"]),
                        "days_overdue": _round(r["days_overdue"], 2),
                        "pm_schedule_id": r["pm_schedule_id"],
                        "pm_occurrence": r["pm_occurrence"],
                        "href": f"/api/v1/work-orders/{r['id']}",
                    }
                    for r in rows
                ]
            }
        )

    def _lost_energy(self, p: Principal, kind: str, outage_id: str, doc: dict[str, Any]) -> bytes:
        row, as_of = self._reader_factory().outage_loss(p.tenant_id, kind, outage_id)
        shown = loss_json(
            row
            or {
                "kind": kind,
                "id": outage_id,
                "asset_id": doc.get("asset_id"),
                "site_id": doc.get("site_id"),
                "title": doc.get("title" if kind == "work_order" else "message"),
                "level": doc.get(_LEVEL[kind]),
                "status": doc.get("status"),
                "lost_kwh": None,
            }
        )
        return orjson.dumps({"as_of": _iso(as_of), **shown})

    def work_order_lost_energy(self, p: Principal, work_order_id: str) -> bytes:
        """The energy (and money) an open work order's outage has lost so far (docs/kpis.md)."""
        doc = orjson.loads(self.work_orders.read_work_order(p, work_order_id).body)  # 404: missing or foreign
        return self._lost_energy(p, "work_order", work_order_id, doc)

    def alert_lost_energy(self, p: Principal, alert_id: str) -> bytes:
        """The energy (and money) lost over an alert's episode, from its raise to its resolution or now."""
        doc = orjson.loads(self.alerts.read_alert(p, alert_id).body)  # 404: missing or foreign
        return self._lost_energy(p, "alert", alert_id, doc)


_HREF = {"work_order": "/api/v1/work-orders/{}", "alert": "/api/v1/alerts/{}"}
_LEVEL = {"work_order": "priority", "alert": "severity"}


def loss_json(o: dict[str, Any]) -> dict[str, Any]:
    """One row of ``outage_losses``: a work order's or an alert episode's outage and the energy it lost."""
    lost, kind = o.get("lost_kwh"), o["kind"]
    return {
        "kind": kind,
        "id": o["id"],
        "asset_id": o.get("asset_id"),
        "site_id": o.get("site_id"),
        "title": o.get("title"),
        _LEVEL[kind]: o.get("level"),
        "status": o.get("status"),
        "outage_since": _iso(o.get("since")),
        "outage_until": _iso(o.get("until")),
        "lost_energy_kwh": _round(lost, 3),
        "lost_energy_mwh": _mwh(lost),
        "lost_money": _round(o.get("lost_money"), 2),
        "currency": o.get("currency"),
        "href": _HREF[kind].format(o["id"]),
    }


def energy_json(r: dict[str, Any], today: bool = False) -> dict[str, Any]:
    """The energy figures of a period's row, or with ``today`` of a ``dashboard_kpis`` row (its today's
    figures, named so)."""
    day = "_today" if today else ""
    energy, lost = r.get(f"energy{day}_kwh"), r.get("lost_energy_kwh" if today else "lost_kwh")
    return {
        f"energy{day}_kwh": _round(energy, 3),
        f"energy{day}_mwh": _mwh(energy),
        f"insolation{day}_kwh_m2": _round(r.get("insolation_kwh_m2"), 4),
        "performance_ratio": _round(r.get("performance_ratio"), 4),
        "availability": _round(r.get("availability"), 4),
        "availability_production": _round(_production_availability(energy, lost), 4),
        "lost_energy_kwh": _round(lost, 3),
        "lost_energy_mwh": _mwh(lost),
        "lost_money": _round(r.get("lost_money"), 2),
        "currency": r.get("currency"),
    }


def asset_json(a: dict[str, Any]) -> dict[str, Any]:
    return {
        "asset_id": a["asset_id"],
        "name": a.get("name"),
        "type": a.get("type"),
        "energy_today_kwh": _round(a.get("energy_kwh"), 3),
        "lost_energy_kwh": _round(a.get("lost_kwh"), 3),
        "availability": _ratio(a.get("available_hours") or 0.0, a.get("expected_hours")),
        "href": f"/api/v1/assets/{a['asset_id']}",
    }


__all__: Sequence[str] = ("DashboardService", "DashboardSort", "EnergyInterval", "SortOrder")
