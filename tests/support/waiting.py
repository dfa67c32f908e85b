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


def projected(database_url: str, tenant_id: str, rows: dict[str, list[str]], seconds: float = 20.0) -> bool:
    """Whether every id of ``rows`` (read-model table -> ids) reached the read model within ``seconds``."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:

        def arrived() -> bool:
            return all(
                conn.execute(
                    f"SELECT count(*) FROM ops.{table} WHERE tenant_id = %s AND id = ANY(%s) AND NOT deleted",
                    (tenant_id, ids),
                ).fetchone()[0]
                == len(set(ids))
                for table, ids in rows.items()
            )

        return bool(eventually(arrived, seconds, 0.2))
