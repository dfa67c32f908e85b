"""Rate limiting as clients meet it: headers on every response, 429 with Retry-After, shared limits."""

from __future__ import annotations

import multiprocessing
import time
import uuid

import pytest

from dcmms_dev.seed import provision_tenant
from tests.support.api import ApiClient, assert_problem


@pytest.fixture
def free_key(stack) -> str:
    suffix = uuid.uuid4().hex[:10]
    return provision_tenant(f"t-rl-{suffix}", "Rate-limited operator", tier_keys=True).tier_keys["free"]


def test_every_api_response_carries_ratelimit_headers(api) -> None:
    response = api.get("/api/v1/sites")
    assert '"enterprise";q=100000;w=3600' in response.headers["ratelimit-policy"]
    assert response.headers["ratelimit"].startswith('"enterprise";r=')
    wo = api.get("/api/v1/work-orders")
    assert '"work-orders";q=1000;w=60' in wo.headers["ratelimit-policy"]
    # errors too (after authentication): a 404 still tells the client where it stands
    assert "ratelimit" in api.get("/api/v1/sites/site_missing").headers


def test_free_key_is_refused_at_101_and_admitted_after_retry_after(http, free_key) -> None:
    client = ApiClient(http, free_key)
    statuses = [client.get("/api/v1/sites").status_code for _ in range(100)]
    assert statuses == [200] * 100
    refused = client.get("/api/v1/sites")
    body = assert_problem(refused, 429)
    retry_after = int(refused.headers["retry-after"])
    assert 1 <= retry_after <= 4 and body["retry_after"] == retry_after
    assert refused.headers["ratelimit"].startswith('"free";r=0')
    time.sleep(retry_after)
    assert client.get("/api/v1/sites").status_code == 200


def _hammer(settings_json: str, key: str, n: int, out: multiprocessing.Queue) -> None:
    from fastapi.testclient import TestClient

    from dcmms.api.app import create_app
    from dcmms.config import Settings
    from dcmms_dev.stack import use_emulated_aws

    use_emulated_aws()
    with TestClient(create_app(Settings.model_validate_json(settings_json))) as http:
        out.put(sum(http.get("/api/v1/sites", headers={"x-api-key": key}).status_code == 200 for _ in range(n)))


def test_limits_hold_across_app_processes(settings, free_key) -> None:
    # given three API processes sharing one Redis, when each sends 60 requests with one free key
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_hammer, args=(settings.model_dump_json(), free_key, 60, out)) for _ in range(3)]
    for p in procs:
        p.start()
    admitted = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    # then together they were admitted exactly the burst (plus at most one refill of 3.6 s)
    assert 100 <= sum(admitted) <= 101, admitted


def test_an_open_breaker_skips_redis_and_fails_open(settings, free_key) -> None:
    from dcmms.domain.model import Principal, Role, Tier
    from dcmms.ratelimit import RateLimiter, load_policy

    calls = []

    class CountingRedis:
        def execute_command(self, *args):
            calls.append(args)
            raise AssertionError("Redis must not be called while the breaker is open")

    limiter = RateLimiter(CountingRedis(), load_policy(None), redis_available=lambda: False)  # type: ignore[arg-type]
    caller = Principal(tenant_id="t", user_id="u", role=Role.admin, tier=Tier.free, key_id="k")
    decision = limiter.check(caller, "GET", "/api/v1/sites")
    assert decision.allowed and decision.degraded and calls == []
    assert "RateLimit" not in decision.headers and '"free";q=1000' in decision.headers["RateLimit-Policy"]
