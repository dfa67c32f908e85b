"""What clients may ask for: validated request bodies. No I/O; unknown fields are refused."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from .model import (
    MAX_TEXT_ANSWER,
    AlertSeverity,
    Answer,
    AssetStatus,
    AssetType,
    Location,
    PowerCurveSpec,
    Priority,
    SiteKind,
    SitePerformance,
    StepKind,
    WorkOrderStatus,
    WorkOrderType,
)
from .procedures import MAX_STEPS, STEP_ID_PATTERN, check_step_limits, duplicate_step_ids
from .rules import Condition, SiteCondition

# The JSON Schema of each command says what its validators accept, so that a client (or a fuzzer) built from
# the OpenAPI document sends what is accepted. What pydantic cannot derive is added by the json_schema_extra
# callables below, which run only when the document is generated, never on the request path.


def _not_null(schema: dict[str, Any]) -> None:
    """A merge patch's null clears a field; the resource needs this one, so null is refused (422)."""
    (kept,) = [option for option in schema.pop("anyOf") if option.get("type") != "null"]
    schema.update(kept)
    schema.pop("default", None)  # not a value to send: absent is what leaves the field as it is


def _visible(schema: dict[str, Any]) -> None:
    """Surrounding whitespace is stripped before the length is checked: some character must be visible."""
    schema["pattern"] = r"\S"


def _timezone_names(schema: dict[str, Any]) -> None:
    """The IANA names ``ZoneInfo`` accepts here (what ``_check_timezone`` asks of a value)."""
    schema["enum"] = sorted(available_timezones())


def _initial_statuses(schema: dict[str, Any]) -> None:
    """What ``WorkOrderCreate._initial_status`` accepts."""
    schema.pop("$ref", None)
    schema.update({"type": "string", "enum": [WorkOrderStatus.draft.value, WorkOrderStatus.open.value]})


# The operand a condition needs, as AlertRule._operand checks it: 'in' takes values, the others a threshold.
_RULE_OPERAND: dict[str, Any] = {
    "anyOf": [
        {
            "properties": {"condition": {"const": Condition.in_set.value}, "values": {"type": "array"}},
            "required": ["values"],
        },
        {
            "properties": {
                "condition": {"enum": [c.value for c in Condition if c is not Condition.in_set]},
                "threshold": {"type": "number"},
            },
            "required": ["threshold"],
        },
    ]
}

Name = Field(min_length=1, max_length=200, json_schema_extra=_visible)
Text = Field(default=None, max_length=10_000)
Ref = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-:.]+$")
OptionalRef = Field(default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-:.]+$")
CustomFields: Any = Field(default_factory=dict, max_length=100)


def _required(*edits: Callable[[dict[str, Any]], None], **constraints: Any) -> Any:
    """A patch field the resource cannot do without: absent leaves it as it is, null is refused."""

    def schema_extra(schema: dict[str, Any]) -> None:
        for edit in (_not_null, *edits):
            edit(schema)

    return Field(default=None, json_schema_extra=schema_extra, **constraints)


class _Command(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _check_timezone(value: str | None) -> str | None:
    if value is None:
        return value
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"'{value}' is not an IANA time zone (e.g. 'Europe/Madrid')") from None
    return value


class SiteCreate(_Command):
    name: str = Name
    kind: SiteKind
    capacity_mw: float = Field(gt=0, le=100_000)
    timezone: str = Field(json_schema_extra=_timezone_names)
    location: Location | None = None
    performance: SitePerformance = Field(default_factory=SitePerformance)

    _tz = field_validator("timezone")(_check_timezone)


class SitePatch(_Command):
    name: str | None = _required(_visible, min_length=1, max_length=200)
    kind: SiteKind | None = _required()
    capacity_mw: float | None = _required(gt=0, le=100_000)
    timezone: str | None = _required(_timezone_names)
    location: Location | None = None
    performance: SitePerformance | None = _required()

    _tz = field_validator("timezone")(_check_timezone)


class AssetCreate(_Command):
    site_id: str = Ref
    parent_id: str | None = OptionalRef
    name: str = Name
    type: AssetType
    status: AssetStatus = AssetStatus.operational
    rated_kw: float | None = Field(default=None, ge=0)
    manufacturer: str | None = Field(default=None, max_length=200)
    model: str | None = Field(default=None, max_length=200)
    serial: str | None = Field(default=None, max_length=200)
    custom_fields: dict[str, Any] = CustomFields
    power_curve: PowerCurveSpec | None = None


class AssetPatch(_Command):
    parent_id: str | None = OptionalRef
    name: str | None = _required(_visible, min_length=1, max_length=200)
    type: AssetType | None = _required()
    status: AssetStatus | None = _required()
    rated_kw: float | None = Field(default=None, ge=0)
    manufacturer: str | None = Field(default=None, max_length=200)
    model: str | None = Field(default=None, max_length=200)
    serial: str | None = Field(default=None, max_length=200)
    custom_fields: dict[str, Any] | None = _required(max_length=100)
    power_curve: PowerCurveSpec | None = None


class ChecklistEntry(BaseModel):
    """A free-form checklist item as clients write it (``{item, done}``); a procedure's steps come from the
    procedure (``procedure_id``) and are answered one by one."""

    item: str = Field(min_length=1, max_length=500)
    done: bool = False


class WorkOrderCreate(_Command):
    site_id: str = Ref
    asset_id: str | None = OptionalRef
    title: str = Name
    description: str | None = Text
    type: WorkOrderType
    priority: Priority = Priority.medium
    # New work orders start as a draft or go straight to open; later moves use transitions.
    status: WorkOrderStatus = Field(default=WorkOrderStatus.draft, json_schema_extra=_initial_statuses)
    assigned_to: str | None = OptionalRef
    due_at: AwareDatetime | None = None
    checklist: list[ChecklistEntry] = Field(default_factory=list, max_length=200)
    custom_fields: dict[str, Any] = CustomFields
    source_alert_id: str | None = OptionalRef
    # the checklist is then the procedure's steps (so ``checklist`` stays empty)
    procedure_id: str | None = OptionalRef

    @field_validator("status")
    @classmethod
    def _initial_status(cls, value: WorkOrderStatus) -> WorkOrderStatus:
        if value not in (WorkOrderStatus.draft, WorkOrderStatus.open):
            raise ValueError("a new work order starts as 'draft' or 'open'; use transitions afterwards")
        return value


class WorkOrderPatch(_Command):
    """Status is not here on purpose: it changes only through ``/transitions``."""

    title: str | None = _required(_visible, min_length=1, max_length=200)
    description: str | None = Text
    type: WorkOrderType | None = _required()
    priority: Priority | None = _required()
    assigned_to: str | None = OptionalRef
    due_at: AwareDatetime | None = None
    checklist: list[ChecklistEntry] | None = _required(max_length=200)
    custom_fields: dict[str, Any] | None = _required(max_length=100)


class Transition(_Command):
    to: WorkOrderStatus
    note: str | None = Field(default=None, max_length=2_000)


class AlertCreate(_Command):
    """An alert raised by an external monitoring system."""

    asset_id: str = Ref
    severity: AlertSeverity
    message: str = Field(min_length=1, max_length=2_000, json_schema_extra=_visible)
    rule_id: str | None = OptionalRef
    raised_at: AwareDatetime | None = None


class AlertPatch(_Command):
    severity: AlertSeverity | None = _required()
    message: str | None = _required(_visible, min_length=1, max_length=2_000)
    work_order_id: str | None = OptionalRef


class AlertAction(_Command):
    note: str | None = Field(default=None, max_length=2_000)


class AlertRuleCreate(_Command):
    model_config = ConfigDict(json_schema_extra=_RULE_OPERAND)

    name: str = Name
    asset_type: AssetType
    metric: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    condition: Condition
    threshold: float | None = None
    values: list[float] | None = Field(default=None, min_length=1, max_length=50)
    for_duration_s: int = Field(default=0, ge=0, le=86_400)
    severity: AlertSeverity
    auto_work_order: bool = False
    resolve_on_clear: bool = True
    enabled: bool = True
    while_site: SiteCondition | None = None


class AlertRulePatch(_Command):
    name: str | None = _required(_visible, min_length=1, max_length=200)
    threshold: float | None = None
    values: list[float] | None = Field(default=None, min_length=1, max_length=50)
    for_duration_s: int | None = _required(ge=0, le=86_400)
    severity: AlertSeverity | None = _required()
    auto_work_order: bool | None = _required()
    resolve_on_clear: bool | None = _required()
    enabled: bool | None = _required()
    while_site: SiteCondition | None = None


def _answer_bounds(schema: dict[str, Any]) -> None:
    """A string answer is stripped, then must be 1..MAX_TEXT_ANSWER characters (ChecklistItem.accept)."""
    for option in schema.get("anyOf", ()):
        if option.get("type") == "string":
            option.update({"minLength": 1, "maxLength": MAX_TEXT_ANSWER, "pattern": r"\S"})


class ChecklistAnswer(_Command):
    """The answer to one step: true/false for a check, a number, a string for text, "pass" or "fail"; null
    clears it."""

    answer: Answer | None = Field(json_schema_extra=_answer_bounds)


# A unit and limits only on number steps (what check_step_limits asks; min <= max is left to validation).
_STEP_LIMITS: dict[str, Any] = {
    "anyOf": [
        {"properties": {"kind": {"const": StepKind.number.value}}, "required": ["kind"]},
        {
            "properties": {
                "kind": {"enum": [k.value for k in StepKind if k is not StepKind.number]},
                "unit": {"type": "null"},
                "min": {"type": "null"},
                "max": {"type": "null"},
            }
        },
    ]
}


class StepDefinition(_Command):
    """A procedure's step as clients write it: without an ``id``, the server assigns ``s<position>``."""

    model_config = ConfigDict(json_schema_extra=_STEP_LIMITS)

    id: str | None = Field(default=None, pattern=STEP_ID_PATTERN)
    title: str = Field(min_length=1, max_length=500, json_schema_extra=_visible)
    kind: StepKind = StepKind.check
    required: bool = True
    unit: str | None = Field(default=None, min_length=1, max_length=32, json_schema_extra=_visible)
    min: float | None = Field(default=None, allow_inf_nan=False)
    max: float | None = Field(default=None, allow_inf_nan=False)
    photo_required: bool = False

    @model_validator(mode="after")
    def _limits(self) -> StepDefinition:
        check_step_limits(self.kind, self.unit, self.min, self.max)
        return self


def _unique_step_ids(steps: list[StepDefinition] | None) -> list[StepDefinition] | None:
    repeated = duplicate_step_ids([s.id for s in steps or ()])
    if repeated:
        raise ValueError(f"step ids must be unique; repeated: {', '.join(repeated)}")
    return steps


Skill = Field(min_length=1, max_length=100, json_schema_extra=_visible)


class ProcedureCreate(_Command):
    name: str = Name
    description: str | None = Text
    steps: list[StepDefinition] = Field(min_length=1, max_length=MAX_STEPS)
    estimated_duration_min: int = Field(ge=1, le=525_600)
    required_skills: list[Annotated[str, Skill]] = Field(default_factory=list, max_length=50)
    asset_types: list[AssetType] = Field(default_factory=list, description="The types it applies to; empty: any.")

    _ids = field_validator("steps")(_unique_step_ids)


class ProcedurePatch(_Command):
    """Any change makes a new version; work orders keep the version they copied."""

    name: str | None = _required(_visible, min_length=1, max_length=200)
    description: str | None = Text
    steps: list[StepDefinition] | None = _required(min_length=1, max_length=MAX_STEPS)
    estimated_duration_min: int | None = _required(ge=1, le=525_600)
    required_skills: list[Annotated[str, Skill]] | None = _required(max_length=50)
    asset_types: list[AssetType] | None = _required()

    _ids = field_validator("steps")(_unique_step_ids)


def patch_fields(patch: BaseModel) -> dict[str, Any]:
    """The fields a client sent (JSON merge-patch: absent = unchanged, null = cleared)."""
    return {name: getattr(patch, name) for name in patch.model_fields_set}


__all__ = [
    "AlertAction",
    "AlertCreate",
    "AlertPatch",
    "AssetCreate",
    "AssetPatch",
    "SiteCreate",
    "SitePatch",
    "Transition",
    "WorkOrderCreate",
    "WorkOrderPatch",
    "patch_fields",
]


class DowntimeReason(StrEnum):
    """Why an asset was down: the categories IEC availability needs (only ``forced`` counts against it)."""

    planned = "planned"
    forced = "forced"
    curtailment = "curtailment"
    grid = "grid"
    weather = "weather"


class DowntimeEdit(_Command):
    reason: DowntimeReason
    note: str | None = Field(default=None, max_length=1000)
