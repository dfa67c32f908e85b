"""Downtime episodes in the read model: opened and closed by critical alerts and asset statuses as the
projector writes them, excused by a supervisor's reason, and the reliability figures read from them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from dcmms.config import Settings
from dcmms.readmodel.projector import Projector
from dcmms.readmodel.router import DatabaseRouter
from tests.integration.test_read_model import _record
from tests.support.api import ApiClient, assert_problem


@pytest.fixture
def projector(router: DatabaseRouter, settings: Settings) -> Projector:
    return Projector(router, settings.table_prefix)


def _episodes(settings: Settings, tenant: str, asset: str) -> list[dict[str, Any]]:
    with psycopg.connect(settings.database_url) as conn:
        conn.row_factory = psycopg.rows.dict_row
        return conn.execute(
            "SELECT * FROM ops.downtime_episodes WHERE tenant_id = %s AND asset_id = %s ORDER BY started_at",
            (tenant, asset),
        ).fetchall()


def _alert(tenant: str, alert: str, version: int, severity: str, status: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": alert,
        "tenant_id": tenant,
        "version": version,
        "created_at": "2026-12-02T08:00:00Z",
        "updated_at": f"2026-12-02T08:0{version}:00Z",
        "site_id": "s1",
        "asset_id": "inv-1",
        "severity": severity,
        "status": status,
        "message": "Inverter fault",
        "raised_at": "2026-12-02T08:00:00Z",
        **fields,
    }


def _asset(tenant: str, version: int, status: str) -> dict[str, Any]:
    return {
        "id": "inv-1",
        "tenant_id": tenant,
        "version": version,
        "created_at": "2026-12-02T07:00:00Z",
        "updated_at": f"2026-12-02T1{version}:00:00Z",
        "site_id": "s1",
        "name": "INV-1",
        "type": "inverter",
        "status": status,
    }


def test_a_critical_alert_opens_an_episode_its_resolution_closes(projector: Projector, settings: Settings) -> None:
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    raised = _alert(tenant, "al-1", 1, "critical", "active")
    minor = _alert(tenant, "al-2", 1, "major", "active")
    projector.project(
        [_record(settings, "alerts", raised, 1, "INSERT"), _record(settings, "alerts", minor, 2, "INSERT")]
    )
    (episode,) = _episodes(settings, tenant, "inv-1")  # a major alert is not downtime
    assert (episode["id"], episode["source"], episode["reason"], episode["ended_at"]) == (
        "alert:al-1",
        "alert",
        "forced",
        None,
    )
    resolved = _alert(tenant, "al-1", 2, "critical", "resolved", resolved_at="2026-12-02T09:30:00Z")
    projector.project([_record(settings, "alerts", resolved, 3)])
    projector.project([_record(settings, "alerts", resolved, 3)])  # a replay changes nothing
    (episode,) = _episodes(settings, tenant, "inv-1")
    assert episode["ended_at"] == datetime(2026, 12, 2, 9, 30, tzinfo=UTC)


def test_asset_status_opens_and_closes_episodes(projector: Projector, settings: Settings) -> None:
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    for n, status in enumerate(("operational", "down", "down", "operational", "maintenance"), 1):
        projector.project([_record(settings, "assets", _asset(tenant, n, status), n, "INSERT" if n == 1 else "MODIFY")])
    forced, planned = _episodes(settings, tenant, "inv-1")
    assert (forced["reason"], forced["source"]) == ("forced", "status")
    assert forced["started_at"] == datetime(2026, 12, 2, 12, tzinfo=UTC)  # when it went down (version 2)
    assert forced["ended_at"] == datetime(2026, 12, 2, 14, tzinfo=UTC)  # back to operational (version 4)
    assert (planned["reason"], planned["ended_at"]) == ("planned", None)  # maintenance: planned, still open


def test_reliability_and_a_supervisors_reason(api: ApiClient, client_for, other_tenant, tenant, settings) -> None:
    site = api.site()
    asset = api.asset(site["id"])
    tid, aid = tenant.tenant.id, asset["id"]
    until = datetime.now(UTC).replace(microsecond=0)
    since = until - timedelta(days=30)
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        for n, (start_h, hours, reason) in enumerate(
            ((10, 2, "forced"), (100, 4, "forced"), (300, 6, "forced"), (400, 5, "planned"))
        ):
            started = since + timedelta(hours=start_h)
            conn.execute(
                "INSERT INTO ops.downtime_episodes (tenant_id, id, site_id, asset_id, started_at, ended_at, reason, source) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, 'status')",
                (tid, f"ep-{aid}-{n}", site["id"], aid, started, started + timedelta(hours=hours), reason),
            )
        conn.execute(  # a corrective work order completed in the period, 3 hours after it was opened
            "INSERT INTO ops.work_orders (tenant_id, id, version, asset_id, type, status, created_at, completed_at) "
            "VALUES (%s, %s, 1, %s, 'corrective', 'completed', %s, %s)",
            (tid, f"wo-{aid}", aid, until - timedelta(days=2, hours=3), until - timedelta(days=2)),
        )
    body = api.get(f"/api/v1/assets/{aid}/reliability", **{"from": since.isoformat(), "to": until.isoformat()}).json()
    assert (body["period_h"], body["failures"], body["downtime_h"]) == (720.0, 3, 12.0)
    assert (body["mttr_h"], body["mtbf_h"]) == (4.0, 236.0)  # docs/kpis.md's example
    assert body["excused_downtime_h"] == {"planned": 5.0}
    assert body["corrective_work_orders"] == {"completed": 1, "mean_repair_h": 3.0}
    assert [e["id"] for e in body["episodes"]][0] == f"ep-{aid}-3"  # newest first

    episode = f"ep-{aid}-0"
    edited = client_for(tenant, "supervisor").patch(
        f"/api/v1/downtime/{episode}", {"reason": "grid", "note": "TSO outage"}
    )
    assert edited.status_code == 200, edited.text
    assert (edited.json()["reason"], edited.json()["note"]) == ("grid", "TSO outage")
    assert edited.json()["edited_by"] and edited.json()["edited_at"]
    body = api.get(f"/api/v1/assets/{aid}/reliability", **{"from": since.isoformat(), "to": until.isoformat()}).json()
    assert body["failures"] == 2 and body["excused_downtime_h"] == {"grid": 2.0, "planned": 5.0}
    assert_problem(client_for(tenant, "technician").patch(f"/api/v1/downtime/{episode}", {"reason": "forced"}), 403)
    assert_problem(api.patch(f"/api/v1/downtime/{episode}", {"reason": "sunspots"}), 422, "body.reason")
    other = client_for(other_tenant, "admin")
    assert_problem(other.patch(f"/api/v1/downtime/{episode}", {"reason": "forced"}), 404)
    assert_problem(other.get(f"/api/v1/assets/{aid}/reliability"), 404)
    assert_problem(
        api.get(f"/api/v1/assets/{aid}/reliability", **{"from": until.isoformat(), "to": since.isoformat()}),
        422,
        "query.from",
    )
