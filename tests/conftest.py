"""Session-wide: every program the tests start must be present; a missing one fails the run, naming it."""

from __future__ import annotations

import pytest

from tools.bootstrap import decide, missing_prerequisites


def pytest_sessionstart(session: pytest.Session) -> None:
    decision = decide("test", missing_prerequisites(), apt_get=False, root=False, sudo=False, check_only=True)
    if decision.fatal:
        raise pytest.UsageError(" ".join(decision.messages))
