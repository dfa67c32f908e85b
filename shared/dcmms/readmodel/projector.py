"""The projector: DynamoDB Streams records of the operational tables -> the read model (schema ``ops``).

One batch is one transaction: per table, one statement upserts every item of the batch (the newest record
of each item, by version), removes what was removed (a tombstone) and records work-order status changes.
An upsert applies only over an older version, so duplicates, replays and reordered batches change nothing
that is newer; the projection is idempotent. A record that cannot be read (no keys, no version, a document
that is not an entity) is reported in ``batchItemFailures`` and the rest of the batch is projected: the
event-source mapping redelivers from it a finite number of times and then hands it to its on-failure queue.
A database error fails the whole batch (raised), which the mapping bisects and retries.

Any ``eventName`` other than INSERT or MODIFY is a removal: DynamoDB Local reports TTL deletions as
``UNKNOWN_TO_SDK_VERSION``, AWS as REMOVE with a service ``userIdentity``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import orjson

from dcmms.observability import logger
from dcmms.observability import record as figures
from dcmms.readmodel.schema import SCHEMA, TABLES

UPSERT_EVENTS = frozenset({"INSERT", "MODIFY"})
# A removal whose record carries no old image (a KEYS_ONLY stream) outranks every version.
REMOVED_WITHOUT_IMAGE = 2**62

# Columns filled by name from the entity's document, per read-model table (the generated search columns,
# ``deleted`` and ``projected_at`` are the projector's own).
COLUMNS: dict[str, tuple[str, ...]] = {
    "sites": ("name", "kind", "capacity_mw", "timezone"),
    "assets": (
        "site_id",
        "parent_id",
        "name",
        "type",
        "status",
        "rated_kw",
        "manufacturer",
        "model",
        "serial",
        "custom_fields",
    ),
    "work_orders": (
        "site_id",
        "asset_id",
        "title",
        "description",
        "type",
        "priority",
        "status",
        "assigned_to",
        "due_at",
        "completed_at",
        "source_alert_id",
        "custom_fields",
    ),
    "alerts": (
        "site_id",
        "asset_id",
        "rule_id",
        "severity",
        "status",
        "message",
        "raised_at",
        "resolved_at",
        "work_order_id",
    ),
}
_ENTITY_COLUMNS = ("created_at", "updated_at")


def _upsert_sql(table: str) -> str:
    columns = (*_ENTITY_COLUMNS, *COLUMNS[table])
    select = ", ".join(f"r.{c}" for c in columns)
    assign = ", ".join(f"{c} = excluded.{c}" for c in (*columns, "version", "deleted", "doc"))
    history = ""
    if table == "work_orders":
        # Status changes of the applied rows; a row is never rewritten (replays insert nothing new), and a
        # removed work order keeps none.
        history = f""",
history AS (
    INSERT INTO {SCHEMA}.work_order_history (tenant_id, work_order_id, seq, from_status, to_status, at, by, note)
    SELECT a.tenant_id, a.id, (h.n - 1)::int, coalesce(h.change->>'from_status', h.change->>'from'),
           h.change->>'to', (h.change->>'at')::timestamptz, h.change->>'by', h.change->>'note'
    FROM applied a CROSS JOIN LATERAL jsonb_array_elements(a.doc->'history') WITH ORDINALITY AS h (change, n)
    WHERE NOT a.deleted
    ON CONFLICT DO NOTHING
), forgotten AS (
    DELETE FROM {SCHEMA}.work_order_history w USING applied a
    WHERE a.deleted AND w.tenant_id = a.tenant_id AND w.work_order_id = a.id
)"""
    return f"""
WITH incoming AS (
    SELECT r.tenant_id, r.id, r.version, coalesce(r.deleted, false) AS deleted, {select},
           CASE WHEN coalesce(r.deleted, false) THEN NULL ELSE e.value END AS doc
    FROM jsonb_array_elements(%s::jsonb) AS e (value)
    CROSS JOIN LATERAL jsonb_populate_record(NULL::{SCHEMA}.{table}, e.value) AS r
), applied AS (
    INSERT INTO {SCHEMA}.{table} AS t (tenant_id, id, version, deleted, {", ".join(columns)}, doc)
    SELECT * FROM incoming ORDER BY tenant_id, id
    ON CONFLICT (tenant_id, id) DO UPDATE SET {assign}, projected_at = now()
    WHERE t.version < excluded.version OR (t.version = excluded.version AND excluded.deleted AND NOT t.deleted)
    RETURNING t.tenant_id, t.id, t.deleted, t.doc
){history}
SELECT count(*) FROM applied
"""


_UPSERTS = {table: _upsert_sql(table) for table in COLUMNS}
_RECORD_STATE = f"""
INSERT INTO {SCHEMA}.projection_state AS s (source, projected_at, newest_record_at, lag_s, records)
VALUES (%s, now(), to_timestamp(%s), %s, %s)
ON CONFLICT (source) DO UPDATE SET projected_at = excluded.projected_at,
    newest_record_at = greatest(s.newest_record_at, excluded.newest_record_at),
    lag_s = excluded.lag_s, records = s.records + excluded.records
"""


class Connections(Protocol):
    """Where the projector writes: the primary's pooled connections (``readmodel.router``)."""

    def primary(self) -> Any: ...  # a context manager yielding a psycopg connection, one transaction


@dataclass(frozen=True)
class Change:
    """One item's newest state in a batch: its document (JSON text) or a removal."""

    table: str
    tenant_id: str
    id: str
    version: int
    document: str | None  # None: removed

    @property
    def rank(self) -> tuple[int, bool]:
        return self.version, self.document is None  # at the same version a removal is newer


@dataclass
class ProjectionOutcome:
    records: int = 0
    applied: int = 0  # rows written (older or duplicate records write none)
    ignored: int = 0  # records of tables without a read model
    failed: list[str] = field(default_factory=list)  # sequence numbers of records that could not be read
    oldest_created_s: float | None = None
    newest_created_s: float | None = None
    by_table: dict[str, int] = field(default_factory=dict)

    def response(self) -> dict[str, list[dict[str, str]]]:
        return {"batchItemFailures": [{"itemIdentifier": s} for s in self.failed]}


class RecordError(ValueError):
    """A stream record that cannot be projected, with why."""


def source_table(arn: str, table_prefix: str) -> str:
    """The table base name of a stream ARN: ``arn:aws:dynamodb:r:a:table/dcmms-assets/stream/2026...`` ->
    ``assets``."""
    try:
        name = arn.split(":table/", 1)[1].split("/", 1)[0]
    except IndexError:
        raise RecordError(f"not a DynamoDB stream ARN: {arn!r}") from None
    return name.removeprefix(table_prefix)


def read_change(record: Mapping[str, Any], table: str) -> Change:
    """The change a stream record makes to the read model table ``table``."""
    ddb = record.get("dynamodb") or {}
    try:
        keys = ddb["Keys"]
        tenant_id, item_id = keys["tenant_id"]["S"], keys["id"]["S"]
    except (KeyError, TypeError):
        raise RecordError("the record has no tenant_id/id keys") from None
    if record.get("eventName") in UPSERT_EVENTS:
        image = ddb.get("NewImage") or {}
        try:
            version = int(image["version"]["N"])
            document = str(image["doc"]["S"])
        except (KeyError, TypeError, ValueError):
            raise RecordError("the new image has no version or doc") from None
        if not document.startswith("{"):
            raise RecordError("the item's doc is not a JSON object")
        return Change(table, tenant_id, item_id, version, document)
    old = ddb.get("OldImage") or {}
    try:
        version = int(old["version"]["N"]) if old else REMOVED_WITHOUT_IMAGE
    except (KeyError, TypeError, ValueError):
        raise RecordError("the old image has no version") from None
    return Change(table, tenant_id, item_id, version, None)


_UPDATED_AT = '"updated_at":"'


def _written_s(document: str | None) -> float | None:
    """When the item was written, from its document's ``updated_at`` (microseconds), found without parsing
    the document; None if it has none.

    The lag's start is the later of this and the record's ``ApproximateCreationDateTime``: both are at or
    before the record's real creation, and the stream's own time is coarse (DynamoDB rounds it down to the
    second; DynamoDB Local to the minute, which alone would read as up to 60 s of lag).
    """
    if document is None:
        return None
    at = document.find(_UPDATED_AT)
    if at < 0:
        return None
    start = at + len(_UPDATED_AT)
    end = document.find('"', start)
    try:
        return datetime.fromisoformat(document[start:end]).timestamp()
    except ValueError:
        return None


def newest_changes(changes: Iterable[Change]) -> dict[str, list[Change]]:
    """Per table, each item once: its newest change by version (a removal wins a tie)."""
    newest: dict[tuple[str, str, str], Change] = {}
    for change in changes:
        key = (change.table, change.tenant_id, change.id)
        held = newest.get(key)
        if held is None or change.rank > held.rank:
            newest[key] = change
    by_table: dict[str, list[Change]] = {}
    for change in newest.values():
        by_table.setdefault(change.table, []).append(change)
    return by_table


def _payload(changes: Sequence[Change]) -> str:
    """One JSON array of the documents as stored (not re-encoded) and tombstones for removals."""
    parts = [
        c.document
        if c.document is not None
        else orjson.dumps({"tenant_id": c.tenant_id, "id": c.id, "version": c.version, "deleted": True}).decode()
        for c in changes
    ]
    return "[" + ",".join(parts) + "]"


class Projector:
    """Projects DynamoDB Streams batches (the Lambda event) into the read model."""

    def __init__(self, connections: Connections, table_prefix: str, clock: Callable[[], float] = time.time) -> None:
        self._connections = connections
        self._prefix = table_prefix
        self._clock = clock

    def handle(self, event: Mapping[str, Any]) -> dict[str, list[dict[str, str]]]:
        outcome = self.project(event.get("Records") or [])
        lag = None if outcome.oldest_created_s is None else max(0.0, self._clock() - outcome.oldest_created_s)
        figures.projection_batch(outcome.records, outcome.applied, len(outcome.failed), lag)
        return outcome.response()

    def project(self, records: Sequence[Mapping[str, Any]]) -> ProjectionOutcome:
        outcome = ProjectionOutcome(records=len(records))
        changes: list[Change] = []
        sources: dict[str, int] = {}
        for record in records:
            ddb = record.get("dynamodb") or {}
            created = ddb.get("ApproximateCreationDateTime")
            created_s = float(created) if isinstance(created, int | float) else None
            try:
                base = source_table(str(record.get("eventSourceARN", "")), self._prefix)
                table = TABLES.get(base)
                if table is None:
                    outcome.ignored += 1
                    continue
                change = read_change(record, table)
                changes.append(change)
                sources[base] = sources.get(base, 0) + 1
                written_s = _written_s(change.document)
                if created_s is not None and written_s is not None:
                    created_s = max(created_s, written_s)
                if created_s is not None:
                    outcome.oldest_created_s = min(outcome.oldest_created_s or created_s, created_s)
                    outcome.newest_created_s = max(outcome.newest_created_s or created_s, created_s)
            except RecordError as exc:
                sequence = ddb.get("SequenceNumber")
                if sequence is None:  # nothing to report it by: the mapping could not redeliver it either
                    raise
                logger.warning("stream record not projected", extra={"reason": str(exc), "sequence_number": sequence})
                outcome.failed.append(str(sequence))
        if not changes and not sources:
            return outcome
        with self._connections.primary() as conn:
            for table, batch in newest_changes(changes).items():
                row = conn.execute(_UPSERTS[table], (_payload(batch),)).fetchone()
                outcome.by_table[table] = row[0]
                outcome.applied += row[0]
            if outcome.newest_created_s is not None and outcome.oldest_created_s is not None:
                lag_s = max(0.0, self._clock() - outcome.oldest_created_s)
                for base, count in sorted(sources.items()):
                    conn.execute(_RECORD_STATE, (base, outcome.newest_created_s, lag_s, count))
        return outcome
