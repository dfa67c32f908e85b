"""The work-order state machine, edge by edge."""

from __future__ import annotations

import itertools

import pytest

from dcmms.domain import InvalidTransition, allowed_next, check_transition
from dcmms.domain.model import WorkOrderStatus as S

LEGAL = {
    (S.draft, S.open),
    (S.draft, S.cancelled),
    (S.open, S.in_progress),
    (S.open, S.on_hold),
    (S.open, S.cancelled),
    (S.in_progress, S.on_hold),
    (S.in_progress, S.completed),
    (S.in_progress, S.cancelled),
    (S.on_hold, S.in_progress),
    (S.on_hold, S.cancelled),
    (S.completed, S.closed),
    (S.completed, S.in_progress),
}


@pytest.mark.parametrize(("current", "target"), list(itertools.product(S, S)))
def test_every_pair(current: S, target: S) -> None:
    if (current, target) in LEGAL:
        check_transition(current, target)
    else:
        with pytest.raises(InvalidTransition) as err:
            check_transition(current, target)
        assert err.value.extra["allowed"] == allowed_next(current)
        assert err.value.status == 409


def test_terminal_states_allow_nothing() -> None:
    assert allowed_next(S.closed) == [] and allowed_next(S.cancelled) == []
    with pytest.raises(InvalidTransition, match="terminal"):
        check_transition(S.cancelled, S.open)


def test_allowed_lists_are_in_declaration_order() -> None:
    assert allowed_next(S.open) == ["in_progress", "on_hold", "cancelled"]
    assert allowed_next(S.completed) == ["in_progress", "closed"]
