"""The app on a real 3-node Redis Cluster (ElastiCache cluster mode): cache, rate limits, locks, rules.

DynamoDB, PostgreSQL and moto come from the session stack; only Redis is swapped for the cluster, through
the same ``Settings`` switch (``redis_cluster``) the deployed functions use. Every multi-key operation is
checked to stay in one slot by the servers' own CLUSTER KEYSLOT.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from dcmms import clients, runtime
from dcmms.api.app import create_app
from dcmms.cache import RedisCache, RedisLock, ResilientRedis
from dcmms.cache import keys as cache_keys
from dcmms.cache.redis_cache import Doc
from dcmms.clients.redis_timed import TimedRedisCluster
from dcmms.config import Settings
from dcmms.domain.model import AssetType, Principal, Role, Tier
from dcmms.observability import record
from dcmms.ratelimit import RateLimiter, load_policy
from dcmms.telemetry.alerting import RuleEvaluator
from dcmms.telemetry.record_format import DecodedRecord
from dcmms_dev.seed import provision_tenant
from dcmms_dev.servers import free_port, start_redis_cluster
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


def _one_slot(r: Any, keys: list[str]) -> int:
    """The slot every key maps to, as the cluster computes it; fails when they are spread."""
    slots = {r.cluster_keyslot(key) for key in keys}
    assert len(slots) == 1, dict(zip(keys, slots, strict=False))
    return slots.pop()


def test_the_client_is_a_cluster_client_over_three_masters(cluster_settings: Settings) -> None:
    r = clients.redis_client(cluster_settings)
    assert isinstance(r.cluster, TimedRedisCluster)
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
    version = cache_keys.list_version("site", tenant.tenant.id, "")
    assert r.exists(entity) and r.exists(version)
    _one_slot(
        r, [entity, version, cache_keys.list_version("wo", tenant.tenant.id, f"site_id={site['id']}|status=open")]
    )


def test_rate_limit_refuses_the_101st_request_on_the_cluster(cluster_http) -> None:
    tenant = provision_tenant(f"t-{uuid.uuid4().hex[:10]}", "Cluster free tier", tier_keys=True)
    client = ApiClient(cluster_http, tenant.tier_keys["free"])
    assert [client.get("/api/v1/sites").status_code for _ in range(100)] == [200] * 100
    assert_problem(client.get("/api/v1/sites"), 429)


def test_limits_of_one_caller_are_checked_in_one_script_call_on_one_slot(cluster_settings: Settings) -> None:
    """Work-order requests count against the key's tier limit and the user's endpoint limit: two keys, one
    EVALSHA, which the cluster refuses unless both hash to one slot."""
    r = clients.redis_client(cluster_settings)
    suffix = uuid.uuid4().hex[:10]
    caller = Principal(tenant_id=f"t_{suffix}", user_id=f"u_{suffix}", role=Role.admin, tier=Tier.free, key_id=suffix)
    limiter = RateLimiter(r, load_policy())
    decisions = [limiter.check(caller, "GET", "/api/v1/work-orders") for _ in range(101)]
    assert [d.allowed for d in decisions] == [True] * 100 + [False]
    assert decisions[-1].retry_after_s is not None and decisions[-1].retry_after_s > 0
    stored = sorted(key.decode() for key in r.scan_iter(match=f"rl:{{{caller.tenant_id}}}:*"))
    assert len(stored) == 2, stored
    _one_slot(r, [*stored, cache_keys.entity("site", caller.tenant_id, "any")])


def test_scripts_are_loaded_again_after_the_shards_lose_them(cluster_settings: Settings) -> None:
    """A failover or restart empties a shard's script cache: EVALSHA's NOSCRIPT must fall back to loading."""
    r = clients.redis_client(cluster_settings)
    tenant = f"t_{uuid.uuid4().hex[:10]}"
    resilient = ResilientRedis(r)
    cache = RedisCache(resilient)
    lock = RedisLock(r, f"dcmms:{{{tenant}}}:lock:flush", 5_000)
    for node in r.get_primaries():
        r.execute_command("SCRIPT", "FLUSH", target_nodes=node)
    cache.put_entity("site", tenant, "s1", Doc(3, b'{"v":3}'))
    assert cache.get_entity("site", tenant, "s1", lambda: Doc(0, b"source")) == Doc(3, b'{"v":3}')
    caller = Principal(tenant_id=tenant, user_id="u", role=Role.admin, tier=Tier.free, key_id="k")
    assert RateLimiter(r, load_policy()).check(caller, "GET", "/api/v1/sites").allowed
    assert lock.acquire() and lock.release()
    assert resilient.failures == 0


def test_an_unreachable_cluster_trips_the_breaker_instead_of_failing_the_start(settings: Settings) -> None:
    """The client is built without the cluster (as at a cold start during an outage); the cache then serves
    from the source and opens its breaker, as with a single node."""
    down = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0", "redis_cluster": True})
    resilient = ResilientRedis(clients.redis_client(down))
    cache = RedisCache(resilient)  # registers its scripts: no connection needed
    assert cache.get_entity("site", "t1", "s1", lambda: Doc(1, b"from-source")) == Doc(1, b"from-source")
    assert not resilient.available and resilient.failures == 1
    # and the rate limiter fails open (degraded) instead of raising the cluster's own exception
    caller = Principal(tenant_id="t1", user_id="u1", role=Role.admin, tier=Tier.free, key_id="k1")
    decision = RateLimiter(clients.redis_client(down), load_policy()).check(caller, "GET", "/api/v1/sites")
    assert decision.allowed and decision.degraded


def test_lock_is_exclusive_on_the_cluster(cluster_settings) -> None:
    r = clients.redis_client(cluster_settings)
    first, second = RedisLock(r, "dcmms:job:cluster:lock", 5_000), RedisLock(r, "dcmms:job:cluster:lock", 5_000)
    assert first.acquire() and not second.acquire()
    assert first.release() and second.acquire() and second.release()


def test_rule_evaluation_pipelines_on_the_cluster(cluster_http, cluster_settings, monkeypatch) -> None:
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
    response = api.post("/api/v1/alert-rules", rule)
    assert response.status_code == 201
    created = response.json()
    site = api.site()
    inv = api.asset(site["id"], type="inverter")
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    readings = [(t0 + timedelta(seconds=s), {"heatsink_temp_c": 90.0}) for s in (0, 30, 70)]
    decoded = DecodedRecord(tenant.tenant.id, site["id"], inv["id"], AssetType.inverter, readings)
    evaluator = RuleEvaluator(runtime.maintenance(cluster_settings).alerts, runtime.resilient_redis(cluster_settings))
    timed: list[str] = []
    real_db_query = record.db_query
    monkeypatch.setattr(record, "db_query", lambda system, op, s: (timed.append(op), real_db_query(system, op, s)))
    report = evaluator.evaluate([decoded])
    assert (report.raised, report.skipped) == (1, False)
    assert timed.count("PIPELINE") >= 2  # the batch's read and write pipelines, each timed once
    assert evaluator.evaluate([decoded]).raised == 0  # the episode is held in the cluster
    [alert] = api.get("/api/v1/alerts", asset_id=inv["id"]).json()["items"]
    assert alert["status"] == "active"
    r = clients.redis_client(cluster_settings)
    episode = f"dcmms:{{{tenant.tenant.id}}}:rule:{created['id']}:{inv['id']}"
    assert r.hget(episode, "alert") is not None  # written by the write pipeline
    _one_slot(r, [episode, f"dcmms:{{{tenant.tenant.id}}}:site:{site['id']}:latest"])
