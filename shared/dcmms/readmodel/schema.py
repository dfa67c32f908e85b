"""The read model's tables: schema ``ops`` in PostgreSQL, fed from DynamoDB Streams by the projector.

DynamoDB stays the system of record; these tables answer what key lookups cannot (search, counts, histories).
Every entity table is keyed by (tenant_id, id) and carries the item's ``version``: an upsert applies only
over an older version, so a replayed or reordered stream record never overwrites a newer row. A removal
leaves a tombstone (``deleted``, the removed item's version) rather than no row, so that a replayed older
INSERT of the same item cannot bring it back; every query reads ``NOT deleted``.

Columns are filled by name from the entity's JSON document (``jsonb_populate_recordset``), so the projector
builds no row in Python; search columns are generated from them:

- ``search_vector``: weighted full-text (A: title / name; B: serial, manufacturer, model, identifiers;
  C: description, message; D: custom fields' values). Free text uses the ``english`` configuration
  (stemmed: "faults" finds "fault"), identifiers ``simple`` (kept as typed).
- ``search_text``: the short fields (title / name, identifiers; not descriptions) lower-cased in one string,
  for ``pg_trgm`` word similarity, so that partial identifiers and typos match (``INV-03``, ``invertr``).
  Descriptions stay out of it: a fuzzy match over long text is slow to check and matches nearly anything.

Search reads ``search_documents``, not the entity tables: one narrow row per object of every type that is
not deleted (type, id, label, site, status, whether it is *live*, and the two search columns), kept by
statement-level triggers on the entity tables (insert, update, delete), so every path that writes them (the
projector's upserts, ``dcmms reindex``'s tombstones, a bulk ``COPY``, a purge) keeps it current in the same
transaction. A broad query ("inverter") matches tens of thousands of rows, and ranking reads each one: a row
of ~200 bytes instead of the entity's ~1 kB (its document) makes that several times cheaper, and one table
answers all four types with one index scan instead of four. *Live* rows (assets, sites, work orders not
completed/closed/cancelled, alerts not resolved) have their own partial index: search ranks them first and
reads finished work only when they do not fill the page.

``search_terms`` is each tenant's vocabulary (every lexeme its documents hold), kept by the same triggers,
so a misspelt word is corrected against the tenant's words (``invertr`` -> ``invert``; ~100,000 terms at
spec scale, most of them identifiers, 1 ms) instead of a trigram scan of every document that shares
letters with it. Terms are added, never removed: a term whose
documents are gone corrects a query to a word that finds nothing (``dcmms reindex`` rebuilds the rest).

``migrate`` runs the DDL only when its digest is not yet recorded in ``schema_migrations``: a cold start
takes no DDL lock on tables the projector is writing.
"""

from __future__ import annotations

import hashlib
from typing import Final

import psycopg

SCHEMA: Final = "ops"
# Serialises DDL across processes (projector, API, reindex starting at once).
DDL_LOCK: Final = "SELECT pg_advisory_xact_lock(hashtext('dcmms.readmodel.ddl'))"

# The projected kinds: DynamoDB table base name -> read-model table and the search ``type`` it answers to.
TABLES: Final = {"sites": "sites", "assets": "assets", "work-orders": "work_orders", "alerts": "alerts"}
SEARCH_TYPES: Final = {"site": "sites", "asset": "assets", "work_order": "work_orders", "alert": "alerts"}

_COMMON = """
    tenant_id text NOT NULL,
    id text NOT NULL,
    version bigint NOT NULL,
    deleted boolean NOT NULL DEFAULT false,
    created_at timestamptz,
    updated_at timestamptz,
    doc jsonb,
    projected_at timestamptz NOT NULL DEFAULT now(),
"""


def _vector(*weighted: tuple[str, str, str]) -> str:
    """A generated tsvector of (weight, configuration, expression) parts."""
    parts = [f"setweight(to_tsvector('{config}', {expr}), '{weight}')" for weight, config, expr in weighted]
    return f"tsvector GENERATED ALWAYS AS ({' || '.join(parts)}) STORED"


def _text(*exprs: str) -> str:
    joined = " || ' ' || ".join(exprs)
    return f"text GENERATED ALWAYS AS (lower({joined})) STORED"


def _custom(column: str = "custom_fields") -> str:
    return f"""jsonb_to_tsvector('english', coalesce({column}, '{{}}'::jsonb), '["string", "numeric"]')"""


DDL: Final = f"""
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE SCHEMA IF NOT EXISTS {SCHEMA};

CREATE TABLE IF NOT EXISTS {SCHEMA}.sites ({_COMMON}
    name text,
    kind text,
    capacity_mw double precision,
    timezone text,
    search_vector {_vector(("A", "simple", "coalesce(name, '')"), ("B", "simple", "coalesce(kind, '')"))},
    search_text {_text("coalesce(name, '')")},
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE IF NOT EXISTS {SCHEMA}.assets ({_COMMON}
    site_id text,
    parent_id text,
    name text,
    type text,
    status text,
    rated_kw double precision,
    manufacturer text,
    model text,
    serial text,
    custom_fields jsonb,
    search_vector tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple', coalesce(name, '')), 'A')
        || setweight(to_tsvector('simple', coalesce(serial, '') || ' ' || coalesce(manufacturer, '') || ' '
                                 || coalesce(model, '') || ' ' || coalesce(type, '')), 'B')
        || setweight({_custom()}, 'D')
    ) STORED,
    search_text {_text("coalesce(name, '')", "coalesce(serial, '')", "coalesce(manufacturer, '')", "coalesce(model, '')")},
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE IF NOT EXISTS {SCHEMA}.work_orders ({_COMMON}
    site_id text,
    asset_id text,
    title text,
    description text,
    type text,
    priority text,
    status text,
    assigned_to text,
    due_at timestamptz,
    completed_at timestamptz,
    source_alert_id text,
    custom_fields jsonb,
    search_vector tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english', coalesce(title, '')), 'A')
        || setweight(to_tsvector('simple', coalesce(id, '') || ' ' || coalesce(type, '')), 'B')
        || setweight(to_tsvector('english', coalesce(description, '')), 'C')
        || setweight({_custom()}, 'D')
    ) STORED,
    search_text {_text("coalesce(title, '')", "coalesce(id, '')")},
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE IF NOT EXISTS {SCHEMA}.alerts ({_COMMON}
    site_id text,
    asset_id text,
    rule_id text,
    severity text,
    status text,
    message text,
    raised_at timestamptz,
    resolved_at timestamptz,
    work_order_id text,
    search_vector tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english', coalesce(message, '')), 'A')
        || setweight(to_tsvector('simple', coalesce(severity, '') || ' ' || coalesce(asset_id, '')), 'B')
    ) STORED,
    search_text {_text("coalesce(message, '')")},
    PRIMARY KEY (tenant_id, id)
);

-- One row per status change of a work order, from its history; inserted once (replays add nothing).
CREATE TABLE IF NOT EXISTS {SCHEMA}.work_order_history (
    tenant_id text NOT NULL,
    work_order_id text NOT NULL,
    seq integer NOT NULL,
    from_status text NOT NULL,
    to_status text NOT NULL,
    at timestamptz NOT NULL,
    by text,
    note text,
    PRIMARY KEY (tenant_id, work_order_id, seq)
);

-- What the projector last did per source table: how far behind the stream it was (GET /health reads it).
CREATE TABLE IF NOT EXISTS {SCHEMA}.projection_state (
    source text PRIMARY KEY,
    projected_at timestamptz NOT NULL,
    newest_record_at timestamptz NOT NULL,
    lag_s double precision NOT NULL,
    records bigint NOT NULL DEFAULT 0
);
"""

# What a search document is, per entity table: its type, label, site, status and whether it is live.
_DOCUMENTS: Final = {
    "sites": ("site", "name", "id", "NULL::text", "true"),
    "assets": ("asset", "name", "site_id", "status", "true"),
    "work_orders": ("work_order", "title", "site_id", "status", "status NOT IN ('completed', 'closed', 'cancelled')"),
    "alerts": ("alert", "message", "site_id", "status", "status IS DISTINCT FROM 'resolved'"),
}


def _documents_of(table: str, source: str) -> str:
    """The search documents of the live rows of ``source`` (an entity table or a trigger's transition table)."""
    kind, label, site, status, live = _DOCUMENTS[table]
    return (
        f"SELECT tenant_id, '{kind}'::text, id, coalesce({label}, ''), {site}, {status}, {live}, search_vector, "
        f"search_text FROM {source} WHERE NOT deleted"
    )


_DOCUMENT_COLUMNS = "tenant_id, type, id, label, site_id, status, live, search_vector, search_text"
_CHANGED = ("label", "site_id", "status", "live", "search_vector", "search_text")


def _index_function(table: str) -> str:
    """Statement triggers that keep the table's search documents and vocabulary: written rows are (re)indexed,
    tombstoned and deleted rows leave the index."""
    kind = _DOCUMENTS[table][0]
    assign = ", ".join(f"{c} = excluded.{c}" for c in _CHANGED)
    old = ", ".join(f"d.{c}" for c in _CHANGED)
    new = ", ".join(f"excluded.{c}" for c in _CHANGED)
    return f"""
CREATE OR REPLACE FUNCTION {SCHEMA}.index_{table}() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
    DELETE FROM {SCHEMA}.search_documents d USING changed c
    WHERE c.deleted AND d.tenant_id = c.tenant_id AND d.type = '{kind}' AND d.id = c.id;
    WITH indexed AS (
        INSERT INTO {SCHEMA}.search_documents AS d ({_DOCUMENT_COLUMNS}) {_documents_of(table, "changed")}
        ON CONFLICT (tenant_id, type, id) DO UPDATE SET {assign}
        WHERE ({old}) IS DISTINCT FROM ({new})
        RETURNING d.tenant_id, d.search_vector
    )
    INSERT INTO {SCHEMA}.search_terms (tenant_id, term)
    SELECT DISTINCT tenant_id, unnest(tsvector_to_array(search_vector)) FROM indexed
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$body$;
CREATE OR REPLACE TRIGGER {table}_indexed_on_insert AFTER INSERT ON {SCHEMA}.{table}
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION {SCHEMA}.index_{table}();
CREATE OR REPLACE TRIGGER {table}_indexed_on_update AFTER UPDATE ON {SCHEMA}.{table}
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION {SCHEMA}.index_{table}();
CREATE OR REPLACE FUNCTION {SCHEMA}.unindex_{table}() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
    DELETE FROM {SCHEMA}.search_documents d USING gone g
    WHERE d.tenant_id = g.tenant_id AND d.type = '{kind}' AND d.id = g.id;
    RETURN NULL;
END
$body$;
CREATE OR REPLACE TRIGGER {table}_unindexed_on_delete AFTER DELETE ON {SCHEMA}.{table}
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION {SCHEMA}.unindex_{table}();
DROP INDEX IF EXISTS {SCHEMA}.{table}_search_words;
DROP INDEX IF EXISTS {SCHEMA}.{table}_search_trigrams;
"""


SEARCH_DDL: Final = f"""
CREATE TABLE IF NOT EXISTS {SCHEMA}.search_documents (
    tenant_id text NOT NULL,
    type text NOT NULL,
    id text NOT NULL,
    label text NOT NULL,
    site_id text,
    status text,
    live boolean NOT NULL,
    search_vector tsvector NOT NULL,
    search_text text NOT NULL,
    PRIMARY KEY (tenant_id, type, id)
);
-- Not (tenant_id, ...) with btree_gin: a GIN scan intersects every key's posting list, and a tenant's list
-- is all its rows, which measured 15-25 ms per scan at 50,000 assets for a query matching none of them. The
-- tenant is filtered on the rows the words match instead.
CREATE INDEX IF NOT EXISTS search_documents_live_words ON {SCHEMA}.search_documents USING gin (search_vector)
    WHERE live;
CREATE INDEX IF NOT EXISTS search_documents_finished_words ON {SCHEMA}.search_documents USING gin (search_vector)
    WHERE NOT live;
CREATE INDEX IF NOT EXISTS search_documents_trigrams ON {SCHEMA}.search_documents
    USING gin (search_text gin_trgm_ops);
CREATE TABLE IF NOT EXISTS {SCHEMA}.search_terms (
    tenant_id text NOT NULL,
    term text NOT NULL,
    PRIMARY KEY (tenant_id, term)
);
CREATE INDEX IF NOT EXISTS search_terms_trigrams ON {SCHEMA}.search_terms USING gin (term gin_trgm_ops);
""" + "".join(_index_function(table) for table in TABLES.values())

# Fills the search tables from rows written before they existed (a no-op conflict for rows already there).
BACKFILL: Final = "".join(
    f"INSERT INTO {SCHEMA}.search_documents ({_DOCUMENT_COLUMNS}) {_documents_of(table, f'{SCHEMA}.{table}')} "
    "ON CONFLICT DO NOTHING;\n"
    for table in TABLES.values()
) + (
    f"INSERT INTO {SCHEMA}.search_terms (tenant_id, term) SELECT DISTINCT tenant_id, "
    f"unnest(tsvector_to_array(search_vector)) FROM {SCHEMA}.search_documents ON CONFLICT DO NOTHING;"
)

INDEXES: Final = f"""
CREATE INDEX IF NOT EXISTS assets_by_site ON {SCHEMA}.assets (tenant_id, site_id) WHERE NOT deleted;
CREATE INDEX IF NOT EXISTS work_orders_by_site_status ON {SCHEMA}.work_orders (tenant_id, site_id, status)
    WHERE NOT deleted;
CREATE INDEX IF NOT EXISTS alerts_by_site_status ON {SCHEMA}.alerts (tenant_id, site_id, status) WHERE NOT deleted;
"""
# dcmms.domain.commands.DowntimeReason's values (a unit test holds them together; importing the command
# models here would weigh on the projector's cold start): the categories IEC availability needs
DOWNTIME_REASONS: Final = ("planned", "forced", "curtailment", "grid", "weather")
_DOWN = "('down', 'maintenance')"

# Downtime episodes (readmodel.downtime reads and edits them), opened and closed by triggers on the projected
# alerts and assets.
DOWNTIME_DDL: Final = f"""
CREATE TABLE IF NOT EXISTS {SCHEMA}.downtime_episodes (
    tenant_id text NOT NULL,
    id text NOT NULL,
    site_id text,
    asset_id text NOT NULL,
    started_at timestamptz NOT NULL,
    ended_at timestamptz,
    reason text NOT NULL DEFAULT 'forced' CHECK (reason IN {DOWNTIME_REASONS!r}),
    source text NOT NULL CHECK (source IN ('alert', 'status')),
    alert_id text,
    note text,
    edited_by text,
    edited_at timestamptz,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX IF NOT EXISTS downtime_by_asset ON {SCHEMA}.downtime_episodes (tenant_id, asset_id, started_at DESC);
CREATE INDEX IF NOT EXISTS downtime_by_site ON {SCHEMA}.downtime_episodes (tenant_id, site_id, started_at DESC);
CREATE UNIQUE INDEX IF NOT EXISTS downtime_one_open_status_episode ON {SCHEMA}.downtime_episodes (tenant_id, asset_id)
    WHERE source = 'status' AND ended_at IS NULL;

CREATE OR REPLACE FUNCTION {SCHEMA}.downtime_from_alerts() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
    INSERT INTO {SCHEMA}.downtime_episodes AS e (tenant_id, id, site_id, asset_id, started_at, ended_at, source, alert_id)
    SELECT tenant_id, 'alert:' || id, site_id, asset_id, coalesce(raised_at, created_at, now()), resolved_at, 'alert', id
    FROM changed WHERE NOT deleted AND severity = 'critical' AND asset_id IS NOT NULL
    ON CONFLICT (tenant_id, id) DO UPDATE SET ended_at = excluded.ended_at
    WHERE e.ended_at IS DISTINCT FROM excluded.ended_at;
    RETURN NULL;
END
$body$;
CREATE OR REPLACE TRIGGER alerts_downtime_on_insert AFTER INSERT ON {SCHEMA}.alerts
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION {SCHEMA}.downtime_from_alerts();
CREATE OR REPLACE TRIGGER alerts_downtime_on_update AFTER UPDATE ON {SCHEMA}.alerts
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION {SCHEMA}.downtime_from_alerts();

CREATE OR REPLACE FUNCTION {SCHEMA}.downtime_opened_by_status() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
    INSERT INTO {SCHEMA}.downtime_episodes (tenant_id, id, site_id, asset_id, started_at, reason, source)
    SELECT tenant_id, 'status:' || id || ':' || (extract(epoch FROM coalesce(updated_at, now())) * 1000)::bigint,
           site_id, id, coalesce(updated_at, now()), CASE status WHEN 'maintenance' THEN 'planned' ELSE 'forced' END,
           'status'
    FROM changed WHERE NOT deleted AND status IN {_DOWN}
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$body$;
CREATE OR REPLACE TRIGGER assets_downtime_on_insert AFTER INSERT ON {SCHEMA}.assets
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION {SCHEMA}.downtime_opened_by_status();

CREATE OR REPLACE FUNCTION {SCHEMA}.downtime_by_status_change() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
    UPDATE {SCHEMA}.downtime_episodes e SET ended_at = coalesce(a.updated_at, now())
    FROM changed a JOIN before b ON b.tenant_id = a.tenant_id AND b.id = a.id
    WHERE e.tenant_id = a.tenant_id AND e.asset_id = a.id AND e.source = 'status' AND e.ended_at IS NULL
      AND b.status IN {_DOWN} AND (a.deleted OR a.status IS NULL OR a.status NOT IN {_DOWN});
    INSERT INTO {SCHEMA}.downtime_episodes (tenant_id, id, site_id, asset_id, started_at, reason, source)
    SELECT a.tenant_id, 'status:' || a.id || ':' || (extract(epoch FROM coalesce(a.updated_at, now())) * 1000)::bigint,
           a.site_id, a.id, coalesce(a.updated_at, now()),
           CASE a.status WHEN 'maintenance' THEN 'planned' ELSE 'forced' END, 'status'
    FROM changed a JOIN before b ON b.tenant_id = a.tenant_id AND b.id = a.id
    WHERE NOT a.deleted AND a.status IN {_DOWN} AND (b.deleted OR b.status IS NULL OR b.status NOT IN {_DOWN})
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$body$;
CREATE OR REPLACE TRIGGER assets_downtime_on_update AFTER UPDATE ON {SCHEMA}.assets
    REFERENCING OLD TABLE AS before NEW TABLE AS changed FOR EACH STATEMENT
    EXECUTE FUNCTION {SCHEMA}.downtime_by_status_change();
"""

MIGRATIONS: Final = f"""
CREATE TABLE IF NOT EXISTS {SCHEMA}.schema_migrations (
    digest text PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
);
"""


def digest() -> str:
    """What ``migrate`` applies, in 16 hex digits: a change to any of it applies it again."""
    return hashlib.sha256((DDL + SEARCH_DDL + BACKFILL + INDEXES + DOWNTIME_DDL).encode()).hexdigest()[:16]


def migrate(conn: psycopg.Connection) -> None:
    """Create the schema, tables, triggers and indexes, and fill the search tables from rows that predate
    them; serialised across processes, one transaction, and nothing at all once this DDL has been applied."""
    version = digest()
    if _applied(conn, version):
        return
    conn.execute(DDL_LOCK)
    conn.execute(DDL)
    conn.execute(MIGRATIONS)
    if conn.execute(f"SELECT 1 FROM {SCHEMA}.schema_migrations WHERE digest = %s", (version,)).fetchone():
        return  # another process applied it while this one waited for the lock
    conn.execute(SEARCH_DDL)
    conn.execute(BACKFILL)
    conn.execute(INDEXES)
    conn.execute(DOWNTIME_DDL)
    conn.execute(f"INSERT INTO {SCHEMA}.schema_migrations (digest) VALUES (%s)", (version,))


def _applied(conn: psycopg.Connection, version: str) -> bool:
    row = conn.execute(f"SELECT to_regclass('{SCHEMA}.schema_migrations')").fetchone()
    if row is None or row[0] is None:
        return False
    return (
        conn.execute(f"SELECT 1 FROM {SCHEMA}.schema_migrations WHERE digest = %s", (version,)).fetchone() is not None
    )
