"""Memoized site KPIs, the cache warmer (also through its Lambda handler) and reference data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dcmms import clients, runtime
from dcmms.cache import RedisLock, keys
from dcmms.config import get_settings
from dcmms.services.warming import warm_caches
from dcmms_dev.events import FakeLambdaContext, scheduled_event
from tests.support.api import assert_problem
from tests.support.handlers import import_handler


def test_site_kpis_are_computed_and_memoized(api, http, other_tenant) -> None:
    site = api.site()
    up = api.asset(site["id"], name="up")
    down = api.asset(site["id"], name="down", status="down")
    api.asset(site["id"], name="gone", status="decommissioned")
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    api.work_order(site["id"], priority="critical", status="open", due_at=past)
    api.work_order(site["id"], priority="low", asset_id=up["id"])
    api.alert(down["id"], severity="critical")
    kpis = api.get(f"/api/v1/sites/{site['id']}/kpis")
    assert kpis.headers["cache-control"] == "private, max-age=60"
    body = kpis.json()
    assert body["assets"]["total"] == 3 and body["assets"]["availability_percent"] == 50.0
    assert body["work_orders"]["active"] == 2 and body["work_orders"]["overdue"] == 1
    assert body["work_orders"]["active_by_priority"] == {"critical": 1, "low": 1}
    assert body["alerts"] == {"unresolved": 1, "unresolved_by_severity": {"critical": 1}, "unacknowledged": 1}
    # memoized: a new work order does not recompute within the TTL
    api.work_order(site["id"])
    again = api.get(f"/api/v1/sites/{site['id']}/kpis").json()
    assert again["computed_at"] == body["computed_at"] and again["work_orders"]["active"] == 2
    revalidated = api.get(f"/api/v1/sites/{site['id']}/kpis", headers={"If-None-Match": kpis.headers["etag"]})
    assert revalidated.status_code == 304
    from tests.support.api import ApiClient

    assert_problem(ApiClient(http, other_tenant.keys["admin"]).get(f"/api/v1/sites/{site['id']}/kpis"), 404)


def test_asset_types_are_long_lived_reference_data(api) -> None:
    response = api.get("/api/v1/assets/types")
    assert response.headers["cache-control"] == "public, max-age=3600"
    assert {"type": "weather_station", "label": "weather station"} in response.json()


def test_warmer_loads_sites_kpis_and_most_read_work_orders(api, tenant, settings, monkeypatch) -> None:
    # given a work order that was read often but has dropped out of the cache (every read counted)
    monkeypatch.setattr("dcmms.cache.redis_cache.READ_SAMPLE_RATE", 1.0)
    site = api.site()
    wo = api.work_order(site["id"])
    for _ in range(3):
        api.get(f"/api/v1/work-orders/{wo['id']}")
    r = clients.redis_client(settings)
    r.delete(keys.entity("wo", tenant.tenant.id, wo["id"]), keys.entity("site", tenant.tenant.id, site["id"]))
    # when the warmer runs
    report = warm_caches(runtime.maintenance(settings), [tenant.tenant.id])
    # then the site, its KPIs and the work order are in Redis again
    assert report.ran and report.sites == 1 and report.kpis == 1 and report.work_orders >= 1
    assert r.exists(keys.entity("wo", tenant.tenant.id, wo["id"]))
    assert r.exists(keys.entity("site", tenant.tenant.id, site["id"]))
    assert r.exists(keys.memo("site-kpis", tenant.tenant.id, site["id"]))


def test_warmer_is_single_flight(tenant, settings) -> None:
    r = clients.redis_client(settings)
    with RedisLock(r, keys.job_lock("cache-warmer"), ttl_ms=5_000):
        assert warm_caches(runtime.maintenance(settings), [tenant.tenant.id]).ran is False
    assert warm_caches(runtime.maintenance(settings), [tenant.tenant.id]).ran is True


@pytest.fixture
def warmer_handler(settings, monkeypatch):
    yield import_handler("functions.warmer.handler", settings, monkeypatch)
    get_settings.cache_clear()


def test_warmer_lambda_with_a_scheduled_event(warmer_handler, tenant) -> None:
    report = warmer_handler(scheduled_event(), FakeLambdaContext())
    assert report["ran"] is True and report["tenants"] >= 1
