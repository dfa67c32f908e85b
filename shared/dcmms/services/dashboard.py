"""Dashboards (spec §6.4): the tenant's fleet and one site, answered from the read model's materialized KPIs
(``readmodel.kpis``, refreshed every 5 minutes by the ``kpi`` function); every answer carries ``as_of``.

The service checks the site (a missing or foreign one is a 404, from the system of record), sorts and shapes;
the reader (``readmodel.dashboard.PostgresDashboards`` in production) reads the views on a replica.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

import orjson

from dcmms.domain.model import Principal

from .fleet import FleetService

ASSETS_SHOWN = 50  # a site's assets by lost energy: the worst fifty


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


class SortOrder(StrEnum):
    asc = "asc"
    desc = "desc"


class DashboardReader(Protocol):
    def fleet(self, tenant_id: str) -> list[dict[str, Any]]: ...

    def site(self, tenant_id: str, site_id: str, assets: int) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]: ...


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(float(value), digits)


def _ratio(part: float | None, whole: float | None) -> float | None:
    return None if not whole or part is None else round(float(part) / float(whole), 4)


def kpis_json(row: dict[str, Any]) -> dict[str, Any]:
    """One row of ``dashboard_kpis`` as the API shows it (energies in kWh and MWh)."""
    energy, lost = row.get("energy_today_kwh"), row.get("lost_energy_kwh")
    return {
        "energy_today_kwh": _round(energy, 3),
        "energy_today_mwh": _round(None if energy is None else energy / 1000, 6),
        "insolation_today_kwh_m2": _round(row.get("insolation_kwh_m2"), 4),
        "performance_ratio": _round(row.get("performance_ratio"), 4),
        "availability": _round(row.get("availability"), 4),
        "lost_energy_kwh": _round(lost, 3),
        "lost_energy_mwh": _round(None if lost is None else lost / 1000, 6),
        "lost_money": _round(row.get("lost_money"), 2),
        "currency": row.get("currency"),
        "active_alerts": int(row.get("active_alerts") or 0),
        "active_alerts_by_severity": row.get("alerts_by_severity") or {},
        "open_work_orders": int(row.get("open_work_orders") or 0),
        "open_work_orders_by_priority": row.get("open_by_priority") or {},
        "overdue_work_orders": int(row.get("overdue_work_orders") or 0),
        "failures_30d": int(row.get("failures_30d") or 0),
        "mttr_30d_h": _round(row.get("mttr_30d_h"), 3),
        "mtbf_30d_h": _round(row.get("mtbf_30d_h"), 3),
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
    def __init__(self, fleet: FleetService, reader: Callable[[], DashboardReader]) -> None:
        self.fleet = fleet
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
        row, assets = self._reader_factory().site(p.tenant_id, site_id, ASSETS_SHOWN)
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
                },
            }
        )


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


__all__: Sequence[str] = ("DashboardService", "DashboardSort", "SortOrder")
