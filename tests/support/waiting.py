"""Waiting, bounded, for something another process or thread does (a stream delivering, a replica replaying)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(probe: Callable[[], T], seconds: float = 20.0, interval_s: float = 0.1) -> T:
    """``probe()`` until it returns something truthy or ``seconds`` pass; its last answer either way."""
    deadline = time.monotonic() + seconds
    while True:
        found = probe()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(interval_s)
