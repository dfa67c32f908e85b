"""The maintenance domain: entities, enumerations, the work-order state machine and errors. No I/O."""

from .errors import (
    Conflict,
    DomainError,
    FieldIssue,
    Forbidden,
    InvalidTransition,
    NotFound,
    PreconditionFailed,
    RateLimited,
    ServiceUnavailable,
    Unauthorized,
    ValidationFailed,
)
from .workflow import TERMINAL, TRANSITIONS, allowed_next, check_transition

__all__ = [
    "Conflict",
    "DomainError",
    "FieldIssue",
    "Forbidden",
    "InvalidTransition",
    "NotFound",
    "PreconditionFailed",
    "RateLimited",
    "ServiceUnavailable",
    "Unauthorized",
    "ValidationFailed",
    "TERMINAL",
    "TRANSITIONS",
    "allowed_next",
    "check_transition",
]
