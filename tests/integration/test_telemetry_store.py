"""The PostgreSQL telemetry store against a real PostgreSQL: partitions, de-duplication, rollups, retention.

One server for the module; tests keep apart by tenant id and by the days they write, all relative to a
fixed NOW so that the retention cut-offs are known.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest

from dcmms.telemetry.postgres import Reading, Resolution, TelemetryStore
from dcmms_dev.servers import RunningServer, start_postgres

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
T10 = datetime(2026, 3, 10, 10, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = start_postgres(tmp_path_factory.mktemp("telemetry-pg"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def store(postgres: RunningServer) -> Iterator[TelemetryStore]:
    telemetry = TelemetryStore(postgres.url, pool_size=4)
    telemetry.migrate(now=NOW)
    yield telemetry
    telemetry.close()


@pytest.fixture
def db(postgres: RunningServer) -> Iterator[psycopg.Connection]:
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        yield conn


@pytest.fixture
def tenant() -> str:
    return f"t-{uuid.uuid4().hex[:8]}"


def at(hour: int, minute: int, second: int = 0, day: datetime = T10) -> datetime:
    return day.replace(hour=hour, minute=minute, second=second)


def partitions(db: psycopg.Connection, table: str) -> set[str]:
    rows = db.execute("SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = %s::regclass", (table,))
    return {name for (name,) in rows}


def rollup_rows(db: psycopg.Connection, table: str, tenant: str) -> list[tuple[Any, ...]]:
    return db.execute(
        f"SELECT r.* FROM {table} r JOIN telemetry_series s USING (series_id) WHERE s.tenant_id = %s ORDER BY 1, 2",
        (tenant,),
    ).fetchall()


def assert_rollups_match_raw(db: psycopg.Connection, tenant: str) -> None:
    """The incrementally kept rollups equal a full recompute from the raw rows."""
    for table, width in [("telemetry_1m", "1 minute"), ("telemetry_1h", "1 hour")]:
        recomputed = db.execute(
            """
            SELECT series_id, date_bin(%s, ts, '2000-01-01 00:00:00+00') AS bucket, count(*), sum(value),
                   min(value), max(value), (array_agg(value ORDER BY ts DESC))[1], max(ts)
            FROM telemetry_raw JOIN telemetry_series s USING (series_id) WHERE s.tenant_id = %s
            GROUP BY 1, 2 ORDER BY 1, 2
            """,
            (width, tenant),
        ).fetchall()
        assert rollup_rows(db, table, tenant) == recomputed, table


def test_migrate_is_idempotent_and_partitions_raw_and_rollups_by_day(
    store: TelemetryStore, db: psycopg.Connection
) -> None:
    # when
    store.migrate(now=NOW)
    store.migrate(now=NOW)

    # then every table is range-partitioned, with one partition per day from today to three days ahead
    kinds: dict[str, str] = dict(
        db.execute(
            "SELECT c.relname, p.partstrat FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid"
        ).fetchall()
    )
    assert kinds == {"telemetry_raw": "r", "telemetry_1m": "r", "telemetry_1h": "r"}
    for table in ("telemetry_raw", "telemetry_1m", "telemetry_1h"):
        expected = {f"{table}_p{(NOW + timedelta(days=n)):%Y%m%d}" for n in range(4)}
        assert expected <= partitions(db, table)
    # and each raw partition has its own (series_id, ts) primary key and a BRIN index on ts
    indexes = db.execute(
        "SELECT indexdef FROM pg_indexes WHERE tablename = %s", (f"telemetry_raw_p{NOW:%Y%m%d}",)
    ).fetchall()
    definitions = " | ".join(definition for (definition,) in indexes)
    assert "UNIQUE INDEX" in definitions and "btree (series_id, ts)" in definitions
    assert "USING brin (ts)" in definitions


def test_write_counts_new_rows_and_a_redelivered_batch_changes_nothing(
    store: TelemetryStore, db: psycopg.Connection, tenant: str
) -> None:
    # given a batch over two minutes and two hours
    batch = [
        Reading(tenant, "inv-1", metric, at(hour, minute, second), float(hour + minute + second))
        for metric in ("power_kw", "temp_c")
        for hour, minute in [(10, 59), (11, 0)]
        for second in (0, 30)
    ]

    # when it is written, then re-delivered
    assert store.write(batch) == 8
    rollups = {table: rollup_rows(db, table, tenant) for table in ("telemetry_1m", "telemetry_1h")}
    assert store.write(batch) == 0

    # then nothing was stored or counted twice
    assert {table: rollup_rows(db, table, tenant) for table in rollups} == rollups
    assert sum(row[2] for row in rollups["telemetry_1m"]) == 8
    assert_rollups_match_raw(db, tenant)

    # and a batch overlapping the stored one stores and counts only its new rows, duplicates within it once
    extra = Reading(tenant, "inv-1", "power_kw", at(11, 0, 45), 99.0)
    assert store.write([*batch[:3], extra, extra]) == 1
    assert_rollups_match_raw(db, tenant)


def test_a_batch_streamed_in_several_copy_chunks_that_hits_a_stored_row_early(
    store: TelemetryStore, db: psycopg.Connection, tenant: str
) -> None:
    # given one stored reading, and a batch of 30,000 (several COPY chunks) whose first asset repeats it
    stored = Reading(tenant, "inv-000", "power_kw", at(10, 0), 1.0)
    assert store.write([stored]) == 1
    batch = [stored] + [
        Reading(tenant, f"inv-{a:03d}", metric, at(10, 0, s) + timedelta(minutes=m), float(a + s))
        for a in range(50)
        for metric in ("power_kw", "temp_c", "volt_v")
        for m in range(4)
        for s in range(0, 60, 1)
        if (a, metric, m, s) != (0, "power_kw", 0, 0)
    ]
    assert len(batch) == 36_000
    # when it is written: the straight COPY fails on the first chunk and the rest is still staged
    # then every new row is stored once and the rollups agree with the raw rows
    assert store.write(batch) == 35_999
    assert db.execute(
        "SELECT count(*) FROM telemetry_raw JOIN telemetry_series USING (series_id) WHERE tenant_id = %s", (tenant,)
    ).fetchone() == (36_000,)
    assert_rollups_match_raw(db, tenant)


def test_series_averages_raw_minute_and_hour(store: TelemetryStore, db: psycopg.Connection, tenant: str) -> None:
    # given readings over two minutes of hour 10 and one of hour 11, written out of order in two batches
    readings = {
        at(10, 58, 10): 2.0,
        at(10, 58, 50): 4.0,
        at(10, 59, 20): 6.0,
        at(11, 0, 0): 10.0,
        at(11, 0, 30): 20.0,
    }
    rows = [Reading(tenant, "wtg-7", "wind_ms", ts, value) for ts, value in readings.items()]
    store.write([rows[4], rows[0]])
    store.write([rows[1], rows[2], rows[3]])

    def series(resolution: Resolution, start: datetime = T10, end: datetime = NOW) -> list[tuple[datetime, float]]:
        return store.series(tenant, "wtg-7", "wind_ms", start, end, resolution)

    # then
    assert series("raw") == sorted(readings.items())
    assert series("1m") == [(at(10, 58), 3.0), (at(10, 59), 6.0), (at(11, 0), 15.0)]
    assert series("1h") == [(at(10, 0), 4.0), (at(11, 0), 15.0)]
    # the range is half-open, and rollups return the buckets that start in it
    assert series("raw", at(10, 58, 50), at(11, 0, 30)) == [
        (at(10, 58, 50), 4.0),
        (at(10, 59, 20), 6.0),
        (at(11, 0), 10.0),
    ]
    assert series("1m", at(10, 58, 30), at(11, 0, 30)) == [(at(10, 59), 6.0), (at(11, 0), 15.0)]
    assert all(ts.utcoffset() == timedelta(0) for ts, _ in series("raw"))
    assert store.series(tenant, "wtg-7", "no-such-metric", at(10, 0), at(12, 0)) == []
    with pytest.raises(ValueError, match="resolution"):
        series("5m")  # type: ignore[arg-type]
    assert_rollups_match_raw(db, tenant)


def test_latest_is_the_newest_reading_per_metric_even_when_older_data_arrives_late(
    store: TelemetryStore, tenant: str
) -> None:
    # given
    store.write(
        [
            Reading(tenant, "inv-2", "power_kw", at(11, 0, 30), 20.0),
            Reading(tenant, "inv-2", "temp_c", at(9, 15), 41.5),
        ]
    )

    # when an older power reading arrives afterwards
    store.write([Reading(tenant, "inv-2", "power_kw", at(11, 0, 0), 10.0)])

    # then
    assert store.latest(tenant, "inv-2") == {"power_kw": (at(11, 0, 30), 20.0), "temp_c": (at(9, 15), 41.5)}
    assert store.latest(tenant, "no-such-asset") == {}


def test_a_write_for_a_day_without_partition_creates_it(
    store: TelemetryStore, db: psycopg.Connection, tenant: str
) -> None:
    # given a day beyond what migrate created
    later = NOW + timedelta(days=10)
    name = f"telemetry_raw_p{later:%Y%m%d}"
    assert name not in partitions(db, "telemetry_raw")

    # when
    assert store.write([Reading(tenant, "inv-3", "power_kw", later, 5.0)]) == 1

    # then the day's raw and rollup partitions exist and hold the reading
    assert name in partitions(db, "telemetry_raw")
    assert f"telemetry_1h_p{later:%Y%m%d}" in partitions(db, "telemetry_1h")
    assert store.series(tenant, "inv-3", "power_kw", later, later + timedelta(minutes=1), "1m") == [(later, 5.0)]


def test_retention_drops_old_raw_days_and_old_rollups(
    store: TelemetryStore, postgres: RunningServer, db: psycopg.Connection, tenant: str
) -> None:
    # given readings from today, 10 days ago and 100 days ago
    recent, old, ancient = NOW - timedelta(hours=1), NOW - timedelta(days=10), NOW - timedelta(days=100)
    store.write([Reading(tenant, "inv-4", "power_kw", ts, 1.0) for ts in (recent, old, ancient)])

    def stored(resolution: Resolution, ts: datetime) -> bool:
        found = store.series(tenant, "inv-4", "power_kw", ts - timedelta(hours=1), ts + timedelta(hours=1), resolution)
        return bool(found)

    # when
    dropped = store.apply_retention(now=NOW)

    # then raw keeps 7 days and rollups 90, by whole daily partitions
    assert dropped == {"telemetry_raw": 2, "telemetry_1m": 1, "telemetry_1h": 1}
    assert f"telemetry_raw_p{old:%Y%m%d}" not in partitions(db, "telemetry_raw")
    assert f"telemetry_1m_p{ancient:%Y%m%d}" not in partitions(db, "telemetry_1m")
    assert [stored(resolution, recent) for resolution in ("raw", "1m", "1h")] == [True, True, True]
    assert [stored(resolution, old) for resolution in ("raw", "1m", "1h")] == [False, True, True]
    assert [stored(resolution, ancient) for resolution in ("raw", "1m", "1h")] == [False, False, False]
    assert store.apply_retention(now=NOW) == {"telemetry_raw": 0, "telemetry_1m": 0, "telemetry_1h": 0}

    # and late data for a dropped day recreates it, also in a process whose cache still lists the day
    other = TelemetryStore(postgres.url, pool_size=1)
    try:
        other.write([Reading(tenant, "inv-4", "power_kw", old + timedelta(minutes=1), 2.0)])
        store.apply_retention(now=NOW)
        assert other.write([Reading(tenant, "inv-4", "power_kw", old + timedelta(minutes=2), 3.0)]) == 1
    finally:
        other.close()
    assert f"telemetry_raw_p{old:%Y%m%d}" in partitions(db, "telemetry_raw")


def test_tenants_are_isolated(store: TelemetryStore, db: psycopg.Connection) -> None:
    # given the same asset and metric under two tenants
    first, second = f"t-{uuid.uuid4().hex[:8]}", f"t-{uuid.uuid4().hex[:8]}"
    ts = at(10, 30)

    # when
    assert (
        store.write([Reading(first, "inv-1", "power_kw", ts, 1.0), Reading(second, "inv-1", "power_kw", ts, 2.0)]) == 2
    )

    # then they are two series that never see each other's values
    ids = db.execute(
        "SELECT series_id FROM telemetry_series WHERE tenant_id = ANY(%s) AND asset_id = 'inv-1'", ([first, second],)
    ).fetchall()
    assert len(set(ids)) == 2
    assert store.series(first, "inv-1", "power_kw", at(10, 0), at(11, 0)) == [(ts, 1.0)]
    assert store.series(second, "inv-1", "power_kw", at(10, 0), at(11, 0), "1h") == [(at(10, 0), 2.0)]
    assert store.latest(first, "inv-1") == {"power_kw": (ts, 1.0)}


def test_concurrent_overlapping_writers_store_and_count_each_row_once(
    store: TelemetryStore, db: psycopg.Connection, tenant: str
) -> None:
    # given four writers delivering overlapping batches of new series at once
    readings = [
        Reading(tenant, f"inv-{a}", "power_kw", at(10, minute, second), float(a * minute + second))
        for a in range(20)
        for minute in (1, 2)
        for second in range(0, 60, 10)
    ]
    batches = [readings[start : start + 120] for start in (0, 60, 120, 0, 60, 120)]

    # when
    with ThreadPoolExecutor(4) as pool:
        stored = sum(pool.map(store.write, batches))

    # then
    assert stored == len(readings)
    assert_rollups_match_raw(db, tenant)


def test_naive_timestamps_are_refused(store: TelemetryStore, tenant: str) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        store.write([Reading(tenant, "inv-1", "power_kw", datetime(2026, 3, 10, 10, 0), 1.0)])
    assert store.write([]) == 0


def test_a_reading_lands_in_the_partition_of_its_utc_day(
    store: TelemetryStore, db: psycopg.Connection, tenant: str
) -> None:
    # given 23:30 UTC on the 20th, expressed as 01:30 on the 21st in Helsinki (+02:00)
    ts = datetime(2026, 3, 20, 23, 30, tzinfo=UTC).astimezone(ZoneInfo("Europe/Helsinki"))
    assert ts.day == 21

    # when
    store.write([Reading(tenant, "inv-5", "power_kw", ts, 1.0)])

    # then
    found = db.execute(
        "SELECT r.tableoid::regclass::text, r.ts FROM telemetry_raw r JOIN telemetry_series s USING (series_id)"
        " WHERE s.tenant_id = %s",
        (tenant,),
    ).fetchall()
    assert found == [("telemetry_raw_p20260320", ts)]
    assert store.latest(tenant, "inv-5")["power_kw"][0].tzinfo == UTC


def test_store_statements_time_out_at_sixty_seconds(settings) -> None:
    store = TelemetryStore(settings.database_url)
    with store._connection() as conn:
        assert conn.execute("SHOW statement_timeout").fetchone()[0] == "1min"
    store.close()
