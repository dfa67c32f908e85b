"""Telemetry on plain PostgreSQL: a series dimension, raw readings partitioned by day, 1-minute/1-hour rollups.

RDS and Aurora offer no TimescaleDB, so partitioning, de-duplication, rollups and retention use native
features (docs/decisions.md). A stored reading is 24 bytes of payload (series id, timestamp, value) rather
than three strings; the per-partition (series_id, ts) key makes a re-delivered Kinesis batch store nothing
twice; the rollups are fed only the rows a write actually inserted, so a retry never counts twice; and
retention drops whole daily partitions instead of deleting rows.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal, NamedTuple

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool

from dcmms.clients.postgres_timed import TimedCursor

RAW_TABLE = "telemetry_raw"
ROLLUP_TABLES = {"1m": "telemetry_1m", "1h": "telemetry_1h"}
PARTITIONED_TABLES = (RAW_TABLE, *ROLLUP_TABLES.values())
# Series ids cached per process; a fleet has far fewer series, the bound only caps a pathological caller.
SERIES_CACHE_MAX = 1_000_000
# Free space in rollup pages: a bucket is rewritten by every write that touches it, and with room on its
# page the update is HOT (no new index entry, pruned in place); measured ~15% cheaper upserts than 100.
ROLLUP_FILLFACTOR = 70
# DDL waits at most this long for a lock, so it never queues writers behind a long-running query for long.
DDL_LOCK_TIMEOUT = "5s"

_PARTITION_NAME = re.compile(r"^(telemetry_(?:raw|1m|1h))_p(\d{8})$")
# Serialises DDL across processes: concurrent CREATE TABLE IF NOT EXISTS can still collide in the catalog.
_DDL_LOCK = "SELECT pg_advisory_xact_lock(hashtext('dcmms.telemetry.ddl'))"
_ROLLUP_COLUMNS = """
    series_id bigint NOT NULL,
    bucket timestamptz NOT NULL,
    count bigint NOT NULL,
    sum double precision NOT NULL,
    min double precision NOT NULL,
    max double precision NOT NULL,
    last double precision NOT NULL,
    last_ts timestamptz NOT NULL,  -- when `last` was read, so that late data cannot overwrite a newer value
    PRIMARY KEY (series_id, bucket)
"""
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS telemetry_series (
    series_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id text NOT NULL,
    asset_id text NOT NULL,
    metric text NOT NULL,
    UNIQUE (tenant_id, asset_id, metric)
);
CREATE TABLE IF NOT EXISTS telemetry_raw (
    series_id bigint NOT NULL,
    ts timestamptz NOT NULL,
    value double precision NOT NULL,
    PRIMARY KEY (series_id, ts)
) PARTITION BY RANGE (ts);
-- autosummarize: new block ranges get summarised as they fill, not only at the next vacuum.
CREATE INDEX IF NOT EXISTS telemetry_raw_ts_brin ON telemetry_raw USING brin (ts) WITH (autosummarize = on);
CREATE TABLE IF NOT EXISTS telemetry_1m ({_ROLLUP_COLUMNS}) PARTITION BY RANGE (bucket);
CREATE TABLE IF NOT EXISTS telemetry_1h ({_ROLLUP_COLUMNS}) PARTITION BY RANGE (bucket);
"""
_LIST_PARTITIONS = """
SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = ANY (ARRAY['telemetry_raw', 'telemetry_1m', 'telemetry_1h']::regclass[])
"""
# One statement inserts what is missing and reads what exists; the NOT EXISTS keeps known series from
# burning identity values, ON CONFLICT covers a concurrent writer creating the same series.
_RESOLVE_SERIES = """
WITH wanted AS (
    SELECT * FROM unnest(%s::text[], %s::text[], %s::text[]) AS w (tenant_id, asset_id, metric)
), created AS (
    INSERT INTO telemetry_series (tenant_id, asset_id, metric)
    SELECT w.tenant_id, w.asset_id, w.metric FROM wanted w
    WHERE NOT EXISTS (
        SELECT 1 FROM telemetry_series s
        WHERE (s.tenant_id, s.asset_id, s.metric) = (w.tenant_id, w.asset_id, w.metric)
    )
    ORDER BY 1, 2, 3
    ON CONFLICT DO NOTHING
    RETURNING series_id, tenant_id, asset_id, metric
)
SELECT series_id, tenant_id, asset_id, metric FROM created
UNION ALL
SELECT s.series_id, s.tenant_id, s.asset_id, s.metric FROM telemetry_series s JOIN wanted USING (tenant_id, asset_id, metric)
"""
_CREATE_STAGE = """
CREATE TEMP TABLE telemetry_stage (series_id bigint, ts timestamptz, value double precision) ON COMMIT DELETE ROWS
"""
_CREATE_MINUTE_STAGE = """
CREATE TEMP TABLE telemetry_minute_stage (
    series_id bigint, bucket timestamptz, count bigint, sum double precision, min double precision,
    max double precision, last_ts timestamptz, last double precision
) ON COMMIT DELETE ROWS
"""
_COPY_MINUTE_STAGE = "COPY telemetry_minute_stage FROM STDIN (FORMAT BINARY)"
_MINUTE_ROW = struct.Struct(">h" + "iq" * 3 + "id" * 3 + "iq" + "id")
_MINUTE_US = 60_000_000
_COPY_STAGE = "COPY telemetry_stage (series_id, ts, value) FROM STDIN (FORMAT BINARY)"
_COPY_RAW = "COPY telemetry_raw (series_id, ts, value) FROM STDIN (FORMAT BINARY)"
# PostgreSQL's binary COPY format, built once per write and sent to both COPYs: a row is 3 fields, each
# length-prefixed: int8 series id, timestamptz as microseconds since 2000-01-01 UTC, float8.
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_COPY_TRAILER = struct.pack(">h", -1)
_COPY_ROW = struct.Struct(">hiqiqid")
_PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_MERGE_ROLLUP = """
ON CONFLICT (series_id, bucket) DO UPDATE SET
    count = r.count + excluded.count,
    sum = r.sum + excluded.sum,
    min = least(r.min, excluded.min),
    max = greatest(r.max, excluded.max),
    last = CASE WHEN excluded.last_ts > r.last_ts THEN excluded.last ELSE r.last END,
    last_ts = greatest(r.last_ts, excluded.last_ts)
"""
# UTC midnight: date_bin buckets from it are UTC minutes and hours, by integer arithmetic (date_trunc
# with a time zone measured ~2x slower here).
_BUCKET_ORIGIN = "'2000-01-01 00:00:00+00'"
# The rollups are upserted from the minutes of the rows this write inserted; an hour's `last` comes from
# its minutes. ORDER BY gives concurrent writers one lock order (no deadlocks) and the B-trees sequential
# inserts.
_ROLLUP_MINUTES = f"""
hour_agg AS (
    SELECT series_id, date_bin('1 hour', bucket, {_BUCKET_ORIGIN}) AS bucket, sum(count)::bigint AS count,
           sum(sum) AS sum, min(min) AS min, max(max) AS max, max(last_ts) AS last_ts
    FROM minute GROUP BY 1, 2
), hour AS (
    SELECT h.*, m.last FROM hour_agg h JOIN minute m ON m.series_id = h.series_id AND m.last_ts = h.last_ts
), upsert_1m AS (
    INSERT INTO telemetry_1m AS r (series_id, bucket, count, sum, min, max, last_ts, last)
    SELECT * FROM minute ORDER BY 1, 2
    {_MERGE_ROLLUP}
), upsert_1h AS (
    INSERT INTO telemetry_1h AS r (series_id, bucket, count, sum, min, max, last_ts, last)
    SELECT * FROM hour ORDER BY 1, 2
    {_MERGE_ROLLUP}
)
"""
# The usual write: every row was new and went straight into telemetry_raw; the client aggregated the
# minutes while it built the COPY, so the server upserts ~2,000 minute rows instead of re-reading 50,000.
_ROLLUP_FROM_CLIENT = "WITH minute AS (SELECT * FROM telemetry_minute_stage), " + _ROLLUP_MINUTES + "SELECT 1"
# A batch seen before (a Kinesis retry, or a duplicate within the batch): insert what is missing from the
# staged rows, and roll up only those (RETURNING), so a retry never counts twice. A minute's `last` is joined
# back by (series_id, last_ts), unique among them; the minute join is hashed (enable_mergejoin off).
_INSERT_SKIPPING_STORED = f"""
WITH new AS (
    INSERT INTO telemetry_raw (series_id, ts, value)
    SELECT series_id, ts, value FROM telemetry_stage ORDER BY series_id, ts
    ON CONFLICT DO NOTHING RETURNING series_id, ts, value
), minute_agg AS (
    SELECT series_id, date_bin('1 minute', ts, {_BUCKET_ORIGIN}) AS bucket, count(*) AS count, sum(value) AS sum,
           min(value) AS min, max(value) AS max, max(ts) AS last_ts
    FROM new GROUP BY 1, 2
), minute AS (
    SELECT m.*, n.value AS last FROM minute_agg m JOIN new n ON n.series_id = m.series_id AND n.ts = m.last_ts
), {_ROLLUP_MINUTES}
SELECT count(*) FROM new
"""
_SERIES_ID = "(SELECT series_id FROM telemetry_series WHERE tenant_id = %s AND asset_id = %s AND metric = %s)"
_SERIES_QUERIES = {
    "raw": f"SELECT ts, value FROM telemetry_raw WHERE series_id = {_SERIES_ID} AND ts >= %s AND ts < %s ORDER BY ts",
    **{
        resolution: f"SELECT bucket, sum / count FROM {table} WHERE series_id = {_SERIES_ID}"
        " AND bucket >= %s AND bucket < %s ORDER BY bucket"
        for resolution, table in ROLLUP_TABLES.items()
    },
}
# The hour rollup keeps `last` for 90 days, so an asset that went quiet a week ago still has a latest value.
_LATEST = """
SELECT s.metric, l.last_ts, l.last
FROM telemetry_series s
CROSS JOIN LATERAL (
    SELECT last_ts, last FROM telemetry_1h h WHERE h.series_id = s.series_id ORDER BY h.bucket DESC LIMIT 1
) l
WHERE s.tenant_id = %s AND s.asset_id = %s
"""

# Aggregations over the rollups: each interval is read from the coarsest rollup that divides it, and
# each function combines the rollup's partial aggregates (an average is sum(sum) / sum(count), never an
# average of averages).
INTERVALS: dict[str, tuple[timedelta, str]] = {
    "1m": (timedelta(minutes=1), "telemetry_1m"),
    "5m": (timedelta(minutes=5), "telemetry_1m"),
    "15m": (timedelta(minutes=15), "telemetry_1m"),
    "1h": (timedelta(hours=1), "telemetry_1h"),
    "1d": (timedelta(days=1), "telemetry_1h"),
}
AGGREGATES = {
    "avg": "sum(sum) / sum(count)",
    "min": "min(min)",
    "max": "max(max)",
    "sum": "sum(sum)",
    "count": "sum(count)::double precision",
    "last": "(array_agg(last ORDER BY last_ts DESC))[1]",
}
ANALYTICS_TIMEOUT = "60s"

SeriesKey = tuple[str, str, str]
# One asset's readings: (tenant_id, asset_id, [(ts, {metric: value}), ...]).
AssetReadings = tuple[str, str, Sequence[tuple[datetime, Mapping[str, float]]]]
Resolution = Literal["raw", "1m", "1h"]
# Runs a read-only query(conn) on a connection chosen elsewhere (the analytics replica) and returns its rows.
AnalyticsReads = Callable[[Callable[[psycopg.Connection], list[Any]]], list[Any]]


class Reading(NamedTuple):
    """One metric value of one asset at one instant (a tuple: cheap to build by the ten thousand)."""

    tenant_id: str
    asset_id: str
    metric: str
    ts: datetime  # timezone-aware UTC
    value: float


class TelemetryStore:
    """The telemetry tables of one PostgreSQL database, through a connection pool opened on first use."""

    def __init__(self, database_url: str, pool_size: int = 4, analytics: AnalyticsReads | None = None) -> None:
        """``analytics``: runs the aggregations (``series``, ``aggregate``) elsewhere, e.g. on the analytics
        replica through ``readmodel.router`` (``runtime`` wires it); without, they use this store's pool."""
        self._analytics = analytics
        # min_size 1: a Lambda execution environment serves one request at a time and should not open
        # pool_size connections at cold start.
        self._pool = ConnectionPool(
            database_url,
            min_size=1,
            max_size=pool_size,
            open=False,
            configure=_configure_connection,
            kwargs={"cursor_factory": TimedCursor},  # each statement timed for the metrics
        )
        self._series_ids: dict[SeriesKey, int] = {}
        self._known_days: set[date] = set()

    def migrate(self, now: datetime | None = None, days_ahead: int = 3) -> None:
        """Create the tables (idempotent) and the partitions of today and ``days_ahead`` days after it.

        Run it on deploy and daily, so that writes seldom need to create a partition themselves.
        """
        today = _utc(now).date()
        with self._connection() as conn:
            conn.execute(_DDL_LOCK)
            conn.execute(_SCHEMA)
        self._ensure_partitions({today + timedelta(days=n) for n in range(days_ahead + 1)})

    def write(self, readings: Sequence[Reading]) -> int:
        """Store the readings and return how many were new; rows already stored (same series and ts) are skipped.

        One transaction: series ids, the raw rows and the 1m/1h rollups of the new rows commit together, so
        a failed write can simply be retried. Partitions for the batch's days are created first if missing.
        """
        by_asset: dict[tuple[str, str], dict[datetime, dict[str, float]]] = {}
        for r in readings:  # a reading repeated within the batch is one reading
            by_asset.setdefault((r.tenant_id, r.asset_id), {}).setdefault(r.ts, {})[r.metric] = r.value
        return self.write_grouped([(t, a, list(stamps.items())) for (t, a), stamps in by_asset.items()])

    def write_grouped(self, groups: Sequence[AssetReadings]) -> int:
        """``write`` for readings as the ingest path holds them: per asset, (ts, {metric: value}) pairs.

        No object per value is built on the way to the COPY, which measured ~2x the Python cost of a
        ``Reading`` per value at 50,000 values per batch.
        """
        if not groups:
            return 0
        days = _utc_days({ts for _, _, readings in groups for ts, _ in readings})
        self._ensure_partitions(days)
        try:
            return self._write_once(groups)
        except psycopg.errors.CheckViolation:
            # "no partition ... found for row": another process's retention dropped a day this one knew.
            self._known_days.clear()
            self._ensure_partitions(days)
            return self._write_once(groups)

    def series(
        self,
        tenant_id: str,
        asset_id: str,
        metric: str,
        start: datetime,
        end: datetime,
        resolution: Resolution = "raw",
    ) -> list[tuple[datetime, float]]:
        """Readings with ``start <= ts < end``, or for a rollup the average of each bucket starting in that range."""
        query = _SERIES_QUERIES.get(resolution)
        if query is None:
            raise ValueError(f"resolution must be one of {sorted(_SERIES_QUERIES)}, not {resolution!r}")
        params = (tenant_id, asset_id, metric, _utc(start), _utc(end))
        rows = self._read(lambda conn: conn.execute(query, params).fetchall())
        return [(ts, value) for ts, value in rows]

    def aggregate(
        self,
        tenant_id: str,
        asset_id: str,
        metric: str,
        start: datetime,
        end: datetime,
        interval: str,
        agg: str,
    ) -> list[tuple[datetime, float]]:
        """``agg`` of the metric per ``interval`` bucket (UTC-aligned) for buckets starting in ``[start, end)``.

        Served from the rollups (1m for minute intervals, 1h for hours and days), under the analytics
        statement timeout set on every connection of the store.
        """
        width, table = INTERVALS[interval]
        query = sql.SQL(
            "SELECT date_bin(%s, bucket, " + _BUCKET_ORIGIN + ") AS b, " + AGGREGATES[agg] + " FROM {table}"
            f" WHERE series_id = {_SERIES_ID} AND bucket >= %s AND bucket < %s GROUP BY 1 ORDER BY 1"
        ).format(table=sql.Identifier(table))
        params = (width, tenant_id, asset_id, metric, _utc(start), _utc(end))
        rows = self._read(lambda conn: conn.execute(query, params).fetchall())
        return [(ts, value) for ts, value in rows]

    def latest(self, tenant_id: str, asset_id: str) -> dict[str, tuple[datetime, float]]:
        """The most recent reading of each metric of the asset (within rollup retention)."""
        with self._connection() as conn:
            rows = conn.execute(_LATEST, (tenant_id, asset_id)).fetchall()
        return {metric: (ts, value) for metric, ts, value in rows}

    def apply_retention(self, now: datetime | None = None, raw_days: int = 7, rollup_days: int = 90) -> dict[str, int]:
        """Drop the daily partitions that lie wholly before the cut-offs; returns partitions dropped per table.

        Whole partitions only, so up to one extra day is kept: a DROP is instant and leaves no dead rows
        to vacuum, where deleting a day of minute rollups would not.
        """
        now = _utc(now)
        cutoffs = {
            RAW_TABLE: now - timedelta(days=raw_days),
            **{table: now - timedelta(days=rollup_days) for table in ROLLUP_TABLES.values()},
        }
        dropped = dict.fromkeys(PARTITIONED_TABLES, 0)
        with self._connection() as conn:
            partitions = _list_partitions(conn)
        for table, day in sorted(partitions):
            if _day_start(day + timedelta(days=1)) > cutoffs[table]:
                continue
            self._known_days.discard(day)
            # One transaction per partition: each holds the parent's exclusive lock only briefly.
            with self._connection() as conn:
                conn.execute(f"SET LOCAL lock_timeout = '{DDL_LOCK_TIMEOUT}'")
                conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(_partition_name(table, day))))
            dropped[table] += 1
        return dropped

    def close(self) -> None:
        self._pool.close()

    def _read(self, query: Callable[[psycopg.Connection], list[Any]]) -> list[Any]:
        if self._analytics is not None:
            return self._analytics(query)
        with self._connection() as conn:
            return query(conn)

    def _connection(self) -> AbstractContextManager[psycopg.Connection]:
        """A pooled connection whose block is one transaction, committed on clean exit."""
        self._pool.open()  # idempotent: the pool opens on first use, not at construction
        return self._pool.connection()

    def _write_once(self, groups: Sequence[AssetReadings]) -> int:
        """COPY the rows straight into telemetry_raw (all new: the usual case) and stage a copy for the
        rollups; if any row is stored already, the COPY rolls back to its savepoint and the staged rows
        are inserted skipping the stored ones."""
        with self._connection() as conn:
            ids, created = self._resolve_series(conn, _series_keys(groups))
            minutes: dict[tuple[int, int], list[float]] = {}
            chunks = _copy_chunks(groups, ids, minutes)
            sent: list[bytes] = []
            with conn.cursor() as cur:
                try:
                    # Streamed: the server inserts one chunk while the next is being built.
                    with conn.transaction(), cur.copy(_COPY_RAW) as copy:  # a savepoint
                        for chunk in chunks:
                            sent.append(chunk)
                            copy.write(chunk)
                    all_new = True
                except psycopg.errors.UniqueViolation:
                    all_new = False
                if all_new:
                    with cur.copy(_COPY_MINUTE_STAGE) as copy:
                        copy.write(_minute_rows(minutes))
                    cur.execute(_ROLLUP_FROM_CLIENT)
                    stored = sum(len(values) for _, _, readings in groups for _, values in readings)
                else:
                    sent.extend(chunks)  # the rest, if the COPY stopped early
                    with cur.copy(_COPY_STAGE) as copy:
                        for chunk in sent:
                            copy.write(chunk)
                    # The minutes' `last` joins ~2,000 minutes to up to ~50,000 rows: hashed, not sorted.
                    cur.execute("SET LOCAL enable_mergejoin = off")
                    row = cur.execute(_INSERT_SKIPPING_STORED).fetchone()
                    assert row is not None  # an aggregate query always answers one row
                    stored = row[0]
        # Cached only once committed: a rolled-back transaction takes its new series rows with it.
        if len(self._series_ids) + len(created) > SERIES_CACHE_MAX:
            self._series_ids.clear()
        self._series_ids.update(created)
        return int(stored)

    def _resolve_series(
        self, conn: psycopg.Connection, keys: Collection[SeriesKey]
    ) -> tuple[dict[SeriesKey, int], dict[SeriesKey, int]]:
        """Ids of ``keys`` (creating missing series), and the part of them that was not cached."""
        ids = {key: series_id for key in keys if (series_id := self._series_ids.get(key)) is not None}
        missing = [key for key in keys if key not in ids]
        resolved: dict[SeriesKey, int] = {}
        # Two attempts: a series a concurrent transaction committed after this statement's snapshot is
        # skipped by ON CONFLICT and invisible to its SELECT, but visible to the next statement.
        for _ in range(2):
            if not missing:
                break
            tenants, assets, metrics = (list(column) for column in zip(*missing, strict=True))
            for series_id, *key in conn.execute(_RESOLVE_SERIES, (tenants, assets, metrics)):
                resolved[(key[0], key[1], key[2])] = series_id
            missing = [key for key in missing if key not in resolved]
        if missing:
            raise RuntimeError(f"could not resolve {len(missing)} telemetry series, e.g. {missing[0]}")
        ids.update(resolved)
        return ids, resolved

    def _ensure_partitions(self, days: set[date]) -> None:
        """Create the raw and rollup partitions of ``days`` that do not exist, in a short DDL transaction.

        Separate from the write's transaction: creating a partition locks its parent exclusively, and
        holding that for a whole write would stall every other writer and reader.
        """
        if days <= self._known_days:
            return
        with self._connection() as conn:
            conn.execute(f"SET LOCAL lock_timeout = '{DDL_LOCK_TIMEOUT}'")
            conn.execute(_DDL_LOCK)
            existing = _list_partitions(conn)
            for day in sorted(days - self._known_days):
                for table in PARTITIONED_TABLES:
                    if (table, day) not in existing:
                        conn.execute(_partition_ddl(table, day))
        complete = {day for _, day in existing if all((table, day) in existing for table in PARTITIONED_TABLES)}
        self._known_days |= complete | days


def _series_keys(groups: Sequence[AssetReadings]) -> set[SeriesKey]:
    keys: set[SeriesKey] = set()
    for tenant_id, asset_id, readings in groups:
        metrics: set[str] = set()
        for _, values in readings:
            metrics.update(values)
        keys.update((tenant_id, asset_id, metric) for metric in metrics)
    return keys


def _copy_chunks(
    groups: Sequence[AssetReadings],
    ids: dict[SeriesKey, int],
    minutes: dict[tuple[int, int], list[float]],
    rows_per_chunk: int = 8192,
) -> Iterator[bytes]:
    """The readings in binary COPY format, in chunks of about ``rows_per_chunk`` rows, aggregating them
    into ``minutes`` on the way: (series_id, minute) -> [count, sum, min, max, last_ts, last].

    Each timestamp is converted once for all its metrics, and each series id looked up once per asset.
    """
    pack = _COPY_ROW.pack
    parts = [_COPY_HEADER]
    append = parts.append
    for tenant_id, asset_id, readings in groups:
        series: dict[str, int] = {}
        for ts, values in readings:
            us = (ts - _PG_EPOCH) // _MICROSECOND
            minute = us - us % _MINUTE_US
            for metric, value in values.items():
                series_id = series.get(metric)
                if series_id is None:
                    series_id = series[metric] = ids[(tenant_id, asset_id, metric)]
                append(pack(3, 8, series_id, 8, us, 8, value))
                agg = minutes.get((series_id, minute))
                if agg is None:
                    minutes[(series_id, minute)] = [1, value, value, value, us, value]
                    continue
                agg[0] += 1
                agg[1] += value
                if value < agg[2]:
                    agg[2] = value
                elif value > agg[3]:
                    agg[3] = value
                if us > agg[4]:
                    agg[4], agg[5] = us, value
        if len(parts) >= rows_per_chunk:
            yield b"".join(parts)
            parts.clear()
    append(_COPY_TRAILER)
    yield b"".join(parts)


def _minute_rows(minutes: dict[tuple[int, int], list[float]]) -> bytes:
    """The client-side minute aggregates in binary COPY format, for ``telemetry_minute_stage``."""
    pack = _MINUTE_ROW.pack
    rows = [
        pack(8, 8, series_id, 8, minute, 8, count, 8, total, 8, low, 8, high, 8, last_ts, 8, last)
        for (series_id, minute), (count, total, low, high, last_ts, last) in sorted(minutes.items())
    ]
    return _COPY_HEADER + b"".join(rows) + _COPY_TRAILER


def configure_reader(conn: psycopg.Connection) -> None:
    """Per connection of a reader (this store's, the router's): UTC sessions (readings and timestamps come back
    in UTC) and every statement ending within the analytics budget, inside the Lambda timeout."""
    conn.execute("SET TimeZone = 'UTC'")
    conn.execute(f"SET statement_timeout = '{ANALYTICS_TIMEOUT}'")
    conn.commit()


def _configure_connection(conn: psycopg.Connection) -> None:
    """Per connection of the store: a reader's settings and the session's own staging tables."""
    configure_reader(conn)
    # A 50,000-row batch sorts in memory at this size; the 4 MB default spilled it to disk (~30 ms).
    conn.execute("SET work_mem = '32MB'")
    conn.execute(_CREATE_STAGE)
    conn.execute(_CREATE_MINUTE_STAGE)
    conn.commit()


def _list_partitions(conn: psycopg.Connection) -> set[tuple[str, date]]:
    found = set()
    for (name,) in conn.execute(_LIST_PARTITIONS):
        match = _PARTITION_NAME.match(name)
        if match:
            found.add((match[1], datetime.strptime(match[2], "%Y%m%d").date()))
    return found


def _partition_name(table: str, day: date) -> str:
    return f"{table}_p{day:%Y%m%d}"


def _partition_ddl(table: str, day: date) -> sql.Composed:
    ddl = sql.SQL("CREATE TABLE IF NOT EXISTS {} PARTITION OF {} FOR VALUES FROM ({}) TO ({})").format(
        sql.Identifier(_partition_name(table, day)),
        sql.Identifier(table),
        sql.Literal(_day_start(day)),
        sql.Literal(_day_start(day + timedelta(days=1))),
    )
    return ddl if table == RAW_TABLE else ddl + sql.SQL(f" WITH (fillfactor = {ROLLUP_FILLFACTOR})")


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


def _utc(moment: datetime | None) -> datetime:
    if moment is None:
        return datetime.now(UTC)
    if moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment!r}: telemetry times must be timezone-aware")
    return moment.astimezone(UTC)


def _utc_days(stamps: Iterable[datetime]) -> set[date]:
    """The UTC days of ``stamps`` (the distinct ones: a batch repeats a few timestamps many times)."""
    return {_utc(ts).date() for ts in stamps}
