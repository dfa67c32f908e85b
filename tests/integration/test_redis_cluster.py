"""The app on a real 3-node Redis Cluster (ElastiCache cluster mode): cache, rate limits, locks, rules.

DynamoDB, PostgreSQL and moto come from the session stack; only Redis is swapped for the cluster, through
the same ``Settings`` switch (``redis_cluster``) the deployed functions use.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from dcmms import clients, runtime
from dcmms.api.app import create_app
from dcmms.cache import RedisLock
from dcmms.cache import keys as cache_keys
from dcmms.config import Settings
from dcmms.domain.model import AssetType, Role
from dcmms.local.seed import provision_tenant
from dcmms.local.servers import start_redis_cluster
from dcmms.telemetry.alerting import RuleEvaluator
from dcmms.telemetry.records import DecodedRecord
from tests.support.api import ApiClient, assert_problem


@pytest.fixture(scope="module")
def cluster_settings(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    nodes = start_redis_cluster(tmp_path_factory.mktemp("redis-cluster"))
    try:
        yield settings.model_copy(update={"redis_url": nodes[0].url, "redis_cluster": True})
    finally:
        for node in nodes:
            node.stop()


@pytest.fixture(scope="module")
def cluster_http(cluster_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(cluster_settings), raise_server_exceptions=False) as client:
        yield client


def test_the_client_is_a_cluster_client_over_three_masters(cluster_settings: Settings) -> None:
    r = clients.redis_client(cluster_settings)
    assert type(r).__name__ == "TimedRedisCluster"
    assert len(r.get_primaries()) == 3


def test_cache_write_through_lists_and_read_after_write_on_the_cluster(cluster_http, cluster_settings) -> None:
    tenant = provision_tenant(f"t-{uuid.uuid4().hex[:10]}", "Cluster operator")
    api = ApiClient(cluster_http, tenant.keys[Role.admin.value])
    site = api.site()
    # a read is served and cached; the listing sees the new site; an update is visible to the next read
    assert api.get(f"/api/v1/sites/{site['id']}").json()["name"] == site["name"]
    assert [s["id"] for s in api.get("/api/v1/sites").json()["items"]] == [site["id"]]
    assert api.patch(f"/api/v1/sites/{site['id']}", {"name": "Renamed"}).status_code == 200
    assert api.get(f"/api/v1/sites/{site['id']}").json()["name"] == "Renamed"
    assert api.get("/api/v1/sites").json()["items"][0]["name"] == "Renamed"
    # the cached entity and its tenant's list version share one slot, as the scripts need
    r = clients.redis_client(cluster_settings)
    entity = cache_keys.entity("site", tenant.tenant.id, site["id"])
    version = cache_keys.list_version("site", tenant.tenant.id, None)
    assert r.exists(entity) and r.exists(version)
    assert r.keyslot(entity) == r.keyslot(version)


def test_rate_limit_refuses_the_101st_request_on_the_cluster(cluster_http) -> None:
    tenant = provision_tenant(f"t-{uuid.uuid4().hex[:10]}", "Cluster free tier", tier_keys=True)
    client = ApiClient(cluster_http, tenant.tier_keys["free"])
    assert [client.get("/api/v1/sites").status_code for _ in range(100)] == [200] * 100
    assert_problem(client.get("/api/v1/sites"), 429)


def test_lock_is_exclusive_on_the_cluster(cluster_settings) -> None:
    r = clients.redis_client(cluster_settings)
    first, second = RedisLock(r, "dcmms:job:cluster:lock", 5_000), RedisLock(r, "dcmms:job:cluster:lock", 5_000)
    assert first.acquire() and not second.acquire()
    assert first.release() and second.acquire() and second.release()


def test_rule_evaluation_pipelines_on_the_cluster(cluster_http, cluster_settings) -> None:
    tenant = provision_tenant(f"t-{uuid.uuid4().hex[:10]}", "Cluster rules")
    api = ApiClient(cluster_http, tenant.keys[Role.admin.value])
    rule = {
        "name": "Over-temperature",
        "asset_type": "inverter",
        "metric": "heatsink_temp_c",
        "condition": ">",
        "threshold": 80,
        "for_duration_s": 60,
        "severity": "major",
    }
    assert api.post("/api/v1/alert-rules", rule).status_code == 201
    site = api.site()
    inv = api.asset(site["id"], type="inverter")
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    readings = [(t0 + timedelta(seconds=s), {"heatsink_temp_c": 90.0}) for s in (0, 30, 70)]
    record = DecodedRecord(tenant.tenant.id, site["id"], inv["id"], AssetType.inverter, readings)
    evaluator = RuleEvaluator(runtime.maintenance(cluster_settings), runtime.resilient_redis(cluster_settings))
    report = evaluator.evaluate([record])
    assert (report.raised, report.skipped) == (1, False)
    assert evaluator.evaluate([record]).raised == 0  # the episode is held in the cluster
    [alert] = api.get("/api/v1/alerts", asset_id=inv["id"]).json()["items"]
    assert alert["status"] == "active"
