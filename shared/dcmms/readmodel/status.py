"""The read model's state for ``GET /health``: how far behind its streams the projector was, per source
table, and which replicas answer within their lag bound."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg

from dcmms.readmodel.router import DatabaseRouter
from dcmms.readmodel.schema import SCHEMA

# Past this, /health says the read model is lagging (search and dashboards miss recent writes).
LAG_WARNING_S = 30.0
# A source whose last batch is older than this is caught up: nothing arrived since (a stalled mapping with
# records waiting is the event-source mapping's IteratorAge alarm's to report).
CURRENT_S = 60.0

_STATE = f"SELECT source, projected_at, newest_record_at, lag_s, records FROM {SCHEMA}.projection_state ORDER BY source"


def read_model_status(router: DatabaseRouter) -> dict[str, Any]:
    """``status`` (healthy; lagging: a batch within the last minute was over 30 s behind; empty: nothing
    projected yet), the worst ``lag_s`` of the latest batches, per source its last batch (``since_s`` ago),
    and the database targets with their replay lag."""
    try:
        with router.primary() as conn:
            rows = conn.execute(_STATE).fetchall()
    except psycopg.errors.UndefinedTable:
        rows = []
    now = datetime.now(UTC)
    sources = {
        source: {
            "projected_at": projected.isoformat(),
            "newest_record_at": newest.isoformat(),
            "lag_s": round(lag, 3),
            "since_s": round((now - projected).total_seconds(), 3),
            "records": records,
        }
        for source, projected, newest, lag, records in rows
    }
    lag_s = max((s["lag_s"] for s in sources.values()), default=None)
    behind = any(s["lag_s"] > LAG_WARNING_S and s["since_s"] < CURRENT_S for s in sources.values())
    status = "empty" if lag_s is None else "lagging" if behind else "healthy"
    return {"status": status, "lag_s": lag_s, "sources": sources, "databases": router.status()}
