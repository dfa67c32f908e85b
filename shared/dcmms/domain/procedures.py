"""Procedures: named, versioned checklists that preventive (and any) work follows. No I/O.

A procedure's steps are copied into a work order made from it (``checklist``), with the procedure's id and
version; later versions of the procedure leave existing work orders as they were. Steps have a stable id
(given, or ``s1``, ``s2``, ... assigned by the server), which is how a work order's step is answered.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .ids import ulid
from .model import AssetType, ChecklistItem, Entity, StepKind, WorkOrder

STEP_ID_PATTERN = r"^[A-Za-z0-9_\-]{1,64}$"
MAX_STEPS = 200


def check_step_limits(kind: StepKind, unit: str | None, low: float | None, high: float | None) -> None:
    """A unit and limits belong to number steps, and a minimum does not exceed the maximum (ValueError)."""
    if kind is not StepKind.number and (unit is not None or low is not None or high is not None):
        raise ValueError(f"unit, min and max are for number steps, not {kind.value} ones")
    if low is not None and high is not None and low > high:
        raise ValueError(f"min ({low:g}) exceeds max ({high:g})")


def duplicate_step_ids(ids: Sequence[str | None]) -> list[str]:
    """The ids given to more than one step."""
    seen: set[str] = set()
    repeated: set[str] = set()
    for i in ids:
        if i is not None:
            (repeated if i in seen else seen).add(i)
    return sorted(repeated)


def assign_step_ids(steps: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The steps with an id each: a given id is kept; a step without one gets ``s<position>`` (1-based), or
    the next ``s<n>`` no other step has, so a client that sends the steps back unchanged keeps their ids."""
    taken = {s["id"] for s in steps if s.get("id")}
    out: list[dict[str, Any]] = []
    n = 0
    for position, step in enumerate(steps, start=1):
        if step.get("id"):
            out.append(dict(step))
            continue
        candidate = f"s{position}"
        while candidate in taken:
            n += 1
            candidate = f"s{len(steps) + n}"
        taken.add(candidate)
        out.append(dict(step) | {"id": candidate})
    return out


class Step(BaseModel):
    """One step of a procedure. ``photo_required`` is stored for the mobile client; it is not enforced yet."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=STEP_ID_PATTERN)
    title: str = Field(min_length=1, max_length=500)
    kind: StepKind = StepKind.check
    required: bool = True
    unit: str | None = Field(default=None, min_length=1, max_length=32)
    min: float | None = Field(default=None, allow_inf_nan=False)
    max: float | None = Field(default=None, allow_inf_nan=False)
    photo_required: bool = False

    @model_validator(mode="after")
    def _limits(self) -> Step:
        check_step_limits(self.kind, self.unit, self.min, self.max)
        return self

    def checklist_item(self) -> ChecklistItem:
        """The step as a work order's checklist item, unanswered."""
        return ChecklistItem(
            item=self.title,
            id=self.id,
            kind=self.kind,
            required=self.required,
            unit=self.unit,
            min=self.min,
            max=self.max,
            photo_required=self.photo_required,
        )


class Procedure(Entity):
    name: str = Field(min_length=1, max_length=200)
    description: str | None = None
    steps: list[Step] = Field(min_length=1, max_length=MAX_STEPS)
    estimated_duration_min: int = Field(ge=1, le=525_600)
    required_skills: list[str] = Field(default_factory=list, max_length=50)
    asset_types: list[AssetType] = Field(default_factory=list, description="The types it applies to; empty: any.")

    @field_validator("steps")
    @classmethod
    def _unique_ids(cls, steps: list[Step]) -> list[Step]:
        duplicates = duplicate_step_ids([s.id for s in steps])
        if duplicates:
            raise ValueError(f"step ids must be unique; repeated: {', '.join(duplicates)}")
        return steps

    @field_validator("asset_types", "required_skills")
    @classmethod
    def _distinct(cls, values: list[Any]) -> list[Any]:
        return list(dict.fromkeys(values))

    def applies_to(self, asset_type: AssetType | None) -> bool:
        """Whether work on an asset of ``asset_type`` (None: on no asset in particular) may follow it."""
        return not self.asset_types or asset_type is None or asset_type in self.asset_types

    def checklist(self) -> list[ChecklistItem]:
        return [step.checklist_item() for step in self.steps]


def follow_up_id(work_order: WorkOrder, step_id: str) -> str:
    """The id of the follow-up a deviating answer to ``step_id`` raises: derived from the work order and the
    step, so that it is created once however often the step is answered."""
    digest = hashlib.sha256(f"{work_order.tenant_id}|{work_order.id}|{step_id}|follow-up".encode()).digest()
    return f"wo_{ulid(int(work_order.created_at.timestamp() * 1000), digest)}"


def follow_up_title(item: ChecklistItem, deviation: str) -> str:
    """``Follow-up: <step>: <value and limit>``, within a work order title's 200 characters."""
    tail = f": {deviation}"
    room = 200 - len("Follow-up: ") - len(tail)
    title = item.item if len(item.item) <= room else item.item[: max(room - 1, 1)] + "…"
    return f"Follow-up: {title}{tail}"[:200]
