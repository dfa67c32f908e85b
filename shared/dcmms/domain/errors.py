"""The domain's exceptions. The API maps each to one HTTP status in exactly one place."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal


class DomainError(Exception):
    """Base class: ``status`` and ``title`` describe the problem; ``extra`` adds problem members."""

    status = 400
    title = "Bad request"
    type_slug = "bad-request"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class Unauthorized(DomainError):
    status, title, type_slug = 401, "Unauthorized", "unauthorized"


class Forbidden(DomainError):
    status, title, type_slug = 403, "Forbidden", "forbidden"


class NotFound(DomainError):
    status, title, type_slug = 404, "Not found", "not-found"


class Conflict(DomainError):
    status, title, type_slug = 409, "Conflict", "conflict"


class InvalidTransition(Conflict):
    title, type_slug = "Invalid transition", "invalid-transition"


class PreconditionFailed(DomainError):
    status, title, type_slug = 412, "Precondition failed", "precondition-failed"


@dataclass(frozen=True)
class FieldIssue:
    """One invalid input, named where it sits in its part of the request: ``field`` is e.g. ``parent_id`` or
    ``records.3.tenant_id``, ``location`` is ``body`` or ``query``. The API spells it ``<location>.<field>``."""

    field: str
    message: str
    location: Literal["body", "query"] = "body"


class ValidationFailed(DomainError):
    """Input that parsed but breaks a rule; ``errors`` names the fields, as request validation does: each a
    FieldIssue, or a ``{"field": "query.cursor", "message": ...}`` already spelled as the API answers it."""

    status, title, type_slug = 422, "Validation failed", "validation-failed"

    def __init__(self, detail: str, errors: Sequence[FieldIssue | dict[str, str]]) -> None:
        super().__init__(detail, errors=list(errors))


class RateLimited(DomainError):
    status, title, type_slug = 429, "Too many requests", "rate-limited"


class ServiceUnavailable(DomainError):
    status, title, type_slug = 503, "Service unavailable", "service-unavailable"
