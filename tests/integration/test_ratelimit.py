"""GCRA rate limiting against a real redis-server: bursts, retry times, atomicity, processes, outages."""

from __future__ import annotations

import multiprocessing
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import redis

from dcmms.domain.model import Principal, Role, Tier
from dcmms.ratelimit import RateLimiter, RatePolicy, load_policy
from dcmms_dev.servers import RunningServer, start_redis

if TYPE_CHECKING:
    from multiprocessing.queues import Queue
    from multiprocessing.synchronize import Barrier

REDIS_OPTIONS = {"socket_timeout": 0.25, "socket_connect_timeout": 0.25}
FREE_INTERVAL_MS = 3_600  # the free tier admits one request per 3.6 s once its burst of 100 is spent


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_redis(tmp_path_factory.mktemp("ratelimit-redis"))
    yield running
    running.stop()


@pytest.fixture
def client(server: RunningServer) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(server.url, **REDIS_OPTIONS)
    yield connection
    connection.close()


@pytest.fixture
def limiter(client: redis.Redis) -> RateLimiter:
    return RateLimiter(client, load_policy())


def _principal(tier: Tier = Tier.free) -> Principal:
    """A caller in a tenant of its own, so tests never share limits."""
    suffix = uuid.uuid4().hex[:10]
    return Principal(
        tenant_id=f"t_{suffix}", user_id=f"usr_{suffix}", role=Role.admin, tier=tier, key_id=f"key_{suffix}"
    )


def _now_ms() -> int:
    return int(time.time() * 1000)


def test_free_key_is_refused_at_request_101_until_retry_after_has_passed(limiter: RateLimiter) -> None:
    caller = _principal()
    admitted = [limiter.check(caller, "GET", "/api/v1/sites").allowed for _ in range(100)]
    refused = limiter.check(caller, "GET", "/api/v1/sites")

    assert all(admitted) and not refused.allowed
    assert refused.retry_after_s is not None and 1 <= refused.retry_after_s <= 4  # 3.6 s after the first, rounded up
    assert refused.headers["Retry-After"] == str(refused.retry_after_s)
    assert refused.headers["RateLimit"] == f'"free";r=0;t={refused.retry_after_s}'
    assert refused.headers["RateLimit-Policy"] == '"free";q=1000;w=3600;dcmms-burst=100'
    time.sleep(refused.retry_after_s)
    assert limiter.check(caller, "GET", "/api/v1/sites").allowed


def test_the_retry_time_is_the_exact_moment_a_retry_succeeds(limiter: RateLimiter) -> None:
    caller, start = _principal(), _now_ms()
    for _ in range(100):
        assert limiter.check(caller, "GET", "/api/v1/sites", now_ms=start).allowed

    assert limiter.check(caller, "GET", "/api/v1/sites", now_ms=start).retry_after_s == 4  # 3.6 s, rounded up
    too_early = limiter.check(caller, "GET", "/api/v1/sites", now_ms=start + FREE_INTERVAL_MS - 1)
    assert not too_early.allowed and too_early.retry_after_s == 1  # 1 ms, rounded up
    assert limiter.check(caller, "GET", "/api/v1/sites", now_ms=start + FREE_INTERVAL_MS).allowed
    assert not limiter.check(caller, "GET", "/api/v1/sites", now_ms=start + FREE_INTERVAL_MS).allowed


def test_an_endpoint_limit_refuses_at_its_burst_and_its_refusal_costs_the_tier_nothing(
    limiter: RateLimiter,
) -> None:
    caller, now = _principal(), _now_ms()
    for _ in range(10):
        assert limiter.check(caller, "POST", "/api/v1/reports", now_ms=now).allowed

    refused = limiter.check(caller, "POST", "/api/v1/reports", now_ms=now)
    assert not refused.allowed and refused.retry_after_s == 6  # 10 per minute: one per 6 s
    assert refused.headers["RateLimit"] == '"reports-generate";r=0;t=6'
    # The tier limit had room and was not charged for the refusal: 10 reports + this request = 11 used.
    other = limiter.check(caller, "GET", "/api/v1/sites", now_ms=now)
    assert other.allowed and other.headers["RateLimit"] == '"free";r=89;t=4'


def test_a_tier_refusal_costs_the_endpoint_limit_nothing(limiter: RateLimiter, client: redis.Redis) -> None:
    caller, now = _principal(), _now_ms()
    for _ in range(100):
        limiter.check(caller, "GET", "/api/v1/sites", now_ms=now)

    refused = limiter.check(caller, "GET", "/api/v1/search", now_ms=now)
    assert not refused.allowed and refused.headers["RateLimit"] == '"free";r=0;t=4'
    assert client.exists(f"rl:{{{caller.tenant_id}}}:ep:search:user:{caller.user_id}") == 0


def _hammer(url: str, caller: Principal, attempts: int, start: Barrier, admitted: Queue[int]) -> None:
    """One API process: its own client and limiter, checking the shared key as fast as it can."""
    connection = redis.Redis.from_url(url, **REDIS_OPTIONS)
    limiter = RateLimiter(connection, load_policy())
    start.wait()
    count = sum(limiter.check(caller, "GET", "/api/v1/sites").allowed for _ in range(attempts))
    admitted.put(count)
    connection.close()


def test_limits_hold_across_processes_sharing_one_redis(server: RunningServer) -> None:
    caller = _principal()
    context = multiprocessing.get_context("spawn")
    start, admitted = context.Barrier(3), context.Queue()
    workers = [context.Process(target=_hammer, args=(server.url, caller, 150, start, admitted)) for _ in range(3)]
    for worker in workers:
        worker.start()
    counts = [admitted.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=10)

    assert sum(counts) == 100, counts
    assert all(worker.exitcode == 0 for worker in workers)


def test_memory_per_caller_is_one_string_per_limit(limiter: RateLimiter, client: redis.Redis) -> None:
    caller = _principal(Tier.enterprise)
    pattern = f"rl:{{{caller.tenant_id}}}:*"
    assert limiter.check(caller, "GET", "/api/v1/work-orders").allowed
    after_one = {key: client.memory_usage(key) for key in client.scan_iter(match=pattern)}

    assert all(limiter.check(caller, "GET", "/api/v1/work-orders/{work_order_id}").allowed for _ in range(499))
    after_500 = {key: client.memory_usage(key) for key in client.scan_iter(match=pattern)}
    assert (
        sorted(after_500)
        == sorted(after_one)
        == [
            f"rl:{{{caller.tenant_id}}}:ep:work-orders:user:{caller.user_id}".encode(),
            f"rl:{{{caller.tenant_id}}}:key:{caller.key_id}".encode(),
        ]
    )
    assert after_500 == after_one
    assert all(client.type(key) == b"string" and client.pttl(key) > 0 for key in after_500)


def test_the_script_is_reloaded_after_redis_forgets_it(limiter: RateLimiter, client: redis.Redis) -> None:
    caller = _principal()
    assert limiter.check(caller, "GET", "/api/v1/sites").allowed
    client.script_flush()
    assert limiter.check(caller, "GET", "/api/v1/sites").headers["RateLimit"] == '"free";r=98;t=4'


def test_redis_down_fails_open_or_closed_per_rule(tmp_path: Path) -> None:
    doomed = start_redis(tmp_path)
    try:
        policy = load_policy()
        fail_closed = [
            rule.model_copy(update={"fail_closed": rule.name == "reports-generate"}) for rule in policy.endpoints
        ]
        policy = RatePolicy(tiers=policy.tiers, endpoints=tuple(fail_closed))
        errors: list[Exception] = []
        limiter = RateLimiter(redis.Redis.from_url(doomed.url, **REDIS_OPTIONS), policy, on_redis_error=errors.append)
        caller = _principal()
        assert limiter.check(caller, "GET", "/api/v1/sites").allowed
        doomed.kill()

        started = time.monotonic()
        open_ = limiter.check(caller, "GET", "/api/v1/sites")
        assert open_.allowed and open_.degraded and not open_.unavailable and open_.retry_after_s is None
        assert open_.headers == {"RateLimit-Policy": '"free";q=1000;w=3600;dcmms-burst=100'}
        assert len(errors) == 1 and isinstance(errors[0], redis.RedisError)

        closed = limiter.check(caller, "POST", "/api/v1/reports")
        assert not closed.allowed and closed.unavailable and not closed.degraded and closed.retry_after_s is None
        assert len(errors) == 2 and time.monotonic() - started < 2  # bounded by the client's timeouts
    finally:
        doomed.stop()
