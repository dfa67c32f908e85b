"""Dashboards (spec §6.4): the tenant's fleet and one site, from the read model's materialized KPIs."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from dcmms.domain.commands import DowntimeEdit, DowntimeReason
from dcmms.domain.model import AlertSeverity, Priority
from dcmms.services.dashboard import DashboardSort, EnergyInterval, SortOrder

from ..http import Caller, body_response, problem_responses, schema_response

router = APIRouter(tags=["dashboards"])

# Recomputed every 5 minutes and never edited: a minute in the browser's cache costs little freshness.
CACHE_CONTROL = "private, max-age=60"
_NUMBER = {"anyOf": [{"type": "number"}, {"type": "null"}]}
_COUNT = {"type": "integer", "minimum": 0}


def _counts(names: list[str]) -> dict[str, Any]:
    return {"type": "object", "propertyNames": {"enum": names}, "additionalProperties": _COUNT}


_PRODUCTION = _NUMBER | {
    "description": "Production-based availability (IEC 61400-26-2): energy / (energy + lost energy); for solar "
    "sites the energy-based equivalent."
}
KPIS: dict[str, Any] = {
    "energy_today_kwh": _NUMBER | {"description": "AC energy today (site's local day), from the hourly rollups."},
    "energy_today_mwh": _NUMBER,
    "insolation_today_kwh_m2": _NUMBER | {"description": "Plane-of-array insolation today (weather stations)."},
    "performance_ratio": _NUMBER
    | {"description": "IEC 61724-1 PR today: final yield / reference yield (docs/kpis.md); null without sun."},
    "availability": _NUMBER
    | {
        "description": "Time-based availability today: solar hours with irradiance over the site's threshold "
        "in which assets produced; wind hours available (producing, or idle for want of wind)."
    },
    "availability_production": _PRODUCTION,
    "lost_energy_kwh": _NUMBER | {"description": "Expected minus actual energy while unavailable, today."},
    "lost_energy_mwh": _NUMBER,
    "lost_money": _NUMBER | {"description": "Lost energy at the site's tariff; null without one."},
    "currency": {"anyOf": [{"type": "string"}, {"type": "null"}]},
    "active_alerts": _COUNT,
    "active_alerts_by_severity": _counts([s.value for s in AlertSeverity]),
    "open_work_orders": _COUNT,
    "open_work_orders_by_priority": _counts([p.value for p in Priority]),
    "overdue_work_orders": _COUNT,
    "energy_mtd_kwh": _NUMBER | {"description": "AC energy this month to date (the site's local month)."},
    "energy_mtd_mwh": _NUMBER,
    "performance_ratio_mtd": _NUMBER | {"description": "IEC 61724-1 PR over the month to date."},
    "availability_mtd": _NUMBER | {"description": "Time-based availability over the month to date."},
    "availability_production_mtd": _PRODUCTION,
    "lost_energy_mtd_kwh": _NUMBER | {"description": "Lost energy over the month to date."},
    "lost_money_mtd": _NUMBER | {"description": "Lost energy this month at the site's tariff; null without one."},
    "failures_30d": _COUNT | {"description": "Forced downtime episodes in the last 30 days."},
    "mttr_30d_h": _NUMBER
    | {"description": "Mean time to repair over the last 30 days (hours); null without failures."},
    "mtbf_30d_h": _NUMBER
    | {"description": "Mean time between failures over the last 30 days: producing assets' uptime per failure."},
    "pm_due_mtd": _COUNT | {"description": "Preventive work orders due so far this month (docs/pm.md)."},
    "pm_on_time_mtd": _COUNT | {"description": "... of which completed by their due day (local)."},
    "pm_compliance_mtd": _NUMBER | {"description": "PM compliance: on time / due this month; null with none due."},
    "pm_overdue": _COUNT | {"description": "Preventive work orders open past their due time, now."},
    "planned_ratio_mtd": _NUMBER
    | {
        "description": "Planned (preventive, inspection) / all work orders created this month (corrective and "
        "emergency are unplanned); null with none."
    },
}
SITE_KPIS = {
    "type": "object",
    "required": ["site_id", "href", *KPIS],
    "properties": {
        "site_id": {"type": "string"},
        "name": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "kind": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "capacity_mw": _NUMBER,
        "href": {"type": "string", "description": "This site's dashboard."},
        **KPIS,
    },
}
AS_OF = {
    "anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}],
    "description": "When the KPIs were computed (the last refresh); null before the first that saw them.",
}
FLEET = {
    "type": "object",
    "required": ["as_of", "sort", "order", "totals", "sites"],
    "properties": {
        "as_of": AS_OF,
        "sort": {"enum": [s.value for s in DashboardSort]},
        "order": {"enum": [o.value for o in SortOrder]},
        "totals": {
            "type": "object",
            "required": ["sites", *KPIS],
            "properties": {"sites": _COUNT, **KPIS},
            "description": "The fleet: sums, and PR and availability weighted by capacity and hours.",
        },
        "sites": {"type": "array", "items": SITE_KPIS},
    },
}
_AGES = ["under_1d", "1d_to_7d", "7d_to_30d", "over_30d"]
_TIME = {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}]}
_TEXT = {"anyOf": [{"type": "string"}, {"type": "null"}]}
LOSS: dict[str, Any] = {
    "type": "object",
    "required": ["kind", "id", "outage_since", "lost_energy_kwh", "href"],
    "properties": {
        "kind": {"enum": ["work_order", "alert"]},
        "id": {"type": "string"},
        "asset_id": _TEXT,
        "site_id": _TEXT,
        "title": _TEXT | {"description": "The work order's title, or the alert's message."},
        "priority": _TEXT | {"description": "Work orders."},
        "severity": _TEXT | {"description": "Alerts."},
        "status": _TEXT,
        "outage_since": _TIME
        | {"description": "When the outage began: the alert's raise (a work order's source alert, else its creation)."},
        "outage_until": _TIME | {"description": "An alert's resolution; null while it lasts."},
        "lost_energy_kwh": _NUMBER
        | {
            "description": "Expected minus actual energy over the outage's hours while the asset was unavailable "
            "(docs/kpis.md), at most the last 7 days; null when nothing is computed for it: not on a producing "
            "asset (inverter, turbine), a closed work order, or newer than the last refresh (as_of)."
        },
        "lost_energy_mwh": _NUMBER,
        "lost_money": _NUMBER | {"description": "Lost energy at the site's tariff; null without one."},
        "currency": _TEXT,
        "href": {"type": "string", "description": "The work order or alert."},
    },
}
LOST_ENERGY = {
    "type": "object",
    "required": ["as_of", *LOSS["required"]],
    "properties": {"as_of": _TIME | {"description": "The refresh the figure is from."}, **LOSS["properties"]},
}
SITE = {
    "type": "object",
    "required": ["as_of", "site", "assets", "open_work"],
    "properties": {
        "as_of": AS_OF,
        "site": SITE_KPIS,
        "assets": {
            "type": "array",
            "description": "The site's producing assets today, most energy lost first (at most 50).",
            "items": {
                "type": "object",
                "required": ["asset_id", "energy_today_kwh", "lost_energy_kwh", "availability", "href"],
                "properties": {
                    "asset_id": {"type": "string"},
                    "name": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                    "type": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                    "energy_today_kwh": _NUMBER,
                    "lost_energy_kwh": _NUMBER,
                    "availability": _NUMBER,
                    "href": {"type": "string"},
                },
            },
        },
        "open_work": {
            "type": "object",
            "required": ["total", "overdue", "by_priority", "by_age", "by_lost_energy"],
            "properties": {
                "total": _COUNT,
                "overdue": _COUNT,
                "by_priority": _counts([p.value for p in Priority]),
                "by_age": {"type": "object", "required": _AGES, "properties": {a: _COUNT for a in _AGES}},
                "by_lost_energy": {
                    "type": "array",
                    "items": LOSS,
                    "description": "Open work on producing assets that lost energy since its outage began "
                    "(the source alert's raise, else the work order's creation; at most the last 7 days), most "
                    "first, at most 50.",
                },
            },
        },
    },
}


@router.get(
    "/api/v1/dashboard",
    summary="The fleet dashboard: every site's KPIs and the fleet's totals (refreshed every 5 minutes)",
    description="Sortable by any KPI, e.g. `?sort=performance_ratio&order=asc` for the worst performance ratio "
    "first; sites without a value sort last. Formulas: docs/kpis.md.",
    responses={
        200: schema_response("FleetDashboard", FLEET, "The fleet's KPIs"),
        **problem_responses(503, reason="The read model cannot be reached."),
    },
)
def fleet_dashboard(
    request: Request,
    caller: Caller,
    sort: Annotated[DashboardSort, Query(description="The KPI to sort the sites by.")] = DashboardSort.name,
    order: Annotated[SortOrder, Query(description="asc or desc.")] = SortOrder.asc,
) -> Response:
    body = request.app.state.dashboards.fleet_dashboard(caller, sort, order)
    return body_response(request, body, CACHE_CONTROL)


@router.get(
    "/api/v1/sites/{site_id}/dashboard",
    summary="A site's dashboard: its KPIs, its assets by lost energy, its open work by priority and age",
    responses={
        200: schema_response("SiteDashboard", SITE, "The site's KPIs"),
        **problem_responses(503, reason="The read model cannot be reached."),
    },
)
def site_dashboard(request: Request, site_id: str, caller: Caller) -> Response:
    body = request.app.state.dashboards.site_dashboard(caller, site_id)
    return body_response(request, body, CACHE_CONTROL)


_EPISODE = {
    "type": "object",
    "required": ["id", "asset_id", "started_at", "ended_at", "reason", "source", "href"],
    "properties": {
        "id": {"type": "string"},
        "asset_id": {"type": "string"},
        "site_id": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "started_at": {"type": "string", "format": "date-time"},
        "ended_at": {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}]},
        "reason": {"enum": [r.value for r in DowntimeReason]},
        "source": {"enum": ["alert", "status"], "description": "A critical alert, or the asset's status."},
        "alert_id": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "edited_by": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "edited_at": {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}]},
        "href": {"type": "string"},
    },
}
RELIABILITY = {
    "type": "object",
    "required": ["asset_id", "from", "to", "period_h", "failures", "downtime_h", "mttr_h", "mtbf_h", "episodes"],
    "properties": {
        "asset_id": {"type": "string"},
        "from": {"type": "string", "format": "date-time"},
        "to": {"type": "string", "format": "date-time"},
        "period_h": {"type": "number"},
        "failures": _COUNT | {"description": "Forced downtime episodes overlapping the period."},
        "downtime_h": {"type": "number", "description": "Forced downtime inside the period (hours)."},
        "excused_downtime_h": {"type": "object", "additionalProperties": {"type": "number"}},
        "mttr_h": _NUMBER | {"description": "Forced downtime / failures; null without failures."},
        "mtbf_h": _NUMBER | {"description": "(Period - forced downtime) / failures; null without failures."},
        "corrective_work_orders": {
            "type": "object",
            "properties": {"completed": _COUNT, "mean_repair_h": _NUMBER},
        },
        "episodes": {"type": "array", "items": _EPISODE, "description": "Newest first, at most 50."},
    },
}


@router.get(
    "/api/v1/assets/{asset_id}/reliability",
    summary="An asset's downtime, MTTR and MTBF over a period (default: the last 30 days)",
    description="From the downtime episodes that critical alerts and the asset's status open and close "
    "(excused by a supervisor's reason: planned, curtailment, grid, weather) and its corrective work.",
    responses={
        200: schema_response("AssetReliability", RELIABILITY, "The asset's reliability"),
        **problem_responses(503, reason="The read model cannot be reached."),
    },
)
def asset_reliability(
    request: Request,
    asset_id: str,
    caller: Caller,
    from_: Annotated[
        datetime | None, Query(alias="from", description="RFC 3339; default: 30 days before 'to'.")
    ] = None,
    to: Annotated[datetime | None, Query(description="RFC 3339; default: now.")] = None,
) -> Response:
    body = request.app.state.reliability.asset_reliability(caller, asset_id, from_, to)
    return body_response(request, body, CACHE_CONTROL)


@router.patch(
    "/api/v1/downtime/{episode_id}",
    summary="Set a downtime episode's reason (admins and supervisors)",
    responses={
        200: schema_response("DowntimeEpisode", _EPISODE, "The episode as changed"),
        **problem_responses(503, reason="The read model cannot be reached."),
    },
)
def edit_downtime(request: Request, episode_id: str, body: DowntimeEdit, caller: Caller) -> Response:
    edited = request.app.state.reliability.edit_episode(caller, episode_id, body.reason, body.note)
    return body_response(request, edited, "no-store")


@router.get(
    "/api/v1/work-orders/{work_order_id}/lost-energy",
    summary="The energy and money a work order's outage has lost so far",
    description="From the materialized KPIs (refreshed every 5 minutes; `as_of`). Formulas: docs/kpis.md.",
    responses={
        200: schema_response("WorkOrderLostEnergy", LOST_ENERGY, "The outage's lost energy"),
        **problem_responses(503, reason="The read model cannot be reached."),
    },
)
def work_order_lost_energy(request: Request, work_order_id: str, caller: Caller) -> Response:
    body = request.app.state.dashboards.work_order_lost_energy(caller, work_order_id)
    return body_response(request, body, CACHE_CONTROL)


@router.get(
    "/api/v1/alerts/{alert_id}/lost-energy",
    summary="The energy and money lost over an alert's episode (its raise to its resolution, or now)",
    description="From the materialized KPIs (refreshed every 5 minutes; `as_of`); alerts of the last 7 days. "
    "Formulas: docs/kpis.md.",
    responses={
        200: schema_response("AlertLostEnergy", LOST_ENERGY, "The alert episode's lost energy"),
        **problem_responses(503, reason="The read model cannot be reached."),
    },
)
def alert_lost_energy(request: Request, alert_id: str, caller: Caller) -> Response:
    body = request.app.state.dashboards.alert_lost_energy(caller, alert_id)
    return body_response(request, body, CACHE_CONTROL)


_ENERGY_FIGURES = {
    "energy_kwh": _NUMBER,
    "energy_mwh": _NUMBER,
    "insolation_kwh_m2": _NUMBER | {"description": "Plane-of-array insolation; null over several sites."},
    "performance_ratio": _NUMBER
    | {"description": "IEC 61724-1 PR: solar energy / (DC capacity x insolation), summed over site-days."},
    "availability": _NUMBER | {"description": "Time-based: available hours / expected hours."},
    "availability_production": _PRODUCTION,
    "lost_energy_kwh": _NUMBER,
    "lost_energy_mwh": _NUMBER,
    "lost_money": _NUMBER | {"description": "At each site's tariff; null without one or across currencies."},
    "currency": _TEXT,
}
ENERGY = {
    "type": "object",
    "required": ["as_of", "from", "to", "interval", "totals", "periods"],
    "properties": {
        "as_of": AS_OF,
        "from": {"type": "string", "format": "date"},
        "to": {"type": "string", "format": "date"},
        "interval": {"enum": [i.value for i in EnergyInterval]},
        "site_id": _TEXT,
        "asset_id": _TEXT,
        "totals": {
            "type": "object",
            "properties": {"days": _COUNT | {"description": "Days with figures in the span."}, **_ENERGY_FIGURES},
        },
        "periods": {
            "type": "array",
            "description": "Oldest first; a period without figures is absent.",
            "items": {
                "type": "object",
                "required": ["period", "energy_kwh"],
                "properties": {
                    "period": {"type": "string", "description": "YYYY-MM-DD (day) or YYYY-MM (month)."},
                    **_ENERGY_FIGURES,
                },
            },
        },
    },
}


@router.get(
    "/api/v1/energy",
    summary="Energy, performance ratio, availability and lost energy per day or month, for the fleet, a site or "
    "an asset",
    description="Days are each site's local days; the figures are the dashboards' (docs/kpis.md), kept per day "
    "by the kpi function: today's as of its last refresh, a finished day recomputed once after midnight. "
    "Default span: this month to date (UTC dates); at most 366 days.",
    responses={
        200: schema_response("Energy", ENERGY, "The figures per period and over the span"),
        **problem_responses(404, reason="`site_id` or `asset_id` names no site or asset of the tenant."),
        **problem_responses(503, reason="The read model cannot be reached."),
    },
)
def energy(
    request: Request,
    caller: Caller,
    from_: Annotated[date | None, Query(alias="from", description="First local date; default: the 1st.")] = None,
    to: Annotated[date | None, Query(description="Last local date (included); default: today.")] = None,
    interval: Annotated[EnergyInterval, Query(description="day or month.")] = EnergyInterval.day,
    site_id: Annotated[str | None, Query(description="Only this site.")] = None,
    asset_id: Annotated[str | None, Query(description="Only this inverter or turbine.")] = None,
) -> Response:
    body = request.app.state.dashboards.energy(caller, from_, to, interval, site_id, asset_id)
    return body_response(request, body, CACHE_CONTROL)
