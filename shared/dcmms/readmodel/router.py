"""Read-replica routing: the serverless form of the spec's ``DatabaseRouter`` (§6.3).

Writes go to the primary; dashboards and search to a read replica; analytics (telemetry aggregations,
report generation) to the analytics replica. Every URL defaults to the primary (settings), so one database
serves everything until replicas are configured. A replica is used only while it answers and its replay
lag is within the purpose's bound (1 s for dashboards and search, 5 s for analytics, spec §6.3); else the
query goes to the next replica and finally to the primary. Each replica's state is checked at most once per
``check_interval_s`` (one short query), so routing costs a dict lookup per call. Every choice is a figure
(``record.db_route``: purpose, target, and why a replica was passed over).

Lag is what the replica has received but not replayed: zero when replay is caught up with what arrived,
else the time since the last replayed transaction committed on the primary. An idle primary therefore
reads as no lag, and a replica whose replay is paused while writes go on reads as the pause's length.

A target not known to be up is checked over a connection of its own, not its pool: a pool asked for a
connection to a server that is down waits its whole timeout and retries in the background with growing
delays, which would stall the request doing the check and, once the server is back, the reads. When the
check finds it back, the target gets a fresh pool (the old one, with its stale connections, is closed).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import psycopg
from psycopg_pool import ConnectionPool, PoolClosed, PoolTimeout

from dcmms.clients.postgres_timed import TimedCursor
from dcmms.observability import record

Purpose = Literal["write", "dashboard", "search", "analytics"]
T = TypeVar("T")

REPLICA_MAX_LAG_S = 1.0  # dashboards and search (spec §6.3)
ANALYTICS_MAX_LAG_S = 5.0  # telemetry aggregations and reports
CHECK_INTERVAL_S = 1.0
_LAG = """
SELECT CASE
    WHEN NOT pg_is_in_recovery() THEN 0.0
    WHEN pg_last_wal_receive_lsn() IS NOT NULL AND pg_last_wal_replay_lsn() >= pg_last_wal_receive_lsn() THEN 0.0
    ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 1e9)::float8
END
"""
# SQLSTATEs that mean "this server cannot answer now", not "this query failed": a connection exception
# (class 08), and a backend terminated by a shutdown or refused during startup or shutdown.
_DOWN_STATES = ("57P01", "57P02", "57P03")
# A standby cancelling a query that conflicts with the WAL it replays: the primary answers it instead.
_RECOVERY_CONFLICT_STATES = ("40001", "40P01")


def _unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says the server cannot answer (down, restarting, unreachable, no connection in time).

    Other operational errors (a statement timeout, say) are the query's: they propagate, rather than marking
    a healthy replica down and running the same heavy query again on the primary."""
    if isinstance(exc, PoolTimeout | PoolClosed):
        return True
    if not isinstance(exc, psycopg.OperationalError):
        return False
    state = exc.sqlstate
    return state is None or state.startswith("08") or state in _DOWN_STATES


def _recovery_conflict(exc: BaseException) -> bool:
    return isinstance(exc, psycopg.OperationalError) and exc.sqlstate in _RECOVERY_CONFLICT_STATES


@dataclass
class _Target:
    name: str  # "primary", "replica-0", "analytics"
    url: str
    pool: ConnectionPool
    checked_at: float = float("-inf")
    up: bool = True
    lag_s: float = 0.0
    error: str | None = None
    # One check at a time per target; a slow check of one (a replica timing out) holds up no other.
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


class DatabaseRouter:
    """Pooled connections to the primary and its replicas, chosen per purpose."""

    def __init__(
        self,
        primary_url: str,
        replica_urls: Sequence[str] = (),
        analytics_url: str | None = None,
        *,
        pool_size: int = 4,
        connect_timeout_s: int = 2,
        configure: Callable[[psycopg.Connection], None] | None = None,
        replica_max_lag_s: float = REPLICA_MAX_LAG_S,
        analytics_max_lag_s: float = ANALYTICS_MAX_LAG_S,
        check_interval_s: float = CHECK_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._configure = configure
        self._connect_timeout_s = connect_timeout_s
        self._pool_size = pool_size
        self._check_interval_s = check_interval_s
        self._clock = clock
        self.primary_target = self._target("primary", primary_url)
        replicas = [self._target(f"replica-{n}", url) for n, url in enumerate(u for u in replica_urls if u)]
        analytics = [self._target("analytics", analytics_url)] if analytics_url else replicas
        self._candidates: dict[Purpose, tuple[list[_Target], float]] = {
            "write": ([], 0.0),
            "dashboard": (replicas, replica_max_lag_s),
            "search": (replicas, replica_max_lag_s),
            "analytics": (analytics, analytics_max_lag_s),
        }
        self._targets = [self.primary_target, *replicas, *(analytics if analytics_url else [])]

    def _target(self, name: str, url: str) -> _Target:
        return _Target(name, url, self._pool(name, url))

    def _pool(self, name: str, url: str) -> ConnectionPool:
        def configure(conn: psycopg.Connection) -> None:
            if self._configure is not None:
                self._configure(conn)

        return ConnectionPool(
            url,
            min_size=0 if name != "primary" else 1,
            max_size=self._pool_size,
            open=False,
            timeout=self._connect_timeout_s,
            configure=configure,
            kwargs={"cursor_factory": TimedCursor, "connect_timeout": self._connect_timeout_s},
        )

    # -- choosing -----------------------------------------------------------------------------------------

    def route(self, purpose: Purpose) -> str:
        """The name of the target a ``purpose`` query would go to now (``primary``, ``replica-0``...)."""
        return self._choose(purpose).name

    def _choose(self, purpose: Purpose) -> _Target:
        candidates, bound = self._candidates[purpose]
        for target in candidates:
            self._refresh(target)
            if not target.up:
                record.db_route(purpose, target.name, "down")
            elif target.lag_s > bound:
                record.db_route(purpose, target.name, "lagging")
            else:
                record.db_route(purpose, target.name, "chosen")
                return target
        record.db_route(purpose, "primary", "chosen")
        return self.primary_target

    def _refresh(self, target: _Target, force: bool = False) -> None:
        now = self._clock()
        if not force and now - target.checked_at < self._check_interval_s:
            return
        with target.lock:
            if not force and now - target.checked_at < self._check_interval_s:
                return
            # Through the pool only once a check has found the target up (see the module's docstring).
            pooled = target.up and target.checked_at != float("-inf")
            was_down = not target.up
            target.checked_at = now
            try:
                lag_s = self._check_pooled(target) if pooled else self._check_direct(target)
            except psycopg.Error as exc:  # PoolTimeout too; whatever the cause, the target cannot be used now
                target.up, target.error = False, _describe(exc)
                return
            if was_down:
                self._renew_pool(target)
            target.up, target.lag_s, target.error = True, lag_s, None

    def _check_pooled(self, target: _Target) -> float:
        target.pool.open()
        with target.pool.connection() as conn:
            row = conn.execute(_LAG).fetchone()
        return float(row[0]) if row else 0.0

    def _check_direct(self, target: _Target) -> float:
        with psycopg.connect(target.url, autocommit=True, connect_timeout=self._connect_timeout_s) as conn:
            row = conn.execute(_LAG).fetchone()
        return float(row[0]) if row else 0.0

    def _renew_pool(self, target: _Target) -> None:
        """A fresh pool for a target back from being down; the old one closes in the background (its
        connections predate the outage, and its reconnection attempts may be waiting out a long delay)."""
        old, target.pool = target.pool, self._pool(target.name, target.url)
        threading.Thread(target=old.close, name=f"close-pool-{target.name}", daemon=True).start()

    def _mark_down(self, target: _Target, exc: BaseException, pool: ConnectionPool) -> None:
        """``target`` failed under a query on ``pool``; if that pool is still its own (no check has renewed
        it since), the target is down until its next check."""
        with target.lock:
            if target.pool is pool:
                target.up, target.checked_at, target.error = False, self._clock(), _describe(exc)

    # -- connections --------------------------------------------------------------------------------------

    def primary(self) -> AbstractContextManager[psycopg.Connection]:
        """A connection to the primary; the block is one transaction, committed on clean exit."""
        return self._connection(self.primary_target)

    def connection(self, purpose: Purpose) -> AbstractContextManager[psycopg.Connection]:
        """A connection for ``purpose`` (its block is one transaction); a replica that cannot give one is
        marked down and the primary answers instead."""
        return self._fallback_connection(purpose)

    @contextmanager
    def _fallback_connection(self, purpose: Purpose) -> Iterator[psycopg.Connection]:
        target = self._choose(purpose)
        if target is self.primary_target:
            with self._connection(target) as conn:
                yield conn
            return
        pool = target.pool
        try:
            conn_cm = self._connection(target, pool)
            conn = conn_cm.__enter__()
        except Exception as exc:
            if not _unavailable(exc):
                raise
            self._mark_down(target, exc, pool)
            record.db_route(purpose, "primary", "fallback")
            with self._connection(self.primary_target) as conn:
                yield conn
            return
        try:
            yield conn
        except BaseException as exc:
            if _unavailable(exc):  # the block cannot be run again, but the next ones need not fail too
                self._mark_down(target, exc, pool)
            if not conn_cm.__exit__(type(exc), exc, exc.__traceback__):
                raise
        else:
            conn_cm.__exit__(None, None, None)

    def read(self, purpose: Purpose, query: Callable[[psycopg.Connection], T]) -> T:
        """Run a read-only ``query(conn)`` for ``purpose``; if its replica fails under it (stopped, restarted,
        unreachable), the replica is marked down and the query runs once more on the primary. A query the
        replica cancels for conflicting with its replay runs once more on the primary too (the replica is
        not down); any other error is the query's and propagates."""
        target = self._choose(purpose)
        if target is not self.primary_target:
            pool = target.pool
            try:
                with self._connection(target, pool) as conn:
                    return query(conn)
            except Exception as exc:
                if _unavailable(exc):
                    self._mark_down(target, exc, pool)
                elif not _recovery_conflict(exc):
                    raise
                record.db_route(purpose, "primary", "fallback")
        with self._connection(self.primary_target) as conn:
            return query(conn)

    def _connection(
        self, target: _Target, pool: ConnectionPool | None = None
    ) -> AbstractContextManager[psycopg.Connection]:
        pool = target.pool if pool is None else pool
        pool.open()  # idempotent: pools open on first use, not at construction
        return pool.connection()

    # -- state ----------------------------------------------------------------------------------------------

    def status(self, refresh: bool = True) -> list[dict[str, Any]]:
        """Each target with whether it answers and its replay lag (``GET /health``)."""
        out = []
        for target in self._targets:
            if refresh:
                self._refresh(target, force=target is not self.primary_target)
            out.append({"name": target.name, "up": target.up, "lag_s": round(target.lag_s, 3), "error": target.error})
        return out

    def close(self) -> None:
        for target in self._targets:
            target.pool.close()


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".strip()[:200]
