"""Each report type as a ``dcmms.reports.document.Document``: the figures, tables and charts, from the rows the
report data reader returns (``readmodel.reports.PostgresReportData`` in production). No file format here: the
``reports`` function renders the document as PDF, CSV or XLSX.

Energy figures are shaped by the dashboards' own ``energy_json`` from the rows of the same SQL as
``GET /api/v1/energy``, so a report and the API agree to the digit. docs/reports.md lists every column and unit.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from dcmms.domain.energy import group_reliability
from dcmms.domain.model import Priority
from dcmms.domain.reports import Report, ReportType, previous_period
from dcmms.reports.document import Chart, Column, Document, Figure, Series, Table

from .dashboard import energy_json

TOP = 10  # rows of a "top" table (losses, assets by downtime)
AGE_BUCKETS = (("under_1d", "< 1 day", 1), ("1d_to_7d", "1-7 days", 7), ("7d_to_30d", "7-30 days", 30),
               ("over_30d", "> 30 days", None))  # fmt: skip
TITLES = {
    ReportType.site_daily: "Site daily report",
    ReportType.fleet_monthly: "Fleet monthly report",
    ReportType.work_order_backlog: "Work order backlog",
    ReportType.asset_reliability: "Asset reliability",
    ReportType.telemetry_export: "Telemetry export",
}


class ReportData(Protocol):
    def sites(self, tenant_id: str) -> list[dict[str, Any]]: ...

    def energy(
        self, tenant_id: str, since: date, until: date, interval: str, site_id: str | None
    ) -> list[dict[str, Any]]: ...

    def site_energy(
        self, tenant_id: str, since: date, until: date, site_id: str | None = None
    ) -> list[dict[str, Any]]: ...

    def asset_days(self, tenant_id: str, site_id: str, since: date, until: date) -> list[dict[str, Any]]: ...

    def pm_compliance(self, tenant_id: str, since: date, until: date) -> list[dict[str, Any]]: ...

    def downtime_by_asset(
        self, tenant_id: str, since: datetime, until: datetime, site_id: str | None = None, asset_id: str | None = None
    ) -> list[dict[str, Any]]: ...

    def episodes(
        self,
        tenant_id: str,
        since: datetime,
        until: datetime,
        site_id: str | None = None,
        asset_id: str | None = None,
        limit: int = 200,
    ) -> list[dict[str, Any]]: ...

    def alerts_in(
        self, tenant_id: str, since: datetime, until: datetime, site_id: str | None
    ) -> list[dict[str, Any]]: ...

    def work_in(
        self, tenant_id: str, since: datetime, until: datetime, site_id: str | None
    ) -> list[dict[str, Any]]: ...

    def open_work(self, tenant_id: str, site_id: str | None) -> list[dict[str, Any]]: ...

    def hourly_power(self, tenant_id: str, site_id: str, since: datetime, until: datetime) -> list[dict[str, Any]]: ...


def _total(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return energy_json(next((r for r in rows if r.get("total")), {}))


def _delta(now: float | None, before: float | None) -> float | None:
    if now is None or before in (None, 0):
        return None
    return (float(now) - float(before)) / abs(float(before))


def _local_span(since: date, until: date, zone: str) -> tuple[datetime, datetime]:
    """[start of ``since``, start of the day after ``until``) in ``zone``, as UTC instants."""
    tz = ZoneInfo(zone)
    start = datetime.combine(since, time(), tz).astimezone(UTC)
    end = datetime.combine(until + timedelta(days=1), time(), tz).astimezone(UTC)
    return start, end


def _utc_span(r: Report) -> tuple[datetime, datetime]:
    """The report's days as UTC instants: [its first day's midnight, the midnight after its last day)."""
    return datetime.combine(r.from_, time(), UTC), datetime.combine(r.to + timedelta(days=1), time(), UTC)


def _period_label(since: date, until: date) -> str:
    if since == until:
        return since.strftime("%A %d %B %Y")
    if since.day == 1 and (until + timedelta(days=1)).day == 1 and since.replace(day=1) == until.replace(day=1):
        return since.strftime("%B %Y")
    return f"{since.isoformat()} – {until.isoformat()}"


def _energy_figures(figures: dict[str, Any], before: dict[str, Any] | None = None) -> list[Figure]:
    b = before or {}
    currency = figures.get("currency") or ""
    return [
        Figure("Energy", figures["energy_mwh"], "number", "MWh", 3, _delta(figures["energy_mwh"], b.get("energy_mwh"))),
        Figure("Performance ratio", figures["performance_ratio"], "percent", None, 1,
               _delta(figures["performance_ratio"], b.get("performance_ratio"))),
        Figure("Availability", figures["availability"], "percent", None, 1,
               _delta(figures["availability"], b.get("availability"))),
        Figure("Lost energy", figures["lost_energy_mwh"], "number", "MWh", 3,
               _delta(figures["lost_energy_mwh"], b.get("lost_energy_mwh"))),
        Figure("Lost revenue", figures["lost_money"], "money", currency or None, 2),
    ]  # fmt: skip


def _counts_table(title: str, rows: list[dict[str, Any]], key: str, label: str, a: str, b: str) -> Table:
    return Table(
        title,
        [Column(key, label), Column(a, a.capitalize(), "int"), Column(b, b.capitalize(), "int")],
        sorted(rows, key=lambda r: str(r.get(key))),
    )


class DocumentBuilder:
    """Builds a report's document from the data reader; ``tenant_name`` and ``now`` come from the caller."""

    def __init__(self, data: ReportData, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.data = data
        self.now = now

    def build(self, report: Report, tenant_name: str) -> Document:
        builders = {
            ReportType.site_daily: self.site_daily,
            ReportType.fleet_monthly: self.fleet_monthly,
            ReportType.work_order_backlog: self.work_order_backlog,
            ReportType.asset_reliability: self.asset_reliability,
        }
        return builders[report.type](report, tenant_name)

    def _document(
        self, r: Report, tenant_name: str, subtitle: str, figures: list[Figure], sections: list[Table | Chart]
    ) -> Document:
        period = _period_label(r.from_, r.to)
        return Document(r.type.value, TITLES[r.type], tenant_name, period, self.now(), subtitle, figures, sections)

    def _site(self, tenant_id: str, site_id: str | None) -> dict[str, Any]:
        return next((s for s in self.data.sites(tenant_id) if s["site_id"] == site_id), {"site_id": site_id})

    # -- site-daily ------------------------------------------------------------------------------------------

    def site_daily(self, r: Report, tenant_name: str) -> Document:
        site = self._site(r.tenant_id, r.site_id)
        zone = site.get("zone") or "UTC"
        since, until = _local_span(r.from_, r.to, zone)
        figures = _total(self.data.energy(r.tenant_id, r.from_, r.to, "day", r.site_id))
        before = _total(self.data.energy(r.tenant_id, *previous_period(r.from_, r.to), "day", r.site_id))
        lost = figures["lost_energy_kwh"] or 0.0
        expected = None if figures["energy_kwh"] is None else round(figures["energy_kwh"] + lost, 3)
        alerts = self.data.alerts_in(r.tenant_id, since, until, r.site_id)
        work = self.data.work_in(r.tenant_id, since, until, r.site_id)
        assets = self.data.asset_days(r.tenant_id, r.site_id or "", r.from_, r.to)
        power = self.data.hourly_power(r.tenant_id, r.site_id or "", since, until)
        tz = ZoneInfo(zone)
        head = [
            *_energy_figures(figures, before),
            Figure("Expected energy (no outages)", None if expected is None else expected / 1000, "number", "MWh", 3),
            Figure("Alerts raised", sum(a["raised"] for a in alerts), "int"),
            Figure("Alerts resolved", sum(a["resolved"] for a in alerts), "int"),
            Figure("Work orders opened", sum(w["opened"] for w in work), "int"),
            Figure("Work orders closed", sum(w["closed"] for w in work), "int"),
        ]
        asset_rows = [
            {"asset_id": a["asset_id"], "name": a.get("name"), "type": a.get("type"),
             "energy_kwh": a.get("energy_kwh"), "lost_kwh": a.get("lost_kwh"), "availability": a.get("availability")}
            for a in assets
        ]  # fmt: skip
        sections: list[Table | Chart] = [
            Chart(
                "Power by hour (all producing assets)",
                "line",
                [p["bucket"].astimezone(tz).strftime("%H:%M") for p in power],
                [Series("Power", [p["power_kw"] for p in power])],
                "kW",
            ),
            Table(
                "Top losses",
                [
                    Column("asset_id", "Asset"),
                    Column("name", "Name"),
                    Column("lost_kwh", "Lost energy", "number", "kWh", 1),
                    Column("availability", "Availability", "percent", None, 1),
                ],  # fmt: skip
                [a for a in asset_rows if (a["lost_kwh"] or 0) > 0][:TOP],
                note="Expected minus actual energy while each asset was unavailable (docs/kpis.md).",
            ),
            _counts_table("Alerts by severity", alerts, "severity", "Severity", "raised", "resolved"),
            _counts_table("Work orders by priority", work, "priority", "Priority", "opened", "closed"),
            Table(
                "Assets",
                [
                    Column("asset_id", "Asset"),
                    Column("name", "Name"),
                    Column("type", "Type"),
                    Column("energy_kwh", "Energy", "number", "kWh", 1),
                    Column("lost_kwh", "Lost energy", "number", "kWh", 1),
                    Column("availability", "Availability", "percent", None, 1),
                ],  # fmt: skip
                asset_rows,
                primary=True,
            ),
        ]
        return self._document(r, tenant_name, f"{site.get('name') or r.site_id} ({r.site_id}) · {zone}", head, sections)

    # -- fleet-monthly ---------------------------------------------------------------------------------------

    def fleet_monthly(self, r: Report, tenant_name: str) -> Document:
        sites = {s["site_id"]: s for s in self.data.sites(r.tenant_id)}
        prev = previous_period(r.from_, r.to)
        figures = _total(self.data.energy(r.tenant_id, r.from_, r.to, "day", None))
        before = _total(self.data.energy(r.tenant_id, *prev, "day", None))
        now_rows = {e["site_id"]: e for e in self.data.site_energy(r.tenant_id, r.from_, r.to)}
        old_rows = {e["site_id"]: e for e in self.data.site_energy(r.tenant_id, *prev)}
        since, until = _utc_span(r)  # downtime over the UTC days of the period
        period_h = (until - since).total_seconds() / 3600
        pm = {row["site_id"]: row for row in self.data.pm_compliance(r.tenant_id, r.from_, r.to)}
        down: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for a in self.data.downtime_by_asset(r.tenant_id, since, until):
            down[a["site_id"]].append(a)
        rows = []
        for site_id, site in sorted(sites.items(), key=lambda kv: (_natural(kv[1].get("name")), _natural(kv[0]))):
            e, o = energy_json(now_rows.get(site_id, {})), energy_json(old_rows.get(site_id, {}))
            assets = down.get(site_id, [])
            rel = group_reliability(period_h, len(assets), sum(a["failures"] for a in assets),
                                    sum(float(a["downtime_h"]) for a in assets))  # fmt: skip
            rows.append({
                "site_id": site_id, "name": site.get("name"), "kind": site.get("kind"),
                "energy_mwh": e["energy_mwh"], "energy_delta": _delta(e["energy_mwh"], o["energy_mwh"]),
                "performance_ratio": e["performance_ratio"], "availability": e["availability"],
                "lost_energy_mwh": e["lost_energy_mwh"], "lost_money": e["lost_money"], "currency": e["currency"],
                "failures": rel.failures, "mttr_h": rel.mttr_h, "mtbf_h": rel.mtbf_h,
                **_pm_figures(pm.get(site_id, {})),
            })  # fmt: skip
        fleet_pm = _pm_figures(_summed(pm.values()))
        all_assets = [a for assets in down.values() for a in assets]
        fleet_rel = group_reliability(period_h, len(all_assets), sum(a["failures"] for a in all_assets),
                                      sum(float(a["downtime_h"]) for a in all_assets))  # fmt: skip
        head = [
            *_energy_figures(figures, before),
            Figure("Sites", len(sites), "int"),
            Figure("Failures", fleet_rel.failures, "int"),
            Figure("MTTR", fleet_rel.mttr_h, "number", "h", 1),
            Figure("MTBF", fleet_rel.mtbf_h, "number", "h", 0),
            Figure("PM compliance", fleet_pm["pm_compliance"], "percent", None, 1),
            Figure("Planned work", fleet_pm["planned_ratio"], "percent", None, 1),
        ]
        shown = sorted(rows, key=lambda x: -(x["energy_mwh"] or 0))[:24]  # a readable chart: the largest sites
        sections: list[Table | Chart] = [
            Chart(
                "Energy by site, this period and the previous one",
                "bar",
                [str(x["name"] or x["site_id"]) for x in shown],
                [
                    Series(_period_label(r.from_, r.to), [x["energy_mwh"] for x in shown]),
                    Series(
                        _period_label(*prev), [energy_json(old_rows.get(x["site_id"], {}))["energy_mwh"] for x in shown]
                    ),
                ],
                "MWh",
            ),
            Table(
                "Sites",
                [
                    Column("site_id", "Site"),
                    Column("name", "Name"),
                    Column("energy_mwh", "Energy", "number", "MWh", 3),
                    Column("energy_delta", "vs previous", "percent", None, 1),
                    Column("performance_ratio", "PR", "percent", None, 1),
                    Column("availability", "Availability", "percent", None, 1),
                    Column("lost_energy_mwh", "Lost energy", "number", "MWh", 3),
                    Column("lost_money", "Lost revenue", "money", None, 2),
                    Column("currency", "Currency"),
                    Column("failures", "Failures", "int"),
                    Column("mttr_h", "MTTR", "number", "h", 1),
                    Column("mtbf_h", "MTBF", "number", "h", 0),
                    Column("pm_due", "PM due", "int"),
                    Column("pm_compliance", "PM on time", "percent", None, 1),
                    Column("planned_ratio", "Planned", "percent", None, 1),
                ],  # fmt: skip
                rows,
                note="PM on time: preventive work due in the period done by its due day; planned: preventive and "
                "inspection work among all created in the period (docs/pm.md).",
                primary=True,
            ),
        ]
        return self._document(r, tenant_name, f"Compared with {_period_label(*prev)}", head, sections)

    # -- work-order-backlog ----------------------------------------------------------------------------------

    def work_order_backlog(self, r: Report, tenant_name: str) -> Document:
        open_work = self.data.open_work(r.tenant_id, r.site_id)
        since, until = _utc_span(r)
        work = self.data.work_in(r.tenant_id, since, until, r.site_id)
        priorities = [p.value for p in sorted(Priority, key=lambda p: -p.rank)]
        by_site: dict[str, dict[str, Any]] = {}
        for w in open_work:
            row = by_site.setdefault(
                w["site_id"], {"site_id": w["site_id"], "name": w.get("site_name"), "open": 0, "overdue": 0,
                               **dict.fromkeys(priorities, 0), **{k: 0 for k, _, _ in AGE_BUCKETS}},
            )  # fmt: skip
            row["open"] += 1
            row["overdue"] += int(bool(w["overdue"]))
            row[w["priority"]] = row.get(w["priority"], 0) + 1
            row[_age_bucket(float(w["age_days"]))] += 1
        load: dict[str, dict[str, Any]] = {}
        for w in open_work:
            who = w.get("assigned_to") or "(unassigned)"
            entry = load.setdefault(who, {"assignee": who, "open": 0, "overdue": 0, "critical_high": 0})
            entry["open"] += 1
            entry["overdue"] += int(bool(w["overdue"]))
            entry["critical_high"] += int(w["priority"] in ("critical", "high"))
        ages = Counter(_age_bucket(float(w["age_days"])) for w in open_work)
        overdue = [w for w in open_work if w["overdue"]]
        head = [
            Figure("Open work orders", len(open_work), "int"),
            Figure("Overdue", len(overdue), "int"),
            Figure("Critical or high", sum(1 for w in open_work if w["priority"] in ("critical", "high")), "int"),
            Figure("Opened in period", sum(w["opened"] for w in work), "int"),
            Figure("Closed in period", sum(w["closed"] for w in work), "int"),
            Figure("Median age", _median([float(w["age_days"]) for w in open_work]), "number", "days", 1),
        ]
        sections: list[Table | Chart] = [
            Chart(
                "Open work by age",
                "bar",
                [label for _, label, _ in AGE_BUCKETS],
                [Series("Open work orders", [ages.get(k, 0) for k, _, _ in AGE_BUCKETS])],
                "work orders",
            ),  # fmt: skip
            Table(
                "Open work by site",
                [
                    Column("site_id", "Site"),
                    Column("name", "Name"),
                    Column("open", "Open", "int"),
                    Column("overdue", "Overdue", "int"),
                    *(Column(p, p.capitalize(), "int") for p in priorities),
                    *(Column(k, label, "int") for k, label, _ in AGE_BUCKETS),
                ],  # fmt: skip
                sorted(by_site.values(), key=lambda x: (-x["open"], x["site_id"])),
            ),
            Table(
                "Assignee load",
                [
                    Column("assignee", "Assignee"),
                    Column("open", "Open", "int"),
                    Column("overdue", "Overdue", "int"),
                    Column("critical_high", "Critical/high", "int"),
                ],  # fmt: skip
                sorted(load.values(), key=lambda x: (-x["open"], x["assignee"])),
            ),
            Table(
                "Open work orders",
                [
                    Column("id", "Work order"),
                    Column("site_id", "Site"),
                    Column("title", "Title"),
                    Column("priority", "Priority"),
                    Column("status", "Status"),
                    Column("assigned_to", "Assignee"),
                    Column("created_at", "Created", "datetime"),
                    Column("due_at", "Due", "datetime"),
                    Column("age_days", "Age", "number", "days", 1),
                    Column("overdue", "Overdue"),
                ],  # fmt: skip
                [{**w, "overdue": "yes" if w["overdue"] else "no"} for w in open_work],
                primary=True,
            ),
        ]
        scope = f"Site {r.site_id}" if r.site_id else "All sites"
        return self._document(
            r, tenant_name, f"{scope} · open work as of generation; opened and closed within the period", head, sections
        )

    # -- asset-reliability -----------------------------------------------------------------------------------

    def asset_reliability(self, r: Report, tenant_name: str) -> Document:
        since, end = _utc_span(r)
        until = min(end, self.now())
        period_h = max(0.0, (until - since).total_seconds() / 3600)
        assets = self.data.downtime_by_asset(r.tenant_id, since, until, r.site_id, r.asset_id)
        episodes = self.data.episodes(r.tenant_id, since, until, r.site_id, r.asset_id)
        groups: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
        for a in assets:
            groups[(a["type"], a["manufacturer"], a["model"])].append(a)
        by_model = []
        for (kind, maker, model), members in sorted(groups.items()):
            failures = sum(m["failures"] for m in members)
            downtime = sum(float(m["downtime_h"]) for m in members)
            rel = group_reliability(period_h, len(members), failures, downtime)
            by_model.append({"type": kind, "manufacturer": maker or None, "model": model or None,
                             "assets": len(members), "failures": failures, "downtime_h": downtime,
                             "availability": None if not members or not period_h else 1 - downtime / (len(members) * period_h),
                             "mttr_h": rel.mttr_h, "mtbf_h": rel.mtbf_h})  # fmt: skip
        per_asset = []
        for a in assets:
            rel = group_reliability(period_h, 1, a["failures"], float(a["downtime_h"]))
            per_asset.append({**a, "downtime_h": float(a["downtime_h"]), "mttr_h": rel.mttr_h, "mtbf_h": rel.mtbf_h})
        per_asset.sort(key=lambda a: (-a["downtime_h"], a["asset_id"]))
        total = group_reliability(period_h, len(assets), sum(a["failures"] for a in assets),
                                  sum(float(a["downtime_h"]) for a in assets))  # fmt: skip
        head = [
            Figure("Producing assets", len(assets), "int"),
            Figure("Failures", total.failures, "int"),
            Figure("Forced downtime", total.downtime_h, "number", "h", 1),
            Figure("MTTR", total.mttr_h, "number", "h", 1),
            Figure("MTBF", total.mtbf_h, "number", "h", 0),
        ]
        model_cols = [
            Column("type", "Type"), Column("manufacturer", "Manufacturer"), Column("model", "Model"),
            Column("assets", "Assets", "int"), Column("failures", "Failures", "int"),
            Column("downtime_h", "Downtime", "number", "h", 1), Column("availability", "Availability", "percent", None, 2),
            Column("mttr_h", "MTTR", "number", "h", 1), Column("mtbf_h", "MTBF", "number", "h", 0),
        ]  # fmt: skip
        sections: list[Table | Chart] = [
            Chart(
                "Forced downtime by asset type and model",
                "bar",
                [f"{m['type']} {m['model'] or ''}".strip() for m in by_model],
                [Series("Downtime", [m["downtime_h"] for m in by_model])],
                "h",
            ),  # fmt: skip
            Table("By type, manufacturer and model", model_cols, by_model, primary=True),
            Table(
                "Assets with the most downtime",
                [
                    Column("asset_id", "Asset"),
                    Column("name", "Name"),
                    Column("site_id", "Site"),
                    Column("type", "Type"),
                    Column("failures", "Failures", "int"),
                    Column("downtime_h", "Downtime", "number", "h", 1),
                    Column("mttr_h", "MTTR", "number", "h", 1),
                    Column("mtbf_h", "MTBF", "number", "h", 0),
                ],  # fmt: skip
                [a for a in per_asset if a["failures"]][: TOP * 2],
            ),
            Table(
                "Downtime episodes",
                [
                    Column("asset_id", "Asset"),
                    Column("asset_name", "Name"),
                    Column("started_at", "Started", "datetime"),
                    Column("ended_at", "Ended", "datetime"),
                    Column("hours", "In period", "number", "h", 1),
                    Column("reason", "Reason"),
                    Column("source", "Source"),
                ],  # fmt: skip
                episodes,
                note="Newest first, at most 200. Only 'forced' episodes count as failures; others are excused.",
            ),
        ]
        scope = f"Asset {r.asset_id}" if r.asset_id else f"Site {r.site_id}" if r.site_id else "All sites"
        return self._document(
            r,
            tenant_name,
            f"{scope} · forced downtime from critical alerts and asset status (docs/kpis.md)",
            head,
            sections,
        )


def _summed(rows: Any) -> dict[str, int]:
    keys = ("pm_due", "pm_on_time", "planned", "unplanned")
    return {k: sum(int(r.get(k) or 0) for r in rows) for k in keys}


def _pm_figures(row: dict[str, Any]) -> dict[str, Any]:
    """PM due, done on time and their ratio; the planned share of the work created."""
    due, on_time = int(row.get("pm_due") or 0), int(row.get("pm_on_time") or 0)
    planned, unplanned = int(row.get("planned") or 0), int(row.get("unplanned") or 0)
    return {
        "pm_due": due,
        "pm_on_time": on_time,
        "pm_compliance": on_time / due if due else None,
        "planned_ratio": planned / (planned + unplanned) if planned + unplanned else None,
    }


def _natural(text: Any) -> list[Any]:
    """A sort key that puts "Park 9" before "Park 10": digit runs compare as numbers."""
    return [
        (0, int(part), "") if part.isdigit() else (1, 0, part.lower()) for part in re.split(r"(\d+)", str(text or ""))
    ]


def _age_bucket(days: float) -> str:
    for key, _, limit in AGE_BUCKETS:
        if limit is None or days < limit:
            return key
    return AGE_BUCKETS[-1][0]


def _median(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
