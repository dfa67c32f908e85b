"""Entities and enumerations of the maintenance domain. Pure data and rules: no I/O."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


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
    id: str
    tenant_id: str
    name: str
    email: str
    role: Role


class Principal(BaseModel):
    """Who is calling: resolved from an API key; every store call is scoped by ``tenant_id``."""

    model_config = ConfigDict(frozen=True)

    tenant_id: str
    user_id: str
    role: Role
    tier: Tier
    key_id: str

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


class ChecklistItem(BaseModel):
    item: str = Field(min_length=1, max_length=500)
    done: bool = False


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
