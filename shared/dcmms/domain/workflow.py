"""The work-order state machine: which status may follow which, and nothing else."""

from __future__ import annotations

from .errors import InvalidTransition
from .model import WorkOrderStatus as S

TRANSITIONS: dict[S, frozenset[S]] = {
    S.draft: frozenset({S.open, S.cancelled}),
    S.open: frozenset({S.in_progress, S.on_hold, S.cancelled}),
    S.in_progress: frozenset({S.on_hold, S.completed, S.cancelled}),
    S.on_hold: frozenset({S.in_progress, S.cancelled}),
    S.completed: frozenset({S.closed, S.in_progress}),  # completed -> in_progress is a reopen
    S.closed: frozenset(),
    S.cancelled: frozenset(),
}

TERMINAL = frozenset(s for s, nxt in TRANSITIONS.items() if not nxt)


def allowed_next(current: S) -> list[str]:
    """The statuses reachable from ``current``, in declaration order (stable for error messages)."""
    return [s.value for s in S if s in TRANSITIONS[current]]


def check_transition(current: S, target: S) -> None:
    """Raise InvalidTransition naming the allowed statuses when ``current -> target`` is not an edge."""
    if target not in TRANSITIONS[current]:
        allowed = allowed_next(current)
        detail = f"A work order in status '{current.value}' cannot move to '{target.value}'; " + (
            f"allowed: {', '.join(allowed)}." if allowed else f"'{current.value}' is terminal."
        )
        raise InvalidTransition(detail, current=current.value, requested=target.value, allowed=allowed)
