"""Preventive maintenance: schedules (``/api/v1/pm-schedules``) and the run that generates their work (the
``pm`` function, every 15 minutes).

A run walks each enabled schedule's targets (its asset; every asset of its type at its site; or its site) and,
for every occurrence whose generation time (due minus lead time) has come, creates the work order of that
occurrence from the schedule's procedure — once: the work order's id is derived from (schedule, target,
occurrence), and a conditional create makes a second run, concurrent or retried, find it instead. An
occurrence whose previous work order is still open is skipped (recorded) or generated anyway (``stack``). Each
target's state (last due, last completion, its open work order) and the schedule's next due are kept on the
schedule, written with the versioned mutation every service uses.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import orjson

from dcmms.cache import Doc
from dcmms.domain.errors import NotFound, ServiceUnavailable
from dcmms.domain.model import (
    ACTIVE_WORK_ORDER_STATUSES,
    AssetStatus,
    AssetType,
    Principal,
    WorkOrder,
    WorkOrderType,
    utcnow,
)
from dcmms.domain.pm import (
    SITE_TARGET,
    Basis,
    CalendarTrigger,
    ConditionTrigger,
    MeterKind,
    MeterTrigger,
    OpenPolicy,
    PMSchedule,
    PMScheduleCreate,
    PMSchedulePatch,
    Target,
    forecast,
    generation_time,
    meter_forecast,
    meter_key,
    next_due,
    next_meter_due,
    occurrence_key,
    occurrence_work_order_id,
)

from .common import (
    ASSET,
    PM_SCHEDULE,
    SITE,
    Service,
    field_error,
    new_entity,
    read_all,
    require_fleet,
    system_principal,
)
from .work_orders import WorkOrderService

log = logging.getLogger(__name__)
PM_ACTOR = "system:pm"


class Meters(Protocol):
    def readings(
        self, tenant_id: str, asset_ids: Sequence[str], trigger: MeterTrigger, since: datetime, until: datetime
    ) -> dict[str, float]: ...

    def statistic(
        self, tenant_id: str, asset_ids: Sequence[str], trigger: ConditionTrigger, since: datetime, until: datetime
    ) -> dict[str, float | None]: ...


MAX_HORIZON = timedelta(days=730)
_NEVER = datetime.min.replace(tzinfo=UTC)  # orders a target that was never due before any that was
PARALLEL = 8  # schedules in flight at once in a run
# Occurrences one run may catch up per target (e.g. a schedule created with an anchor long past): the rest wait
# for the next run, so one target cannot hold the run up.
CATCH_UP = 12


class PMService(Service):
    def __init__(
        self, *args: Any, work_orders: WorkOrderService, meters: Callable[[], Meters] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.work_orders = work_orders
        self.meters = meters  # the telemetry rollups, for meter and condition triggers

    # -- the API ---------------------------------------------------------------------------------------------

    def create_schedule(self, p: Principal, body: PMScheduleCreate) -> PMSchedule:
        """Admins and supervisors; the scope is one asset, every asset of a type at a site, or a site."""
        require_fleet(p)
        procedure = self.procedure(p, body.procedure_id)
        site_id = body.site_id
        if body.asset_id is not None:
            if body.asset_type is not None:
                raise field_error("asset_type", "give asset_id or asset_type, not both")
            asset = self._referenced(ASSET, p, body.asset_id, "asset_id")
            if site_id is not None and asset.site_id != site_id:
                raise field_error("asset_id", f"asset '{body.asset_id}' is not on site '{site_id}'")
            site_id = asset.site_id
            kinds = getattr(procedure, "asset_types", None) or []
            if kinds and asset.type not in kinds:
                raise field_error("procedure_id", f"the procedure is not for {asset.type.value} assets")
        elif site_id is None:
            raise field_error("site_id", "give asset_id, or site_id (with asset_type for every asset of a type)")
        elif not isinstance(body.trigger, CalendarTrigger) and body.asset_type is None:
            raise field_error("asset_type", "meter and condition triggers read assets: give asset_id or asset_type")
        kind = asset.type if body.asset_id is not None else body.asset_type
        metric = getattr(body.trigger, "metric", None)
        from dcmms.telemetry.metric_names import METRICS  # not at cold start: only schedules need it

        if metric is not None and kind is not None and metric not in METRICS[kind]:
            raise field_error("trigger.metric", f"'{metric}' is not a metric of {kind.value} assets")
        site = self._referenced(SITE, p, site_id, "site_id")
        fields = body.model_dump() | {"site_id": site_id, "timezone": site.timezone, "created_by": p.user_id}
        schedule = new_entity(PMSchedule, "pm", p, fields)
        return self._create(PM_SCHEDULE, schedule.model_copy(update={"next_due": _next_due(schedule, [Target()])}))

    def procedure(self, p: Principal, procedure_id: str) -> Any:
        try:
            return self.repositories.procedures.get(p.tenant_id, procedure_id)
        except NotFound:
            raise field_error("procedure_id", f"no procedure '{procedure_id}'") from None

    def read_schedule(self, p: Principal, schedule_id: str) -> Doc:
        return self._read(PM_SCHEDULE, p, schedule_id)

    def list_schedules(
        self,
        p: Principal,
        limit: int,
        cursor: str | None,
        *,
        site_id: str | None = None,
        asset_id: str | None = None,
        trigger_kind: str | None = None,
    ) -> bytes:
        filters: dict[str, Any] = {"site_id": site_id, "asset_id": asset_id, "trigger_kind": trigger_kind}
        return self._page(
            PM_SCHEDULE,
            p,
            {"limit": limit, "cursor": cursor, **filters},
            lambda: self.repositories.pm_schedules.list(p.tenant_id, limit, cursor, **filters),
        )

    def update_schedule(
        self, p: Principal, schedule_id: str, body: PMSchedulePatch, if_match: int | None
    ) -> PMSchedule:
        require_fleet(p)
        fields = body.model_dump(exclude_unset=True)
        return self._mutate(PM_SCHEDULE, p, schedule_id, lambda _: fields, if_match)

    def delete_schedule(self, p: Principal, schedule_id: str, if_match: int | None) -> None:
        require_fleet(p)
        self._delete(PM_SCHEDULE, self._pinned(PM_SCHEDULE, p, schedule_id, if_match))

    def schedule_forecast(self, p: Principal, schedule_id: str, horizon: timedelta) -> bytes:
        """The coming occurrences within ``horizon``: due time (UTC and local), when the work is generated."""
        if horizon <= timedelta(0) or horizon > MAX_HORIZON:
            raise field_error("horizon", f"between 1d and {MAX_HORIZON.days}d", "query")
        s = PM_SCHEDULE.repository(self.repositories).get(p.tenant_id, schedule_id)
        now = utcnow()
        keys = list(s.targets) or [s.asset_id or SITE_TARGET]
        state = min((s.target_state(k) for k in keys), key=lambda t: t.last_due or _NEVER)
        trigger = s.trigger
        items: list[dict[str, Any]] = []
        if isinstance(trigger, CalendarTrigger):
            for due in forecast(trigger, s.timezone, state, now + horizon):
                generate = generation_time(due, s.lead_time_days)
                items.append(
                    {"due_at": _iso(due), "occurrence": occurrence_key(due, s.timezone), "generate_at": _iso(generate)}
                )
        elif isinstance(trigger, MeterTrigger) and self.meters is not None:
            # each target's reading as of the last run (its reading at creation before any), projected at its
            # rate over the last 7 days; the soonest occurrences first
            assets = [k for k in keys if k != SITE_TARGET] or self._targets(
                s, _SiteAssets(self.repositories, s.tenant_id)
            )
            week = self.meters().readings(s.tenant_id, assets, trigger, now - timedelta(days=7), now)
            coming = [
                (at, threshold, asset)
                for asset in assets
                for threshold, at in meter_forecast(
                    trigger,
                    s.target_state(asset),
                    self._reading(s, asset),
                    week.get(asset, 0.0) / 7,
                    now,
                    now + horizon,
                )
            ]
            for at, threshold, asset in sorted(coming)[:500]:
                items.append({"due_at": _iso(at), "occurrence": meter_key(threshold), "generate_at": _iso(at),
                              "asset_id": asset})  # fmt: skip
        return orjson.dumps(
            {
                "schedule_id": s.id,
                "timezone": s.timezone,
                "horizon_days": horizon.days,
                "trigger": trigger.kind,
                "occurrences": items,
            }  # fmt: skip
        )

    # -- the pm function -------------------------------------------------------------------------------------

    def run(self, tenant_id: str, now: datetime | None = None) -> dict[str, int]:
        """Generate what is due for every enabled schedule of the tenant; counts of what happened.

        Schedules run ``PARALLEL`` at a time (the time is DynamoDB round trips: a conditional put per work order,
        tests/bench/pm.py); a site's assets are listed once per run, whatever the number of its schedules."""
        now = now or utcnow()
        counts = {"schedules": 0, "generated": 0, "existing": 0, "skipped": 0, "deferred": 0, "failed": 0}
        schedules = [s for s in read_all(self.repositories.pm_schedules.list, tenant_id) if s.enabled]
        sites = _SiteAssets(self.repositories, tenant_id)

        def one(schedule: PMSchedule) -> dict[str, int]:
            try:
                return self._run_schedule(schedule, now, sites)
            except Exception:  # one broken schedule (e.g. its procedure deleted) must not stop everyone's
                log.exception("PM schedule failed", extra={"tenant_id": tenant_id, "schedule_id": schedule.id})
                return {"failed": 1}

        with ThreadPoolExecutor(max_workers=PARALLEL, thread_name_prefix="pm") as pool:
            for outcome in pool.map(one, schedules):
                counts["schedules"] += 1
                for key, value in outcome.items():
                    counts[key] += value
        return counts

    def _targets(self, s: PMSchedule, sites: _SiteAssets) -> list[str]:
        if s.asset_id is not None:
            return [s.asset_id]
        if s.asset_type is None or s.site_id is None:
            return [SITE_TARGET]
        return [a.id for a in _of_type(sites, s, s.asset_type) if a.status is not AssetStatus.decommissioned]

    def _run_schedule(self, s: PMSchedule, now: datetime, sites: _SiteAssets | None = None) -> dict[str, int]:
        counts = {"generated": 0, "existing": 0, "skipped": 0, "deferred": 0}
        p = system_principal(s.tenant_id, PM_ACTOR)
        procedure = None
        changes: dict[str, Target] = {}
        site_assets = sites or _SiteAssets(self.repositories, s.tenant_id)
        targets = self._targets(s, site_assets)
        observed = self._observe(s, targets, now)
        completion_based = isinstance(s.trigger, CalendarTrigger) and s.trigger.basis is Basis.completion
        windows: dict[str, bool] = {}
        for target in targets:
            state = s.target_state(target)
            if completion_based:  # when it is due depends on when the last one was done
                state = self._refreshed(s, state)
            reading, read_at = observed.get(target, (None, None))
            due_now = list(self._occurrences(s, state, reading, now))
            if due_now and not completion_based:  # whether the last one is still open matters only now
                state = self._refreshed(s, state)
            for due, key, update in due_now:
                site_wide = s.production_window is not None and s.production_window.kind != "low_wind"
                gate = SITE_TARGET if site_wide else target
                if gate not in windows:  # a site's night (or hours) is the same for all its targets: asked once
                    windows[gate] = self._window_open(s, target, now, site_assets)
                if not windows[gate]:
                    counts["deferred"] += 1
                    break  # outside the production window: the next run inside it generates it
                if s.open_policy is OpenPolicy.skip and state.work_order_id and not state.work_order_done:
                    state = state.model_copy(update={"last_due": due, "skipped": state.skipped + 1, **update})
                    counts["skipped"] += 1
                    continue
                procedure = procedure or self.procedure(p, s.procedure_id)
                wo_id = occurrence_work_order_id(s.tenant_id, s.id, target, key, due)
                made, created = self.work_orders.create_from_procedure(
                    p, procedure, self._work_fields(s, target, key, due), work_order_id=wo_id
                )
                counts["generated" if created else "existing"] += 1
                done = made.status not in ACTIVE_WORK_ORDER_STATUSES
                state = state.model_copy(
                    update={"last_due": due, "work_order_id": made.id, "work_order_done": done, **update}
                )
            if target in observed:
                state = state.model_copy(update={"reading": reading, "reading_at": read_at})
            if state != s.target_state(target):
                changes[target] = state
        if changes or s.last_run_at is None or now - s.last_run_at > timedelta(days=1):
            self._record(s, p, changes, now)
        return counts

    def _observe(self, s: PMSchedule, targets: list[str], now: datetime) -> dict[str, Any]:
        """Per target asset: a meter's reading, or a condition's statistic, from the hourly rollups (none for
        calendars). Additive meters (hours, energy, starts, integrals) add the complete hours since the last
        run to the stored reading, so a run reads an hour or so of rollups, not the schedule's whole life; a
        counter is its increase since the schedule began (rollups are kept 90 days)."""
        trigger = s.trigger
        assets = [t for t in targets if t != SITE_TARGET]
        if isinstance(trigger, CalendarTrigger) or not assets:
            return {}
        if self.meters is None:
            raise ServiceUnavailable("Meter and condition schedules need the telemetry store.")
        meters = self.meters()
        if isinstance(trigger, ConditionTrigger):
            since = now - timedelta(days=trigger.window_days)
            return {a: (v, now) for a, v in meters.statistic(s.tenant_id, assets, trigger, since, now).items()}
        if trigger.meter is MeterKind.counter:
            return {a: (v, now) for a, v in meters.readings(s.tenant_id, assets, trigger, s.created_at, now).items()}
        through = _hour(now)
        out: dict[str, Any] = {}
        by_since: dict[datetime, list[str]] = {}
        for a in assets:
            state = s.target_state(a)
            by_since.setdefault(state.reading_at or _hour(s.created_at), []).append(a)
        for since, group in by_since.items():
            if since >= through:
                out.update({a: (self._reading(s, a), since) for a in group})
                continue
            delta = meters.readings(s.tenant_id, group, trigger, since, through)
            out.update({a: (self._reading(s, a) + delta.get(a, 0.0), through) for a in group})
        return out

    def _window_open(self, s: PMSchedule, target: str, now: datetime, sites: _SiteAssets) -> bool:
        """Whether the schedule's production window (if any) is open now for ``target``."""
        window = s.production_window
        if window is None:
            return True
        if window.kind == "local_hours" or self.meters is None:
            return window.within_local(now, s.timezone)
        if window.kind == "low_wind":
            low = ConditionTrigger(metric="wind_speed_ms", stat="max", condition="<", threshold=window.cut_in_ms)
            assets = [target] if target != SITE_TARGET else [a.id for a in _of_type(sites, s, AssetType.turbine)]
            since = now - timedelta(hours=window.hours)
            speeds = self.meters().statistic(s.tenant_id, assets, low, since, now)
            return bool(speeds) and all(low.holds(v) for v in speeds.values())
        stations = [a.id for a in _of_type(sites, s, AssetType.weather_station)]
        dark = ConditionTrigger(metric="poa_irradiance_wm2", stat="max", condition="<", threshold=10.0)
        light = self.meters().statistic(s.tenant_id, stations, dark, now - timedelta(hours=1), now) if stations else {}
        seen = [v for v in light.values() if v is not None]
        return all(dark.holds(v) for v in seen) if seen else window.within_local(now, s.timezone)

    @staticmethod
    def _reading(s: PMSchedule, asset: str) -> float:
        """A target's meter so far: its stored reading, or the trigger's reading at creation before any."""
        stored = s.target_state(asset).reading
        if stored is not None:
            return stored
        return s.trigger.reading if isinstance(s.trigger, MeterTrigger) else 0.0

    def _occurrences(
        self, s: PMSchedule, state: Target, observed: float | None, now: datetime
    ) -> Iterator[tuple[datetime, str, dict[str, Any]]]:
        """(due, occurrence key, state changes) of what has come due for one target (at most ``CATCH_UP``)."""
        trigger = s.trigger
        if isinstance(trigger, CalendarTrigger):
            current = state
            for _ in range(CATCH_UP):
                due = next_due(trigger, s.timezone, current)
                if due is None or generation_time(due, s.lead_time_days) > now:
                    return
                yield due, occurrence_key(due, s.timezone), {}
                current = current.model_copy(update={"last_due": due, "last_completed_at": None})
        elif isinstance(trigger, MeterTrigger):
            threshold = next_meter_due(trigger, state)
            for _ in range(CATCH_UP):
                if observed is None or observed < threshold:
                    return
                yield now, meter_key(threshold), {"meter_due": threshold + trigger.every}
                threshold += trigger.every
        elif trigger.holds(observed):
            today = occurrence_key(now, s.timezone)[:10]
            if state.last_due is None or occurrence_key(state.last_due, s.timezone)[:10] != today:
                yield now, f"condition:{today}", {}

    def _refreshed(self, s: PMSchedule, state: Target) -> Target:
        """The state once its last work order is finished: done, and when (one read per outstanding order)."""
        if state.work_order_id is None or state.work_order_done:
            return state
        wo = self._work_order(s.tenant_id, state.work_order_id)
        if wo is None or wo.status not in ACTIVE_WORK_ORDER_STATUSES:
            completed = wo.completed_at if wo is not None else None
            return state.model_copy(
                update={"work_order_done": True, "last_completed_at": completed or state.last_completed_at}
            )
        return state

    def _work_order(self, tenant_id: str, wo_id: str) -> WorkOrder | None:
        try:
            return self.repositories.work_orders.get(tenant_id, wo_id)
        except NotFound:
            return None

    @staticmethod
    def _work_fields(s: PMSchedule, target: str, key: str, due: datetime) -> dict[str, Any]:
        return {
            "site_id": s.site_id,
            "asset_id": None if target == SITE_TARGET else target,
            "title": f"{s.name} ({key[:10]})",
            "type": WorkOrderType.preventive,
            "priority": s.priority,
            "assigned_to": s.assigned_to,
            "due_at": due,
            "pm_schedule_id": s.id,
            "pm_occurrence": key,
        }

    def _record(self, s: PMSchedule, p: Principal, changes: dict[str, Target], now: datetime) -> None:
        """The targets' new states and the schedule's next due, re-applied to the newest version on a race."""

        def change(current: PMSchedule) -> dict[str, Any]:
            targets = {**current.targets}
            for key, state in changes.items():
                old = targets.get(key)
                if old is None or (old.last_due or _NEVER) <= (state.last_due or _NEVER):
                    targets[key] = state
            return {
                "targets": {k: v.model_dump() for k, v in targets.items()},
                "next_due": _next_due(current, list(targets.values()) or [Target()]),
                "last_run_at": now,
            }

        try:
            self._mutate(PM_SCHEDULE, p, s.id, change, None)
        except NotFound:
            return  # deleted meanwhile


class _SiteAssets:
    """A site's assets, listed once per run and shared by its schedules (one per asset type, typically)."""

    def __init__(self, repositories: Any, tenant_id: str) -> None:
        self._repositories, self._tenant_id = repositories, tenant_id
        self._sites: dict[str, list[Any]] = {}
        self._lock = threading.Lock()

    def of(self, site_id: str) -> list[Any]:
        with self._lock:  # one listing per site, whichever thread asks first
            if site_id not in self._sites:
                self._sites[site_id] = list(read_all(self._repositories.assets.list, self._tenant_id, site_id=site_id))
            return self._sites[site_id]


def _of_type(sites: _SiteAssets, s: PMSchedule, kind: AssetType) -> list[Any]:
    """The schedule's site's assets of ``kind``, from the run's one listing of the site."""
    return [a for a in sites.of(s.site_id) if a.type is kind] if s.site_id else []


def _hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _next_due(s: PMSchedule, states: list[Target]) -> datetime | None:
    """The earliest next due over the targets (calendar triggers; meters and conditions have no date)."""
    if not isinstance(s.trigger, CalendarTrigger):
        return None
    pending = [d for d in (next_due(s.trigger, s.timezone, t) for t in states) if d is not None]
    return min(pending) if pending else None


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
