"""Alert rules: a condition on one metric of one asset type, held for a duration. No I/O."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .model import AlertSeverity, AssetType, Entity, Priority


class Condition(StrEnum):
    gt = ">"
    lt = "<"
    eq = "=="
    in_set = "in"


class SiteCondition(BaseModel):
    """A condition on the latest value of a site-level metric (reported by any asset of the site, e.g. the
    weather station's irradiance), required for the rule's own condition to count."""

    model_config = ConfigDict(extra="forbid")

    metric: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    condition: Literal[">", "<"]
    threshold: float
    max_age_s: int = Field(default=900, ge=1, le=86_400)  # older site values are treated as unknown

    def holds(self, value: float) -> bool:
        return value > self.threshold if self.condition == ">" else value < self.threshold


class AlertRule(Entity):
    name: str = Field(min_length=1, max_length=200)
    asset_type: AssetType
    metric: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    condition: Condition
    threshold: float | None = None  # for >, <, ==
    values: list[float] | None = None  # for "in" (e.g. fault states)
    for_duration_s: int = Field(default=0, ge=0, le=86_400)
    severity: AlertSeverity
    auto_work_order: bool = False
    resolve_on_clear: bool = True
    enabled: bool = True
    # e.g. "no output while irradiance > 200 W/m²": ac_power_kw < 1 only counts while the site is sunny
    while_site: SiteCondition | None = None

    @model_validator(mode="after")
    def _operand(self) -> AlertRule:
        if self.condition is Condition.in_set and not self.values:
            raise ValueError("condition 'in' needs a non-empty 'values' list")
        if self.condition is not Condition.in_set and self.threshold is None:
            raise ValueError(f"condition '{self.condition.value}' needs a 'threshold'")
        return self

    def holds(self, value: float) -> bool:
        if self.condition is Condition.gt:
            return value > self.threshold  # type: ignore[operator]
        if self.condition is Condition.lt:
            return value < self.threshold  # type: ignore[operator]
        if self.condition is Condition.eq:
            return value == self.threshold
        return value in (self.values or ())

    def due(self, since: datetime, now: datetime) -> bool:
        """True once the condition has held for ``for_duration_s``."""
        return (now - since).total_seconds() >= self.for_duration_s


# Work orders raised by a rule take their urgency from the alert's severity.
PRIORITY_FOR_SEVERITY = {
    AlertSeverity.critical: Priority.critical,
    AlertSeverity.major: Priority.high,
    AlertSeverity.minor: Priority.medium,
    AlertSeverity.warning: Priority.low,
}
