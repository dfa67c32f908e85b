"""Downtime episodes in the read model, opened and closed by the projected alerts and asset statuses, and
the reliability figures read from them (MTTR, MTBF; ``docs/kpis.md``).

An episode opens when
- a **critical** alert is raised on an asset (closed when the alert is resolved): the asset is down; or
- an asset's status becomes ``down`` (reason ``forced``) or ``maintenance`` (reason ``planned``), closed when
  it leaves both.

Statement-level triggers on ``ops.alerts`` and ``ops.assets`` keep them, in the projector's transaction, so
every write path (stream, reindex) does; the table and its triggers are ``readmodel.schema``'s
``DOWNTIME_DDL``, with the rest of the read model's schema. A supervisor may change an episode's reason (``planned``,
``forced``, ``curtailment``, ``grid``, ``weather``: the categories IEC availability needs) with a note; the
triggers never touch a reason again. Episodes of any reason but ``forced`` are *excused*: their hours leave
the availability and lost-energy figures (``readmodel.kpis``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg.rows import dict_row

from dcmms.readmodel.router import DatabaseRouter
from dcmms.readmodel.schema import SCHEMA

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
