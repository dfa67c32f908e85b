"""Preventive-maintenance schedules: what work is due when, and the occurrences they generate. No I/O.

A schedule names a procedure, a scope (one asset; every asset of a type at a site; or a site) and one trigger.
This module has the calendar trigger: every N days/weeks/months/years from an anchor, or an RFC 5545 RRULE
(python-dateutil), on the site's wall clock, counted from each due date (``basis: due``) or from when the last
one was done (``basis: completion``). Every occurrence has a key (its local due time) from which the generated
work order's id is derived, so an occurrence is generated once however many runs see it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta
from dateutil.rrule import rrulestr
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .ids import ulid
from .model import AssetType, Entity, Priority

# A local wall-clock time as HH:MM (a string in the API: JSON Schema's "time" format demands a UTC offset, and
# these are the site's local times, which have none).
LocalTime = Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]


def _clock(text: str) -> time:
    return time.fromisoformat(text)


class CalendarUnit(StrEnum):
    days = "days"
    weeks = "weeks"
    months = "months"
    years = "years"


class Basis(StrEnum):
    due = "due"  # the next is due an interval after the last *due date* (a fixed rhythm)
    completion = "completion"  # ... after the last one was *completed* (floating)


class OpenPolicy(StrEnum):
    skip = "skip"  # an occurrence whose previous work order is still open is skipped (recorded, not generated)
    stack = "stack"  # ... is generated anyway


class CalendarTrigger(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["calendar"] = "calendar"
    every: int | None = Field(default=None, ge=1, le=1000, description="With `unit`: every N units.")
    unit: CalendarUnit | None = None
    rrule: str | None = Field(
        default=None,
        max_length=500,
        description="Instead of every/unit: an RFC 5545 RRULE, e.g. FREQ=MONTHLY;BYDAY=1MO (the first Monday).",
    )
    anchor: date = Field(description="The first due date (local); occurrences count from it.")
    at: LocalTime = Field(default="08:00", description="Local time of day the work is due (HH:MM).")
    basis: Basis = Basis.due

    @field_validator("rrule")
    @classmethod
    def _rrule(cls, value: str | None) -> str | None:
        if value is None:
            return None
        text = value.removeprefix("RRULE:").strip()
        try:
            rrulestr(text, dtstart=datetime(2026, 1, 1))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"not an RFC 5545 RRULE: {exc}") from None
        if "COUNT=" not in text.upper() and "FREQ=" not in text.upper():
            raise ValueError("an RRULE needs FREQ")
        return text

    @model_validator(mode="after")
    def _one_rule(self) -> CalendarTrigger:
        interval = self.every is not None and self.unit is not None
        if interval == (self.rrule is not None):
            raise ValueError("give either every and unit, or rrule")
        if self.rrule is not None and self.basis is Basis.completion:
            raise ValueError("basis 'completion' needs every and unit (an RRULE is a fixed rhythm)")
        return self

    def step(self) -> relativedelta:
        assert self.every is not None and self.unit is not None
        return relativedelta(**{self.unit.value: self.every})


class MeterKind(StrEnum):
    """Meters computed from the telemetry rollups, so nobody types a reading (docs/pm.md)."""

    operating_hours = "operating_hours"  # hours whose mean ac_power_kw was above zero
    energy_mwh = "energy_mwh"  # the integral of ac_power_kw
    start_stops = "start_stops"  # hours that began producing after an hour that did not
    counter = "counter"  # the increase of a counter metric (energy_kwh, ...) since the schedule began
    integral = "integral"  # any metric's hourly means summed (its unit x hours)


class MeterTrigger(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["meter"] = "meter"
    meter: MeterKind
    metric: str | None = Field(
        default=None, pattern=r"^[a-z][a-z0-9_]{0,63}$", description="For counter and integral: the metric."
    )
    every: float = Field(gt=0, le=1e9, description="Due every this many meter units (hours, MWh, starts, ...).")
    start: float = Field(
        default=0, ge=0, description="The meter value counting starts from (first due: start + every)."
    )
    reading: float = Field(
        default=0,
        ge=0,
        description="The meter's value when the schedule is created (e.g. a turbine's operating hours so far); the "
        "telemetry adds to it from then on.",
    )

    @model_validator(mode="after")
    def _metric(self) -> MeterTrigger:
        if (self.meter in (MeterKind.counter, MeterKind.integral)) != (self.metric is not None):
            raise ValueError("counter and integral meters need a metric; the others take none")
        return self


class ConditionTrigger(BaseModel):
    """A threshold on a statistic of a metric's hourly means over a trailing window (e.g. heat-sink
    temperature, 7-day p95 > 65 °C): at most one occurrence a local day while it holds."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["condition"] = "condition"
    metric: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    stat: Literal["mean", "min", "max", "p95"] = "mean"
    window_days: int = Field(default=7, ge=1, le=90)
    condition: Literal[">", "<"]
    threshold: float

    def holds(self, value: float | None) -> bool:
        return value is not None and (value > self.threshold if self.condition == ">" else value < self.threshold)


Trigger = Annotated[CalendarTrigger | MeterTrigger | ConditionTrigger, Field(discriminator="kind")]


class ProductionWindow(BaseModel):
    """Generate the work only while producing costs least (no forecast needed): ``night`` at a solar site (its
    weather stations' irradiance under 10 W/m² over the last hour; without a station, 21:00-05:00 local),
    ``low_wind`` for a turbine (its wind speed under ``cut_in_ms`` in each of the last ``hours``), or
    ``local_hours`` (``start``-``end`` on the site's clock, across midnight when end < start). An occurrence
    outside its window waits for the next run inside it."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["night", "low_wind", "local_hours"]
    hours: int = Field(default=3, ge=1, le=72, description="low_wind: the hours the wind must have stayed low.")
    cut_in_ms: float = Field(default=3.0, gt=0, le=30, description="low_wind: the turbine's cut-in speed.")
    start: LocalTime | None = Field(default=None, description="local_hours: from (local time, HH:MM).")
    end: LocalTime | None = Field(default=None, description="local_hours: until (local time, HH:MM).")

    @model_validator(mode="after")
    def _hours(self) -> ProductionWindow:
        if (self.kind == "local_hours") != (self.start is not None and self.end is not None):
            raise ValueError("local_hours needs start and end; the other windows take neither")
        return self

    def within_local(self, moment: datetime, zone: str) -> bool:
        """Whether ``moment`` is inside the window's local hours (``night``: 21:00-05:00 as the fallback)."""
        start, end = (self.start, self.end) if self.kind == "local_hours" else ("21:00", "05:00")
        assert start is not None and end is not None
        local = moment.astimezone(ZoneInfo(zone)).strftime("%H:%M")
        return start <= local < end if start <= end else local >= start or local < end


class Target(BaseModel):
    """Where a schedule's state is kept per target (an asset, or the site for a site-wide schedule)."""

    model_config = ConfigDict(extra="forbid")

    last_due: datetime | None = None  # the last occurrence generated or skipped (its due time)
    last_completed_at: datetime | None = None
    work_order_id: str | None = None  # the last generated work order
    work_order_done: bool = False  # ... and whether it is finished (completed, closed or cancelled)
    skipped: int = 0
    meter_due: float | None = None  # meter triggers: the reading the next occurrence is due at
    reading: float | None = None  # the last meter reading or condition statistic seen
    reading_at: datetime | None = None


class PMScheduleCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    procedure_id: str = Field(min_length=1, max_length=100)
    site_id: str | None = Field(default=None, min_length=1, max_length=100)
    asset_id: str | None = Field(default=None, min_length=1, max_length=100)
    asset_type: AssetType | None = Field(default=None, description="With site_id: every asset of this type there.")
    trigger: Trigger
    priority: Priority = Priority.medium
    assigned_to: str | None = Field(default=None, max_length=200, description="Assignee of the generated work.")
    lead_time_days: int = Field(default=0, ge=0, le=365, description="Generate this many days before it is due.")
    open_policy: OpenPolicy = OpenPolicy.skip
    production_window: ProductionWindow | None = None
    enabled: bool = True


class PMSchedulePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    priority: Priority | None = None
    assigned_to: str | None = Field(default=None, max_length=200)
    lead_time_days: int | None = Field(default=None, ge=0, le=365)
    open_policy: OpenPolicy | None = None
    enabled: bool | None = None


class PMSchedule(Entity):
    name: str
    procedure_id: str
    site_id: str | None = None
    asset_id: str | None = None
    asset_type: AssetType | None = None
    trigger: Trigger
    priority: Priority = Priority.medium
    assigned_to: str | None = None
    lead_time_days: int = 0
    open_policy: OpenPolicy = OpenPolicy.skip
    production_window: ProductionWindow | None = None
    enabled: bool = True
    timezone: str = "UTC"  # the site's, copied when created: occurrences are on its wall clock
    created_by: str | None = None
    targets: dict[str, Target] = Field(default_factory=dict)  # asset id (or "site") -> state
    next_due: datetime | None = None  # the earliest next due over the targets, as of the last run
    last_run_at: datetime | None = None

    @property
    def trigger_kind(self) -> str:
        return self.trigger.kind

    def target_state(self, key: str) -> Target:
        return self.targets.get(key) or Target()


def next_meter_due(trigger: MeterTrigger, state: Target) -> float:
    return state.meter_due if state.meter_due is not None else trigger.start + trigger.every


def meter_key(threshold: float) -> str:
    return f"meter:{threshold:g}"


def meter_forecast(
    trigger: MeterTrigger, state: Target, reading: float, rate_per_day: float, now: datetime, until: datetime
) -> list[tuple[float, datetime]]:
    """(threshold, projected time) of the coming meter occurrences at the recent rate; none without a rate."""
    out: list[tuple[float, datetime]] = []
    threshold = next_meter_due(trigger, state)
    if rate_per_day <= 0:
        return out
    while len(out) < 500:
        at = now + timedelta(days=max(0.0, threshold - reading) / rate_per_day)
        if at > until:
            return out
        out.append((threshold, at))
        threshold += trigger.every
    return out


def occurrences(trigger: CalendarTrigger, zone: str, after: datetime | None = None) -> Iterator[datetime]:
    """The trigger's due times (aware, UTC) on ``zone``'s wall clock, in order, strictly after ``after`` (from
    the anchor when None), for ``basis: due`` (a fixed rhythm)."""
    tz = ZoneInfo(zone)
    if trigger.rrule is not None:
        start = datetime.combine(trigger.anchor, _clock(trigger.at))  # naive local: the rule walks the wall clock
        rule = rrulestr(trigger.rrule, dtstart=start)
        floor = after.astimezone(tz).replace(tzinfo=None) if after else None
        for local in rule.xafter(floor, inc=False) if floor else rule:
            yield local.replace(tzinfo=tz).astimezone(UTC)
        return
    n = 0
    while True:
        local = datetime.combine(trigger.anchor, _clock(trigger.at)) + trigger.step() * n
        due = local.replace(tzinfo=tz).astimezone(UTC)
        if after is None or due > after:
            yield due
        n += 1


def next_due(trigger: CalendarTrigger, zone: str, state: Target) -> datetime | None:
    """The target's next due time: the first occurrence after the last one (``basis: due``), or one interval
    after the last completion on the local clock (``basis: completion``; the anchor before any)."""
    if trigger.basis is Basis.completion and state.last_completed_at is not None:
        tz = ZoneInfo(zone)
        done = state.last_completed_at.astimezone(tz)
        local: datetime = datetime.combine(done.date(), _clock(trigger.at)) + trigger.step()
        return local.replace(tzinfo=tz).astimezone(UTC)
    if trigger.basis is Basis.completion and state.last_due is not None:
        return None  # generated, not completed yet: the next counts from its completion
    found: datetime | None = next(occurrences(trigger, zone, state.last_due), None)
    return found


def forecast(trigger: CalendarTrigger, zone: str, state: Target, until: datetime, limit: int = 500) -> list[datetime]:
    """The coming due times up to ``until`` (for ``basis: completion``, assuming each is done when due)."""
    out: list[datetime] = []
    current = state
    while len(out) < limit:
        due = next_due(trigger, zone, current)
        if due is None or due > until:
            return out
        out.append(due)
        current = Target(last_due=due, last_completed_at=due if trigger.basis is Basis.completion else None)
    return out


def occurrence_key(due: datetime, zone: str) -> str:
    """An occurrence's name: its local due time, e.g. ``2026-12-10T08:00`` (what the work order records)."""
    return due.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%dT%H:%M")


def occurrence_work_order_id(tenant_id: str, schedule_id: str, target: str, key: str, due: datetime) -> str:
    """The id of the work order of one occurrence: a ULID dated by the due time whose randomness is a hash of
    (tenant, schedule, target, occurrence), so every run names the same work order (created once)."""
    digest = hashlib.sha256(f"{tenant_id}|{schedule_id}|{target}|{key}".encode()).digest()
    return f"wo_{ulid(int(due.timestamp() * 1000), digest)}"


SITE_TARGET = "site"


def generation_time(due: datetime, lead_time_days: int) -> datetime:
    return due - timedelta(days=lead_time_days)
