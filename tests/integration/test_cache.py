"""The Redis cache against a real redis-server: consistency, single flight, XFetch, locks, outages."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis as redis_lib
from fastapi.testclient import TestClient

from dcmms import clients
from dcmms.api.app import create_app
from dcmms.cache import CacheStats, Doc, LockNotAcquired, RedisCache, RedisLock, ResilientRedis
from dcmms.cache.redis_cache import _Entry
from dcmms.domain.errors import NotFound
from dcmms_dev.servers import start_redis
from tests.support.api import ApiClient, assert_problem


@pytest.fixture
def cache(settings) -> RedisCache:
    return RedisCache(ResilientRedis(clients.redis_client(settings)), CacheStats())


def test_every_mutation_path_is_visible_to_the_next_read(api) -> None:
    # given cached copies of one of each entity
    site = api.site()
    asset = api.asset(site["id"])
    wo = api.work_order(site["id"], asset_id=asset["id"])
    alert = api.alert(asset["id"])
    paths = {
        k: f"/api/v1/{k}/{v['id']}"
        for k, v in {"sites": site, "assets": asset, "work-orders": wo, "alerts": alert}.items()
    }
    for path in paths.values():
        assert api.get(path).status_code == 200  # fills the cache

    def version(path: str) -> int:
        return api.get(path).json()["version"]

    # when each mutation path runs, then the next read sees it
    api.patch(paths["sites"], {"name": "Renamed"})
    assert api.get(paths["sites"]).json()["name"] == "Renamed"
    api.patch(paths["assets"], {"status": "down"})
    assert api.get(paths["assets"]).json()["status"] == "down"
    api.patch(paths["work-orders"], {"priority": "critical"})
    assert api.get(paths["work-orders"]).json()["priority"] == "critical"
    api.post(f"{paths['work-orders']}/transitions", {"to": "open"})
    assert api.get(paths["work-orders"]).json()["status"] == "open"
    api.post(f"{paths['alerts']}/acknowledge")
    assert api.get(paths["alerts"]).json()["status"] == "acknowledged"
    linked = api.work_order(site["id"], asset_id=asset["id"], source_alert_id=alert["id"])  # alert-created WO
    assert api.get(paths["alerts"]).json()["work_order_id"] == linked["id"]
    api.post(f"{paths['alerts']}/resolve")
    assert version(paths["alerts"]) == 4
    # lists are invalidated too, without scanning keys
    listed = api.get("/api/v1/work-orders", site_id=site["id"]).json()["items"]
    assert {i["id"] for i in listed} == {wo["id"], linked["id"]}
    third = api.work_order(site["id"])
    assert third["id"] in {i["id"] for i in api.get("/api/v1/work-orders", site_id=site["id"]).json()["items"]}
    # and a delete is never resurrected by the cache
    child = api.asset(site["id"], name="leaf")
    assert api.get(f"/api/v1/assets/{child['id']}").status_code == 200
    assert api.delete(f"/api/v1/assets/{child['id']}").status_code == 204
    assert_problem(api.get(f"/api/v1/assets/{child['id']}"), 404)


def test_read_after_write_under_concurrent_writers(api) -> None:
    # given a cached work order
    wo = api.work_order(api.site()["id"])
    path = f"/api/v1/work-orders/{wo['id']}"
    api.get(path)
    stale_reads = []

    # when 6 writers patch it concurrently and each reads right after its own write
    def write_then_read(n: int) -> None:
        written = api.patch(path, {"title": f"title {n}"}).json()["version"]
        seen = api.get(path).json()["version"]
        if seen < written:
            stale_reads.append((written, seen))

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(write_then_read, range(6)))
    # then no reader saw a version older than its own write, and the cache ends at the latest version
    assert stale_reads == []
    assert api.get(path).json()["version"] == 7


def test_list_pages_revalidate_with_etag(api) -> None:
    site = api.site()
    api.work_order(site["id"])
    first = api.get("/api/v1/work-orders", site_id=site["id"])
    same = api.get("/api/v1/work-orders", site_id=site["id"], headers={"If-None-Match": first.headers["etag"]})
    assert same.status_code == 304
    api.work_order(site["id"])
    changed = api.get("/api/v1/work-orders", site_id=site["id"], headers={"If-None-Match": first.headers["etag"]})
    assert changed.status_code == 200 and len(changed.json()["items"]) == 2


def test_concurrent_misses_cause_one_load(cache) -> None:
    loads = []
    barrier = threading.Barrier(16)

    def load() -> Doc:
        loads.append(1)
        time.sleep(0.2)
        return Doc(1, b'{"id":"wo_x"}')

    def reader(_: int) -> Doc:
        barrier.wait()
        return cache.get_entity("wo", "t-single-flight", f"wo_{id(barrier)}", load)

    with ThreadPoolExecutor(16) as pool:
        docs = list(pool.map(reader, range(16)))
    assert len(loads) == 1
    assert all(d == Doc(1, b'{"id":"wo_x"}') for d in docs)


def test_missing_entities_are_not_cached_as_absent(cache) -> None:
    calls = []

    def load() -> Doc:
        calls.append(1)
        raise NotFound("no such thing")

    for _ in range(2):
        with pytest.raises(NotFound):
            cache.get_entity("wo", "t-missing", "wo_missing", load)
    assert len(calls) == 2


def test_xfetch_refreshes_hot_keys_before_they_expire(settings) -> None:
    # the probability rule itself
    assert _Entry(Doc(1, b"x"), expires_ms=1_000, delta_ms=10).refresh_early(1_000, beta=1.0)
    assert not _Entry(Doc(1, b"x"), expires_ms=10_000_000, delta_ms=1).refresh_early(0, beta=1.0)
    # a key with 300 ms left and a 250 ms recompute cost is refreshed early by a reader, never missed
    cache = RedisCache(ResilientRedis(clients.redis_client(settings)), CacheStats(), entity_ttl_s=1)
    version = iter(range(1, 100))

    def slow_load() -> Doc:
        time.sleep(0.25)
        return Doc(next(version), b"{}")

    cache.get_entity("wo", "t-xfetch", "wo_hot", slow_load)  # miss: v1, ttl 1 s, delta 250 ms
    seen = set()
    deadline = time.monotonic() + 1.6
    while time.monotonic() < deadline:
        seen.add(cache.get_entity("wo", "t-xfetch", "wo_hot", slow_load).version)
        time.sleep(0.02)
    stats = cache.stats.snapshot()["wo"]
    assert max(seen) >= 2, "the value was never refreshed"
    assert stats["misses"] == 1, "a hot key expired under load instead of being refreshed early"


def test_memoize_computes_once_per_ttl(cache) -> None:
    calls = []

    def compute() -> bytes:
        calls.append(1)
        return b'{"score": 0.97}'

    for _ in range(5):
        assert cache.memoize("asset-score", "t-memo", "ast_1:24h", 900, compute) == b'{"score": 0.97}'
    assert len(calls) == 1


def test_lock_is_exclusive_and_released_only_by_its_owner(settings) -> None:
    r = clients.redis_client(settings)
    first = RedisLock(r, "dcmms:job:test:lock", ttl_ms=200)
    second = RedisLock(r, "dcmms:job:test:lock", ttl_ms=5_000)
    assert first.acquire()
    assert not second.acquire()
    with pytest.raises(LockNotAcquired), second:
        pass
    time.sleep(0.25)  # the first owner's lease ran out; the second takes the lock
    assert second.acquire()
    assert first.release() is False  # the expired owner cannot release the new owner's lock
    assert r.get("dcmms:job:test:lock").decode() == second.token
    assert second.release() is True and r.get("dcmms:job:test:lock") is None


def test_invalidation_never_scans_keys(api, settings) -> None:
    r = clients.redis_client(settings)
    site = api.site()
    api.get("/api/v1/work-orders", site_id=site["id"])
    api.work_order(site["id"])
    stats = r.info("commandstats")
    assert not any(name in stats for name in ("cmdstat_keys", "cmdstat_scan"))


def test_redis_killed_mid_test_requests_still_answered(settings, tenant, tmp_path, monkeypatch) -> None:
    # given an app whose Redis is a server of its own
    server = start_redis(tmp_path)
    # a generous health deadline: DynamoDB Local has answered describe_table in over 1 s on a busy machine,
    # which reads as "unhealthy"; a killed Redis refuses at once whatever the deadline
    own = settings.model_copy(update={"redis_url": server.url, "health_timeout_s": 5.0})
    clients.redis_client.cache_clear()
    warnings = []
    monkeypatch.setattr("dcmms.cache.resilient.logger.warning", lambda *a, **k: warnings.append(a))
    with TestClient(create_app(own)) as http:
        api = ApiClient(http, tenant.keys["admin"])
        wo = api.work_order(api.site()["id"])
        assert api.get(f"/api/v1/work-orders/{wo['id']}").status_code == 200
        # when Redis dies
        server.kill()
        # then reads and writes keep working from DynamoDB, health is degraded, the outage is logged once
        for n in range(5):
            assert api.get(f"/api/v1/work-orders/{wo['id']}").status_code == 200
            assert api.patch(f"/api/v1/work-orders/{wo['id']}", {"title": f"t{n}"}).status_code == 200
        assert api.get(f"/api/v1/work-orders/{wo['id']}").json()["title"] == "t4"
        assert api.get("/api/v1/work-orders").status_code == 200
        health = http.get("/health").json()
        assert health["status"] == "degraded" and health["checks"]["redis"] == "unhealthy"
    # (the logger is shared: a request slow on a busy machine logs a warning of its own, which is not the outage's)
    assert len([w for w in warnings if w and "redis" in str(w[0]).lower()]) == 1
    server.stop()
    clients.redis_client.cache_clear()


def test_redis_errors_degrade_to_defaults() -> None:
    dead = ResilientRedis(redis_lib.Redis(port=1, socket_connect_timeout=0.1), retry_after_s=60)
    assert dead.run(lambda r: r.get("k"), "default") == "default"
    assert not dead.available and dead.failures == 1
    assert dead.run(lambda r: r.get("k"), "again") == "again" and dead.failures == 1  # breaker open: no call
