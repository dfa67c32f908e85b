"""Session-wide: every program the tests start must be present; a missing one fails the run, naming it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tools.bootstrap import decide, missing_prerequisites

if TYPE_CHECKING:
    from dcmms.observability.prometheus import PrometheusSink


def pytest_sessionstart(session: pytest.Session) -> None:
    decision = decide("test", missing_prerequisites(), apt_get=False, root=False, sudo=False, check_only=True)
    if decision.fatal:
        raise pytest.UsageError(" ".join(decision.messages))


@pytest.fixture
def sink() -> Iterator[PrometheusSink]:
    """A Prometheus sink of the test's own (no process collectors), EMF off: its counters are this test's."""
    from prometheus_client import CollectorRegistry

    from dcmms.observability import record
    from dcmms.observability.prometheus import PrometheusSink

    fresh = PrometheusSink(CollectorRegistry())
    previous = record.configure(emf=False, prometheus=fresh)
    yield fresh
    record.configure(emf=previous[0], prometheus=previous[1])
