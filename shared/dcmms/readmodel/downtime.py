"""Downtime episodes in the read model, opened and closed by the projected alerts and asset statuses, and
the reliability figures read from them (MTTR, MTBF; ``docs/kpis.md``).

An episode opens when
- a **critical** alert is raised on an asset (closed when the alert is resolved): the asset is down; or
- an asset's status becomes ``down`` (reason ``forced``) or ``maintenance`` (reason ``planned``), closed when
  it leaves both.

Statement-level triggers on ``ops.alerts`` and ``ops.assets`` keep them, in the projector's transaction, so
every write path (stream, reindex) does. A supervisor may change an episode's reason (``planned``,
``forced``, ``curtailment``, ``grid``, ``weather``: the categories IEC availability needs) with a note; the
triggers never touch a reason again. Episodes of any reason but ``forced`` are *excused*: their hours leave
the availability and lost-energy figures (``readmodel.kpis``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from psycopg.rows import dict_row

from dcmms.readmodel.router import DatabaseRouter
from dcmms.readmodel.schema import SCHEMA

REASONS: Final = ("planned", "forced", "curtailment", "grid", "weather")
_DOWN = "('down', 'maintenance')"

DDL: Final = f"""
CREATE TABLE IF NOT EXISTS {SCHEMA}.downtime_episodes (
    tenant_id text NOT NULL,
    id text NOT NULL,
    site_id text,
    asset_id text NOT NULL,
    started_at timestamptz NOT NULL,
    ended_at timestamptz,
    reason text NOT NULL DEFAULT 'forced' CHECK (reason IN {REASONS!r}),
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

_EPISODE_COLUMNS = "id, site_id, asset_id, started_at, ended_at, reason, source, alert_id, note, edited_by, edited_at"


class PostgresDowntime:
    """Episodes and their edits: reads on a replica (purpose ``dashboard``), edits on the primary."""

    def __init__(self, router: DatabaseRouter) -> None:
        self._router = router

    def episodes(self, tenant_id: str, asset_id: str, since: datetime, until: datetime) -> list[dict[str, Any]]:
        """The asset's episodes overlapping [since, until), newest first."""
        query = (
            f"SELECT {_EPISODE_COLUMNS} FROM {SCHEMA}.downtime_episodes WHERE tenant_id = %s AND asset_id = %s "
            "AND started_at < %s AND (ended_at IS NULL OR ended_at > %s) ORDER BY started_at DESC"
        )
        return self._router.read(
            "dashboard",
            lambda conn: (
                conn.cursor(row_factory=dict_row).execute(query, (tenant_id, asset_id, until, since)).fetchall()
            ),
        )

    def repairs(self, tenant_id: str, asset_id: str, since: datetime, until: datetime) -> list[float]:
        """Hours from creation to completion of the asset's corrective work completed in [since, until)."""
        query = (
            f"SELECT extract(epoch FROM completed_at - created_at)::float8 / 3600 FROM {SCHEMA}.work_orders "
            "WHERE tenant_id = %s AND asset_id = %s AND NOT deleted AND type IN ('corrective', 'emergency') "
            "AND completed_at >= %s AND completed_at < %s AND created_at IS NOT NULL"
        )
        rows = self._router.read(
            "dashboard", lambda conn: conn.execute(query, (tenant_id, asset_id, since, until)).fetchall()
        )
        return [float(r[0]) for r in rows]

    def edit(self, tenant_id: str, episode_id: str, reason: str, note: str | None, by: str) -> dict[str, Any] | None:
        """Set an episode's reason and note; None when the tenant has no such episode."""
        with self._router.primary() as conn:
            return (
                conn.cursor(row_factory=dict_row)
                .execute(
                    f"UPDATE {SCHEMA}.downtime_episodes SET reason = %s, note = %s, edited_by = %s, edited_at = now() "
                    f"WHERE tenant_id = %s AND id = %s RETURNING {_EPISODE_COLUMNS}",
                    (reason, note, by, tenant_id, episode_id),
                )
                .fetchone()
            )
