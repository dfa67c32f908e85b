"""Entities and enumerations of the maintenance domain. Pure data and rules: no I/O."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    field_validator,
    model_serializer,
)


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(ts: datetime) -> str:
    """Fixed-width UTC timestamp (millisecond precision) so that string order is time order."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


class Role(StrEnum):
    admin = "admin"
    supervisor = "supervisor"
    technician = "technician"
    viewer = "viewer"


class Tier(StrEnum):
    free = "free"
    pro = "pro"
    enterprise = "enterprise"


class SiteKind(StrEnum):
    solar = "solar"
    wind = "wind"
    hybrid = "hybrid"
    storage = "storage"


class AssetType(StrEnum):
    inverter = "inverter"
    string = "string"
    combiner = "combiner"
    meter = "meter"
    transformer = "transformer"
    turbine = "turbine"
    tracker = "tracker"
    weather_station = "weather_station"
    battery = "battery"


class AssetStatus(StrEnum):
    operational = "operational"
    degraded = "degraded"
    down = "down"
    maintenance = "maintenance"
    decommissioned = "decommissioned"


class WorkOrderType(StrEnum):
    corrective = "corrective"
    preventive = "preventive"
    inspection = "inspection"
    emergency = "emergency"


class Priority(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"
    critical = "critical"

    @property
    def rank(self) -> int:
        """Sort rank: higher is more urgent (indexes sort on it, descending)."""
        return _PRIORITY_RANK[self]


_PRIORITY_RANK = {Priority.low: 1, Priority.medium: 2, Priority.high: 3, Priority.critical: 4}


class WorkOrderStatus(StrEnum):
    draft = "draft"
    open = "open"
    in_progress = "in_progress"
    on_hold = "on_hold"
    completed = "completed"
    closed = "closed"
    cancelled = "cancelled"


# "Active" is the spec's partial index (draft, in_progress, on_hold) plus open, which it predates.
ACTIVE_WORK_ORDER_STATUSES = frozenset(
    {WorkOrderStatus.draft, WorkOrderStatus.open, WorkOrderStatus.in_progress, WorkOrderStatus.on_hold}
)
# An assignee's queue: everything not finished (the spec's `status != 'completed'`, minus terminal ones).
ASSIGNED_QUEUE_STATUSES = ACTIVE_WORK_ORDER_STATUSES


class AlertSeverity(StrEnum):
    critical = "critical"
    major = "major"
    minor = "minor"
    warning = "warning"


class AlertStatus(StrEnum):
    active = "active"
    acknowledged = "acknowledged"
    resolved = "resolved"


class Entity(BaseModel):
    # Built on first use, not at import: a cold start answered from the cache never needs them.
    model_config = ConfigDict(defer_build=True)

    id: str
    tenant_id: str
    created_at: datetime
    updated_at: datetime
    version: int = 1


class Location(BaseModel):
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    address: str | None = None


class SitePerformance(BaseModel):
    """How a site's energy KPIs are judged (docs/kpis.md): the performance ratio expected of it (expected
    solar power and lost energy use it), the tariff lost energy is priced at, and the plane-of-array
    irradiance above which a PV asset is expected to produce (time-based availability)."""

    model_config = ConfigDict(extra="forbid")

    expected_pr: float = Field(default=0.8, gt=0, le=1.2)
    tariff_per_mwh: float | None = Field(default=None, ge=0, le=100_000)
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    irradiance_threshold_wm2: float = Field(default=50.0, ge=0, le=1500)


class PowerCurveSpec(BaseModel):
    """A turbine's warranted power curve: (wind speed m/s, power kW) points in strictly ascending wind speed,
    linear between them, nothing below the first point or above ``cut_out_ms`` (docs/kpis.md)."""

    model_config = ConfigDict(extra="forbid")

    points: list[tuple[float, float]] = Field(min_length=2, max_length=64)
    cut_out_ms: float = Field(gt=0, le=60)

    @field_validator("points")
    @classmethod
    def _ascending(cls, points: list[tuple[float, float]]) -> list[tuple[float, float]]:
        speeds = [s for s, _ in points]
        if any(b <= a for a, b in zip(speeds, speeds[1:], strict=False)) or any(s < 0 for s in speeds):
            raise ValueError("wind speeds must be non-negative and strictly ascending")
        if any(kw < 0 for _, kw in points):
            raise ValueError("power must be non-negative")
        return points


class Tenant(BaseModel):
    id: str
    name: str
    created_at: datetime


class User(BaseModel):
    """A person of a tenant. One who signs in has a Cognito account (``status`` is its state, ``id`` its subject);
    one without (``status`` None) only owns API keys. A deleted person stays as a tombstone (``deleted_at``), so
    tokens issued before the deletion are refused until they expire."""

    id: str
    tenant_id: str
    name: str
    email: str
    role: Role
    enabled: bool = True
    status: str | None = None
    created_at: datetime | None = None
    created_by: str | None = None
    updated_at: datetime | None = None
    deleted_at: datetime | None = None


class Credential(StrEnum):
    api_key = "api-key"  # x-api-key: integrations and devices
    token = "token"  # Authorization: Bearer <Cognito token>: a person signed in


class Principal(BaseModel):
    """Who is calling, from an API key or a person's token; every store call is scoped by ``tenant_id``.

    ``key_id`` is what rate limits count against: the key's id, or ``user:<sub>`` for a person.
    ``expires_at``: an API key's expiry (a cached principal is refused after it)."""

    model_config = ConfigDict(frozen=True)

    tenant_id: str
    user_id: str
    role: Role
    tier: Tier
    key_id: str
    credential: Credential = Credential.api_key
    expires_at: datetime | None = None

    @property
    def can_write(self) -> bool:
        return self.role is not Role.viewer

    @property
    def can_manage_fleet(self) -> bool:
        """Sites and assets describe the fleet itself: only admins and supervisors change them."""
        return self.role in (Role.admin, Role.supervisor)


class Site(Entity):
    name: str
    kind: SiteKind
    capacity_mw: float
    timezone: str
    location: Location | None = None
    performance: SitePerformance = Field(default_factory=SitePerformance)


class Asset(Entity):
    site_id: str
    parent_id: str | None = None
    name: str
    type: AssetType
    status: AssetStatus = AssetStatus.operational
    rated_kw: float | None = None
    manufacturer: str | None = None
    model: str | None = None
    serial: str | None = None
    custom_fields: dict[str, Any] = Field(default_factory=dict)
    power_curve: PowerCurveSpec | None = None  # turbines: expected power at the measured wind speed


class StepKind(StrEnum):
    """What a checklist step asks for: a tick, a reading (with a unit and limits), a note, or a verdict."""

    check = "check"
    number = "number"
    text = "text"
    pass_fail = "pass_fail"


Answer = StrictBool | StrictInt | StrictFloat | StrictStr
PASS_FAIL = ("pass", "fail")
MAX_TEXT_ANSWER = 2_000


class ChecklistItem(BaseModel):
    """One line of a work order's checklist; ``item`` is its title.

    A free-form item is ``{item, done}``, as before procedures, and is serialized so. A step copied from a
    procedure also has its ``id`` (what ``PUT .../checklist/{id}`` answers), ``kind``, ``required``, unit and
    limits, and the answer with who gave it and when; ``done`` then says the step is satisfied: a check
    answered true, any other kind answered. A deviating answer (a reading outside its limits, a "fail")
    names the follow-up work order it raised.
    """

    item: str = Field(min_length=1, max_length=500, description="The title.")
    done: bool = False
    id: str | None = Field(default=None, description="The step's id (steps copied from a procedure).")
    kind: StepKind = StepKind.check
    required: bool = False
    unit: str | None = None
    min: float | None = None
    max: float | None = None
    photo_required: bool = False
    answer: Answer | None = None
    answered_by: str | None = None
    answered_at: datetime | None = None
    follow_up_work_order_id: str | None = None

    # No return annotation on purpose: pydantic would document what it names instead of the item's fields.
    @model_serializer(mode="wrap")
    def _free_form_as_before(self, handler: SerializerFunctionWrapHandler):  # type: ignore[no-untyped-def]
        data = handler(self)
        if self.id is None:  # a free-form item: exactly what it always was
            return {name: data[name] for name in ("item", "done") if name in data}
        return data

    def accept(self, answer: Answer | None) -> Answer | None:
        """The answer as stored, or ValueError saying what the step's kind takes (None clears it)."""
        if answer is None:
            return None
        kind = self.kind
        if kind is StepKind.check and isinstance(answer, bool):
            return answer
        if kind is StepKind.number and isinstance(answer, int | float) and not isinstance(answer, bool):
            if not math.isfinite(answer):
                raise ValueError("a number step takes a finite number")
            return answer
        if kind is StepKind.text and isinstance(answer, str):
            text = answer.strip()
            if not text or len(text) > MAX_TEXT_ANSWER:
                raise ValueError(f"a text step takes a non-empty string of at most {MAX_TEXT_ANSWER} characters")
            return text
        if kind is StepKind.pass_fail and answer in PASS_FAIL:
            return answer
        takes = {
            StepKind.check: "true or false",
            StepKind.number: "a number",
            StepKind.text: "a string",
            StepKind.pass_fail: '"pass" or "fail"',
        }[kind]
        raise ValueError(f"step '{self.id}' is a {kind.value} step: it takes {takes}, not {answer!r}")

    def satisfied_by(self, answer: Answer | None) -> bool:
        """Whether ``answer`` does the step: a check must be ticked, any other kind answered."""
        return answer is True if self.kind is StepKind.check else answer is not None

    def deviation(self, answer: Answer | None) -> str | None:
        """How ``answer`` deviates (a reading outside [min, max], a "fail"), or None when it does not."""
        unit = f" {self.unit}" if self.unit else ""
        if self.kind is StepKind.pass_fail and answer == "fail":
            return "fail"
        if self.kind is not StepKind.number or not isinstance(answer, int | float) or isinstance(answer, bool):
            return None
        if self.min is not None and answer < self.min:
            return f"{answer:g}{unit}, below the minimum {self.min:g}{unit}"
        if self.max is not None and answer > self.max:
            return f"{answer:g}{unit}, above the maximum {self.max:g}{unit}"
        return None

    def answered(self, answer: Answer | None, by: str, at: datetime) -> ChecklistItem:
        """The item with ``answer`` recorded (an accepted one: see ``accept``); None clears it."""
        cleared = answer is None
        return self.model_copy(
            update={
                "answer": answer,
                "done": self.satisfied_by(answer),
                "answered_by": None if cleared else by,
                "answered_at": None if cleared else at,
            }
        )


def missing_steps(checklist: list[ChecklistItem]) -> list[ChecklistItem]:
    """The required items not done: what keeps a work order from being completed."""
    return [item for item in checklist if item.required and not item.done]


class StatusChange(BaseModel):
    from_status: WorkOrderStatus = Field(alias="from")
    to: WorkOrderStatus
    at: datetime
    by: str
    note: str | None = None

    model_config = ConfigDict(populate_by_name=True)


class WorkOrder(Entity):
    site_id: str
    asset_id: str | None = None
    title: str
    description: str | None = None
    type: WorkOrderType
    priority: Priority
    status: WorkOrderStatus = WorkOrderStatus.draft
    assigned_to: str | None = None
    due_at: datetime | None = None
    checklist: list[ChecklistItem] = Field(default_factory=list)
    custom_fields: dict[str, Any] = Field(default_factory=dict)
    source_alert_id: str | None = None
    created_by: str | None = None
    completed_at: datetime | None = None
    history: list[StatusChange] = Field(default_factory=list)
    procedure_id: str | None = None  # the procedure the checklist was copied from ...
    procedure_version: int | None = None  # ... at this version
    follow_up_of: str | None = None  # the work order whose checklist answer raised this one
    # preventive work: the schedule that generated it and the occurrence it fulfils (its local due time)
    pm_schedule_id: str | None = None
    pm_occurrence: str | None = None


class Alert(Entity):
    site_id: str
    asset_id: str
    rule_id: str | None = None
    severity: AlertSeverity
    status: AlertStatus = AlertStatus.active
    message: str
    raised_at: datetime
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    acknowledge_note: str | None = None
    resolution_note: str | None = None
    work_order_id: str | None = None


TERMINAL_ALERT = frozenset({AlertStatus.resolved})
