"""KpiService over in-memory repositories: what the dashboard shows for a site."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from dcmms.domain.errors import NotFound
from dcmms.domain.model import Role
from tests.unit.fakes import FakeCache, World, principal

VIEWER = principal(Role.viewer)


def _world(cache: FakeCache | None = None) -> World:
    w = World(cache)
    w.site()
    w.site("site_2")
    for n, status in enumerate(["operational", "operational", "degraded", "down", "decommissioned"]):
        w.asset(f"ast_{n}", status=status)
    w.asset("ast_elsewhere", site_id="site_2", status="down")
    past = datetime.now(UTC) - timedelta(days=1)
    w.work_order("wo_1", status="open", priority="high", due_at=past)
    w.work_order("wo_2", status="in_progress", priority="high")
    w.work_order("wo_3", status="on_hold", priority="low")
    w.work_order("wo_4", status="closed", priority="critical", due_at=past)
    w.work_order("wo_5", site_id="site_2", status="open", priority="critical")
    w.alert("alr_1", "ast_3", severity="critical")
    w.alert("alr_2", "ast_3", severity="minor", status="acknowledged")
    w.alert("alr_3", "ast_3", severity="critical", status="resolved")
    return w


def test_kpis_count_the_sites_assets_active_work_and_unresolved_alerts() -> None:
    kpis = orjson.loads(_world().kpis.site_kpis(VIEWER, "site_1"))
    assert kpis["site_id"] == "site_1"
    assert kpis["assets"] == {
        "total": 5,
        "by_status": {"operational": 2, "degraded": 1, "down": 1, "decommissioned": 1},
        "availability_percent": 75.0,  # 3 of the 4 in service
    }
    assert kpis["work_orders"] == {
        "active": 3,
        "active_by_priority": {"high": 2, "low": 1},
        "active_by_status": {"open": 1, "in_progress": 1, "on_hold": 1},
        "overdue": 1,
    }
    assert kpis["alerts"] == {
        "unresolved": 2,
        "unresolved_by_severity": {"critical": 1, "minor": 1},
        "unacknowledged": 1,
    }


def test_kpis_of_a_missing_or_foreign_site_are_not_found() -> None:
    w = _world()
    with pytest.raises(NotFound):
        w.kpis.site_kpis(VIEWER, "site_9")
    with pytest.raises(NotFound):
        w.kpis.site_kpis(principal(tenant="t2"), "site_1")


def test_kpis_are_memoized_with_a_cache() -> None:
    w = _world(FakeCache())
    first = w.kpis.site_kpis(VIEWER, "site_1")
    w.work_order("wo_6", status="open", priority="low")
    assert w.kpis.site_kpis(VIEWER, "site_1") == first  # within the memo's lifetime
    assert orjson.loads(first)["work_orders"]["active"] == 3
    w.cache.memo.clear()  # the memo expired
    assert orjson.loads(w.kpis.site_kpis(VIEWER, "site_1"))["work_orders"]["active"] == 4
