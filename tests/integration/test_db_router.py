"""The read-replica router against a real primary and real streaming replicas (pg_basebackup, hot standby).

The replicas' state is real: replay lag comes from pausing a replica's WAL replay while the primary keeps
writing, "down" from stopping a replica. Only when the router looks again is ours: a fake clock, advanced by
``tick()``, decides when a replica is checked, so each assertion sees the check it expects.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from dcmms.observability.prometheus import PrometheusSink
from dcmms.readmodel.router import DatabaseRouter
from dcmms_dev.servers import RunningServer, start_postgres, start_postgres_replica
from tests.support.waiting import eventually

CHECK_INTERVAL_S = 10.0  # in fake seconds: the router checks a replica again only after a tick()
WAIT_S = 10.0


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def tick(self) -> None:
        """Let the router's next choice check every replica again."""
        self.now += CHECK_INTERVAL_S


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("db-router")


@pytest.fixture(scope="module")
def primary(workdir: Path) -> Iterator[RunningServer]:
    server = start_postgres(workdir / "primary")
    with psycopg.connect(server.url, autocommit=True) as conn:
        conn.execute("CREATE TABLE router_probe (id bigserial PRIMARY KEY, note text NOT NULL)")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def replica(primary: RunningServer, workdir: Path) -> Iterator[RunningServer]:
    server = start_postgres_replica(primary, workdir / "replica")
    caught_up(primary, server)  # a transaction replayed: the replica's lag is measured from here on
    yield server
    server.stop()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_router(clock: FakeClock) -> Iterator[Callable[..., DatabaseRouter]]:
    routers: list[DatabaseRouter] = []

    def make(
        primary_url: str, replica_urls: tuple[str, ...] = (), analytics_url: str | None = None, **options: Any
    ) -> DatabaseRouter:
        router = DatabaseRouter(
            primary_url,
            replica_urls,
            analytics_url,
            connect_timeout_s=1,
            check_interval_s=CHECK_INTERVAL_S,
            clock=clock,
            **options,
        )
        routers.append(router)
        return router

    yield make
    for router in routers:
        router.close()


def in_recovery(conn: psycopg.Connection) -> bool:
    row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
    assert row is not None
    return bool(row[0])


def insert(primary: RunningServer) -> str:
    note = uuid.uuid4().hex
    with psycopg.connect(primary.url, autocommit=True) as conn:
        conn.execute("INSERT INTO router_probe (note) VALUES (%s)", (note,))
    return note


def visible(url: str, note: str) -> bool:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM router_probe WHERE note = %s", (note,)).fetchone() is not None


def replica_sql(replica: RunningServer, query: str) -> object:
    with psycopg.connect(replica.url, autocommit=True) as conn:
        row = conn.execute(query).fetchone()
    assert row is not None
    return row[0]


def wait_until(condition: Callable[[], object], what: str, timeout: float = WAIT_S) -> None:
    if not eventually(condition, timeout, 0.02):
        raise AssertionError(f"not within {timeout}s: {what}")


def caught_up(primary: RunningServer, replica: RunningServer) -> None:
    """Write a row on the primary and wait until the replica shows it."""
    note = insert(primary)
    wait_until(lambda: visible(replica.url, note), "the replica replays the primary's latest write")


def routed(sink: PrometheusSink, purpose: str, target: str, outcome: str) -> float:
    labels = {"purpose": purpose, "target": target, "outcome": outcome}
    return sink.registry.get_sample_value("database_route_total", labels) or 0.0


def lag_of(router: DatabaseRouter, name: str) -> float:
    (entry,) = (t for t in router.status() if t["name"] == name)
    assert entry["up"], entry
    return float(entry["lag_s"])


def test_dashboards_and_search_read_the_replica_and_writes_go_to_the_primary(
    primary: RunningServer, replica: RunningServer, make_router, sink: PrometheusSink
) -> None:
    # given a router with one healthy streaming replica
    router = make_router(primary.url, (replica.url,))
    # when dashboards and search route, then they go to the replica, whose sessions are in recovery
    assert router.route("dashboard") == "replica-0"
    assert router.route("search") == "replica-0"
    assert router.read("dashboard", in_recovery) is True
    assert router.read("search", in_recovery) is True
    with router.connection("dashboard") as conn:
        assert in_recovery(conn)
    # and analytics, with no analytics replica of its own, uses the read replica too
    assert router.route("analytics") == "replica-0"
    # and writes go to the primary, which is not in recovery and takes them
    assert router.route("write") == "primary"
    with router.primary() as conn:
        assert not in_recovery(conn)
        conn.execute("INSERT INTO router_probe (note) VALUES ('through the router')")
    # and every choice was counted
    assert routed(sink, "dashboard", "replica-0", "chosen") == 3
    assert routed(sink, "search", "replica-0", "chosen") == 2
    assert routed(sink, "write", "primary", "chosen") == 1
    assert [(t["name"], t["up"]) for t in router.status()] == [("primary", True), ("replica-0", True)]


def test_without_replicas_the_primary_answers_every_purpose(primary: RunningServer, make_router) -> None:
    router = make_router(primary.url)
    for purpose in ("write", "dashboard", "search", "analytics"):
        assert router.route(purpose) == "primary"
        assert router.read(purpose, in_recovery) is False
    assert [t["name"] for t in router.status()] == ["primary"]


def test_rows_written_on_the_primary_reach_the_replica(
    primary: RunningServer, replica: RunningServer, make_router
) -> None:
    router = make_router(primary.url, (replica.url,))
    note = uuid.uuid4().hex
    with router.primary() as conn:
        conn.execute("INSERT INTO router_probe (note) VALUES (%s)", (note,))

    def seen_on_replica(conn: psycopg.Connection) -> tuple[bool, bool]:
        found = conn.execute("SELECT 1 FROM router_probe WHERE note = %s", (note,)).fetchone()
        return in_recovery(conn), found is not None

    wait_until(lambda: router.read("dashboard", seen_on_replica) == (True, True), "the row is read on the replica")


def test_a_replica_whose_replay_lags_is_skipped_past_each_purposes_bound(
    primary: RunningServer, replica: RunningServer, make_router, clock: FakeClock, sink: PrometheusSink
) -> None:
    # given a caught-up replica
    caught_up(primary, replica)
    router = make_router(primary.url, (replica.url,))
    assert router.route("dashboard") == "replica-0"
    replica_sql(replica, "SELECT pg_wal_replay_pause()")
    try:
        # (from here the replica applies no further record, whether already "paused" or "pause requested")
        assert replica_sql(replica, "SELECT pg_get_wal_replay_pause_state()") != "not paused"
        # when its replay is paused and nothing new is written, then it is not behind: still the replica
        clock.tick()
        assert router.route("dashboard") == "replica-0"
        # when the primary goes on writing, then the replica receives WAL it does not replay
        paused_at = time.monotonic()
        insert(primary)
        wait_until(
            lambda: replica_sql(replica, "SELECT pg_last_wal_receive_lsn() > pg_last_wal_replay_lsn()"),
            "the replica receives WAL it does not replay",
        )

        def lagging(purpose: str) -> bool:
            insert(primary)  # writes go on
            clock.tick()
            return router.route(purpose) == "primary"

        # and once its lag passes 1 s, dashboards and search go to the primary...
        wait_until(lambda: lagging("dashboard"), "dashboards leave the lagging replica")
        lag = lag_of(router, "replica-0")
        assert 1.0 < lag < 5.0
        assert router.route("search") == "primary"
        # ...but analytics, whose bound is 5 s, still reads the replica
        assert router.route("analytics") == "replica-0"
        # and between checks the router keeps its last verdict without asking the replica again
        assert router.route("dashboard") == "primary"
        # and past 5 s analytics goes to the primary as well
        wait_until(lambda: lagging("analytics"), "analytics leaves the replica")
        assert lag_of(router, "replica-0") > 5.0
        assert time.monotonic() - paused_at > 3.0  # the lag is the real one, not the fake clock's
        assert routed(sink, "dashboard", "replica-0", "lagging") >= 1
        assert routed(sink, "analytics", "replica-0", "lagging") >= 1
        assert routed(sink, "dashboard", "primary", "chosen") >= 1
    finally:
        replica_sql(replica, "SELECT pg_wal_replay_resume()")
    # when replay resumes and catches up, then every purpose reads the replica again
    caught_up(primary, replica)
    clock.tick()
    assert lag_of(router, "replica-0") < 1.0
    for purpose in ("dashboard", "search", "analytics"):
        assert router.route(purpose) == "replica-0"
    assert router.read("dashboard", in_recovery) is True


def test_a_stopped_replica_is_read_around_and_reported_down(
    primary: RunningServer, workdir: Path, make_router, clock: FakeClock, sink: PrometheusSink
) -> None:
    # given a replica of its own (the others keep theirs), answering through the router
    doomed = start_postgres_replica(primary, workdir / "doomed")
    try:
        caught_up(primary, doomed)
        router = make_router(primary.url, (doomed.url,))
        assert router.read("dashboard", in_recovery) is True
    finally:
        doomed.stop()
    # when it has stopped, and the router has not looked since: the read fails on the replica and the
    # primary answers it
    assert router.read("dashboard", in_recovery) is False
    assert routed(sink, "dashboard", "primary", "fallback") == 1
    # and the replica is down until its next check, without being asked again
    assert router.route("search") == "primary"
    assert routed(sink, "search", "replica-0", "down") == 1
    # and a check finds it down at once (connection refused), not after a pool's timeout
    clock.tick()
    began = time.monotonic()
    assert router.route("dashboard") == "primary"
    assert time.monotonic() - began < 0.5
    assert routed(sink, "dashboard", "replica-0", "down") == 1
    assert router.read("analytics", in_recovery) is False
    replica_status = router.status()[1]
    assert replica_status["name"] == "replica-0"
    assert replica_status["up"] is False and replica_status["error"]


def test_analytics_uses_the_analytics_replica_when_configured(
    primary: RunningServer, replica: RunningServer, make_router, sink: PrometheusSink
) -> None:
    # given no read replica, only an analytics one: analytics reads it, dashboards the primary
    router = make_router(primary.url, (), replica.url)
    assert router.route("analytics") == "analytics"
    assert router.read("analytics", in_recovery) is True
    assert router.route("dashboard") == "primary"
    assert router.read("dashboard", in_recovery) is False
    assert routed(sink, "analytics", "analytics", "chosen") == 2
    assert [t["name"] for t in router.status()] == ["primary", "analytics"]
    # given both, each purpose has its own
    both = make_router(primary.url, (replica.url,), replica.url)
    assert both.route("analytics") == "analytics"
    assert both.route("dashboard") == "replica-0"
    assert [t["name"] for t in both.status()] == ["primary", "replica-0", "analytics"]


def test_telemetry_aggregations_read_the_analytics_replica(
    primary: RunningServer, replica: RunningServer, make_router, sink: PrometheusSink
) -> None:
    """The telemetry store as runtime wires it: writes on the primary, aggregations through ``analytics``."""
    from datetime import UTC, datetime, timedelta

    from dcmms.telemetry.postgres import Reading, TelemetryStore, configure_reader

    router = make_router(primary.url, (), replica.url, configure=configure_reader)  # as runtime builds it
    store = TelemetryStore(primary.url, analytics=lambda query: router.read("analytics", query))
    try:
        hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        store.migrate(now=hour)
        tenant = f"t-{uuid.uuid4().hex[:8]}"
        store.write([Reading(tenant, "inv-1", "ac_power_kw", hour + timedelta(minutes=m), 100.0 + m) for m in range(3)])
        caught_up(primary, replica)
        points = store.aggregate(tenant, "inv-1", "ac_power_kw", hour, hour + timedelta(hours=1), "1h", "avg")
        assert points == [(hour, 101.0)] and points[0][0].tzinfo is not None
        assert routed(sink, "analytics", "analytics", "chosen") >= 1
        assert store.series(tenant, "inv-1", "ac_power_kw", hour, hour + timedelta(hours=1), "1m")[0][1] == 100.0
    finally:
        store.close()
