"""Rate-limit policy: which limits exist and which requests they apply to, loaded from JSON.

Limits are configuration so that they can change without a code review of the limiter; the shipped
defaults (``limits.json``) are the spec's §8.1 numbers.
"""

from __future__ import annotations

import json
import os
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from dcmms.domain.model import Tier

DEFAULT_POLICY_FILE = Path(__file__).with_name("limits.json")
# Safe both inside a structured-field String (no escaping needed) and inside a Redis key.
_RULE_NAME = r"^[a-z0-9][a-z0-9._-]{0,62}$"
_US_PER_S = 1_000_000


class PolicyError(ValueError):
    """The policy cannot be used: unreadable, not JSON, or not a valid set of limits."""


class Scope(StrEnum):
    """Whose requests share one allowance."""

    key = "key"  # one API key: the tier limits
    user = "user"
    tenant = "tenant"


class LimitRule(BaseModel):
    """``limit`` requests per ``period_s`` seconds, of which ``burst`` may arrive back to back.

    An endpoint rule applies to requests whose path is ``path`` or below it (whole segments) and, if
    ``methods`` is set, whose method is one of them. ``fail_closed`` refuses its requests while Redis is
    unreachable instead of letting them through unchecked.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=_RULE_NAME)
    limit: int = Field(gt=0)
    period_s: int = Field(gt=0)
    burst: int = Field(gt=0)
    scope: Scope = Scope.user
    path: str | None = None
    methods: frozenset[str] | None = None
    fail_closed: bool = False

    @model_validator(mode="before")
    @classmethod
    def _burst_defaults_to_limit(cls, data: Any) -> Any:
        """Without a burst, a whole period's allowance may be spent at once, as with a fixed window."""
        if isinstance(data, dict) and "burst" not in data and "limit" in data:
            return {**data, "burst": data["limit"]}
        return data

    @field_validator("path")
    @classmethod
    def _path_is_absolute(cls, path: str | None) -> str | None:
        if path is None:
            return None
        if not path.startswith("/"):
            raise ValueError("must start with '/'")
        return path.rstrip("/")  # "/api/v1/search/" and "/api/v1/search" are the same rule

    @field_validator("methods")
    @classmethod
    def _methods_are_upper_case(cls, methods: frozenset[str] | None) -> frozenset[str] | None:
        if methods is None:
            return None
        if not methods:
            raise ValueError("must name at least one method, or be left out to match every method")
        return frozenset(m.upper() for m in methods)

    @model_validator(mode="after")
    def _burst_within_limit(self) -> LimitRule:
        if self.burst > self.limit:
            raise ValueError(f"burst ({self.burst}) must not exceed limit ({self.limit})")
        return self

    @property
    def emission_interval_us(self) -> int:
        """GCRA's T: the steady-state spacing between requests, in microseconds."""
        return max(1, round(self.period_s * _US_PER_S / self.limit))

    @property
    def tolerance_us(self) -> int:
        """GCRA's tau: how far ahead of the steady rate a client may run, i.e. ``burst`` requests' worth."""
        return self.emission_interval_us * self.burst

    def matches(self, method: str, path: str) -> bool:
        """Whether this endpoint rule applies; ``path`` is a raw path or route template."""
        if self.path is None or (self.methods is not None and method.upper() not in self.methods):
            return False
        prefix = self.path
        # Whole segments only: /api/v1/search must not match /api/v1/searches.
        return path.startswith(prefix) and (len(path) == len(prefix) or path[len(prefix)] in "/?")


class RatePolicy(BaseModel):
    """One limit per tier (per API key), and endpoint limits that apply on top of it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tiers: dict[Tier, LimitRule]
    endpoints: tuple[LimitRule, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _tier_rules_are_per_key(cls, data: Any) -> Any:
        """Tier entries need neither a name (the tier's is used) nor a scope (always the API key)."""
        if isinstance(data, dict) and isinstance(data.get("tiers"), dict):
            tiers = {
                tier: {"name": tier, "scope": Scope.key.value, **rule} if isinstance(rule, dict) else rule
                for tier, rule in data["tiers"].items()
            }
            return {**data, "tiers": tiers}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> RatePolicy:
        missing = [tier.value for tier in Tier if tier not in self.tiers]
        if missing:
            raise ValueError(f"every tier needs a limit; missing: {', '.join(missing)}")
        for tier, rule in self.tiers.items():
            if rule.scope is not Scope.key or rule.path is not None or rule.methods is not None:
                raise ValueError(f"tier {tier.value!r}: a tier limit is per API key, without path or methods")
        for rule in self.endpoints:
            if rule.path is None:
                raise ValueError(f"endpoint rule {rule.name!r} needs a path")
        names = [rule.name for rule in (*self.tiers.values(), *self.endpoints)]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"rule names must be unique (they name the policies in headers): {duplicates}")
        return self

    def rules_for(self, tier: Tier, method: str, path: str) -> tuple[LimitRule, ...]:
        """The tier's limit first, then every endpoint rule matching the request."""
        return (self.tiers[tier], *(rule for rule in self.endpoints if rule.matches(method, path)))


def load_policy(source: str | os.PathLike[str] | None = None) -> RatePolicy:
    """The policy from ``source``: None for the shipped defaults, a JSON document, or a path to one."""
    if source is None:
        origin, text = str(DEFAULT_POLICY_FILE), DEFAULT_POLICY_FILE.read_text()
    elif isinstance(source, str) and source.lstrip().startswith("{"):
        origin, text = "JSON string", source
    else:
        origin = os.fspath(source)
        try:
            text = Path(origin).read_text()
        except OSError as exc:
            raise PolicyError(f"cannot read rate-limit policy {origin}: {exc.strerror or exc}") from exc
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PolicyError(f"rate-limit policy ({origin}) is not valid JSON: {exc}") from exc
    try:
        return RatePolicy.model_validate(document)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'policy'}: {e['msg']}" for e in exc.errors())
        raise PolicyError(f"invalid rate-limit policy ({origin}): {problems}") from exc
