"""Rate-limit policy loading, rule matching, header formatting and decisions, without Redis."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import redis
from redis.crc import key_slot

from dcmms.domain.model import Principal, Role, Tier
from dcmms.ratelimit import Decision, LimitRule, PolicyError, RateLimiter, RatePolicy, Scope, load_policy
from dcmms.ratelimit.headers import policy_field, quota_policy_item, service_limit_item
from dcmms.ratelimit.limiter import GCRA_SCRIPT, GCRA_SHA

# RFC 9651 List of String items whose parameters are Integers: the shape of both fields.
_SF_ITEM = r'"[\x20\x21\x23-\x5b\x5d-\x7e]*"(?:;[a-z*][a-z0-9_.*-]*=-?\d{1,15})*'
_SF_LIST = re.compile(rf"{_SF_ITEM}(?:, {_SF_ITEM})*")

PRINCIPAL = Principal(tenant_id="t_1", user_id="usr_1", role=Role.technician, tier=Tier.free, key_id="key_1")
_TIERS = {tier.value: {"limit": 1000, "period_s": 3600, "burst": 100} for tier in Tier}


def _policy(**overrides: object) -> str:
    return json.dumps({"tiers": _TIERS, "endpoints": [], **overrides})


# --- policy loading ---------------------------------------------------------------------------------


def test_default_policy_has_the_spec_tiers_and_endpoint_limits() -> None:
    policy = load_policy()
    tiers = {tier: (rule.limit, rule.period_s, rule.burst, rule.scope) for tier, rule in policy.tiers.items()}
    assert tiers == {
        Tier.free: (1_000, 3600, 100, Scope.key),
        Tier.pro: (10_000, 3600, 1_000, Scope.key),
        Tier.enterprise: (100_000, 3600, 10_000, Scope.key),
    }
    endpoints = {
        rule.name: (rule.path, rule.methods, rule.limit, rule.period_s, rule.scope) for rule in policy.endpoints
    }
    assert endpoints == {
        "telemetry-ingest": ("/api/v1/telemetry/ingest", frozenset({"POST"}), 10_000, 60, Scope.tenant),
        "work-orders": ("/api/v1/work-orders", None, 1_000, 60, Scope.user),
        "search": ("/api/v1/search", None, 100, 60, Scope.user),
        "reports-generate": ("/api/v1/reports", frozenset({"POST"}), 10, 60, Scope.user),
    }
    assert not any(rule.fail_closed for rule in (*policy.tiers.values(), *policy.endpoints))


def test_gcra_parameters_follow_from_the_limits() -> None:
    free = load_policy().tiers[Tier.free]
    assert free.emission_interval_us == 3_600_000  # one request per 3.6 s
    assert free.tolerance_us == 100 * 3_600_000  # 100 back to back
    reports = next(rule for rule in load_policy().endpoints if rule.name == "reports-generate")
    assert reports.burst == reports.limit == 10  # no burst configured: a whole minute's worth


def test_policy_from_a_json_string_and_from_a_file(tmp_path: Path) -> None:
    document = _policy(endpoints=[{"name": "exports", "path": "/api/v1/exports", "limit": 5, "period_s": 60}])
    from_string = load_policy(document)
    path = tmp_path / "limits.json"
    path.write_text(document)
    assert load_policy(str(path)) == from_string == load_policy(path)
    assert [rule.name for rule in from_string.endpoints] == ["exports"]
    assert from_string.endpoints[0].scope is Scope.user and from_string.endpoints[0].burst == 5


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (json.dumps({"tiers": {"free": _TIERS["free"]}}), "missing: pro, enterprise"),
        (_policy(tiers={**_TIERS, "gold": _TIERS["free"]}), "gold"),
        (_policy(tiers={**_TIERS, "free": {"limit": 0, "period_s": 60}}), "greater than 0"),
        (_policy(tiers={**_TIERS, "free": {"limit": 10, "period_s": 60, "burst": 11}}), "must not exceed limit"),
        (_policy(tiers={**_TIERS, "pro": {**_TIERS["pro"], "scope": "user"}}), "per API key"),
        (_policy(endpoints=[{"name": "x", "limit": 1, "period_s": 1}]), "needs a path"),
        (_policy(endpoints=[{"name": "x", "path": "api", "limit": 1, "period_s": 1}]), "must start with '/'"),
        (
            _policy(endpoints=[{"name": "x", "path": "/a", "limit": 1, "period_s": 1, "fail-closed": True}]),
            "fail-closed",
        ),
        (_policy(endpoints=[{"name": "x", "path": "/a", "limit": 1, "period_s": 1, "methods": []}]), "at least one"),
        (_policy(endpoints=[{"name": 'bad"name', "path": "/a", "limit": 1, "period_s": 1}]), "pattern"),
        (_policy(endpoints=[{"name": "free", "path": "/a", "limit": 1, "period_s": 1}]), "unique"),
        ('{"tiers": ', "not valid JSON"),
    ],
)
def test_invalid_policies_are_refused_with_a_clear_error(document: str, message: str) -> None:
    with pytest.raises(PolicyError, match="rate-limit policy") as refused:
        load_policy(document)
    assert message in str(refused.value)


def test_a_missing_policy_file_is_a_policy_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read rate-limit policy .*nope.json"):
        load_policy(str(tmp_path / "nope.json"))


# --- rule matching ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("POST", "/api/v1/telemetry/ingest", ["telemetry-ingest"]),
        ("GET", "/api/v1/telemetry/ingest", []),  # the ingest limit is for POST only
        ("GET", "/api/v1/work-orders", ["work-orders"]),
        ("PATCH", "/api/v1/work-orders/{work_order_id}", ["work-orders"]),
        ("post", "/api/v1/work-orders/wo_1/transitions", ["work-orders"]),
        ("GET", "/api/v1/work-orders/", ["work-orders"]),
        ("GET", "/api/v1/work-orders-archive", []),  # whole segments only
        ("GET", "/api/v1/search?q=inverter", ["search"]),
        ("GET", "/api/v1/searches", []),
        ("POST", "/api/v1/reports", ["reports-generate"]),
        ("GET", "/api/v1/reports", []),
        ("GET", "/api/v1/sites", []),
    ],
)
def test_endpoint_rules_match_by_path_prefix_and_method(method: str, path: str, expected: list[str]) -> None:
    rules = load_policy().rules_for(Tier.pro, method, path)
    assert rules[0].name == "pro"  # the tier limit always applies, first
    assert [rule.name for rule in rules[1:]] == expected


def test_a_trailing_slash_in_the_configured_path_changes_nothing() -> None:
    rule = LimitRule(name="exports", path="/api/v1/exports/", limit=1, period_s=1, methods=["get"])
    assert rule.path == "/api/v1/exports" and rule.methods == frozenset({"GET"})
    assert rule.matches("GET", "/api/v1/exports/123") and not rule.matches("DELETE", "/api/v1/exports/123")


def test_every_matching_endpoint_rule_applies() -> None:
    policy = RatePolicy.model_validate_json(
        _policy(
            endpoints=[
                {"name": "reports", "path": "/api/v1/reports", "limit": 100, "period_s": 60},
                {"name": "generate", "path": "/api/v1/reports", "methods": ["POST"], "limit": 10, "period_s": 60},
            ]
        )
    )
    assert [rule.name for rule in policy.rules_for(Tier.free, "POST", "/api/v1/reports")] == [
        "free",
        "reports",
        "generate",
    ]


# --- header formatting ------------------------------------------------------------------------------


def test_header_items_are_structured_field_lists() -> None:
    policy = load_policy()
    rules = policy.rules_for(Tier.free, "GET", "/api/v1/search")
    assert quota_policy_item(rules[0]) == '"free";q=1000;w=3600;dcmms-burst=100'
    field = policy_field(rules)
    assert field == '"free";q=1000;w=3600;dcmms-burst=100, "search";q=100;w=60;dcmms-burst=100'
    assert service_limit_item("search", 0, 6) == '"search";r=0;t=6'
    assert _SF_LIST.fullmatch(field) and _SF_LIST.fullmatch(service_limit_item("free", 99, 4))


# --- decisions, with a stand-in for Redis -----------------------------------------------------------

NOW_US = 1_780_000_000_000_000
FREE_T, FREE_TAU = 3_600_000, 360_000_000  # 1000/h, burst 100
WORK_ORDERS_T, WORK_ORDERS_TAU = 60_000, 60_000_000  # 1000/min, burst 1000


def _reply(wait_us: int, *tats_from_now_us: int) -> list[int]:
    """What the script answers: the wait, the clock it used, then each limit's TAT."""
    return [wait_us, NOW_US, *(NOW_US + tat for tat in tats_from_now_us)]


class _Redis:
    """Answers the GCRA script with canned replies (or raises), and records what was sent."""

    def __init__(self, *replies: list[int] | Exception) -> None:
        self.replies = list(replies)
        self.commands: list[tuple[object, ...]] = []

    def execute_command(self, *args: object) -> list[int]:
        self.commands.append(args)
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply


def _check(reply: list[int] | Exception, path: str = "/api/v1/work-orders/wo_1") -> tuple[Decision, _Redis]:
    client = _Redis(reply)
    decision = RateLimiter(client, load_policy()).check(PRINCIPAL, "GET", path)  # type: ignore[arg-type]
    return decision, client


def test_one_evalsha_carries_every_limit_with_keys_in_one_cluster_slot() -> None:
    _, client = _check(_reply(0, FREE_T, WORK_ORDERS_T))
    [(command, sha, count, *keys_and_args)] = client.commands
    assert (command, sha, count) == ("EVALSHA", GCRA_SHA, 2)
    keys, args = keys_and_args[:2], keys_and_args[2:]
    assert keys == ["rl:{t_1}:key:key_1", "rl:{t_1}:ep:work-orders:user:usr_1"]
    assert len({key_slot(key.encode()) for key in keys}) == 1
    assert args == ["", FREE_T, FREE_TAU, WORK_ORDERS_T, WORK_ORDERS_TAU]  # server clock; T and tau per limit


def test_tenant_scoped_keys_and_a_given_clock() -> None:
    client = _Redis(_reply(0, FREE_T, 6_000))
    limiter = RateLimiter(client, load_policy())  # type: ignore[arg-type]
    limiter.check(PRINCIPAL, "POST", "/api/v1/telemetry/ingest", now_ms=5)
    assert client.commands[0][3:6] == ("rl:{t_1}:key:key_1", "rl:{t_1}:ep:telemetry-ingest:tenant", 5000)


def test_an_admitted_request_reports_the_policy_closest_to_exhaustion() -> None:
    # The tier has 99 left; work orders only 2 (and a third after 30 ms).
    decision, _ = _check(_reply(0, FREE_T, WORK_ORDERS_TAU - 150_000))
    assert decision == Decision(
        allowed=True,
        headers={
            "RateLimit-Policy": '"free";q=1000;w=3600;dcmms-burst=100, "work-orders";q=1000;w=60;dcmms-burst=1000',
            "RateLimit": '"work-orders";r=2;t=1',
        },
        retry_after_s=None,
    )
    fresh, _ = _check(_reply(0, FREE_T, WORK_ORDERS_T))
    assert fresh.headers["RateLimit"] == '"free";r=99;t=4'  # the next one frees up 3.6 s from now


def test_a_refusal_reports_the_longest_wait_and_rounds_retry_after_up() -> None:
    # Both limits refuse: the tier for 3.600001 s, work orders for 59 ms. The longer wait is the retry time.
    decision, _ = _check(_reply(3_600_001, FREE_TAU + 1, WORK_ORDERS_TAU - 1_000))
    assert not decision.allowed and decision.retry_after_s == 4
    assert decision.headers["Retry-After"] == "4"
    assert decision.headers["RateLimit"] == '"free";r=0;t=4'  # t never later than Retry-After
    exact, _ = _check(_reply(4_000_000, FREE_TAU + 400_000, 0))
    assert exact.retry_after_s == 4 and exact.headers["RateLimit"] == '"free";r=0;t=4'
    tiny, _ = _check(_reply(1, FREE_TAU - FREE_T + 1, 0))
    assert tiny.retry_after_s == 1 and tiny.headers["RateLimit"] == '"free";r=0;t=1'


def test_redis_down_fails_open_by_default_and_reports_the_error() -> None:
    errors: list[Exception] = []
    failure = redis.ConnectionError("Connection refused")
    limiter = RateLimiter(_Redis(failure), load_policy(), on_redis_error=errors.append)  # type: ignore[arg-type]
    decision = limiter.check(PRINCIPAL, "GET", "/api/v1/search")
    assert decision.allowed and decision.degraded and not decision.unavailable
    assert decision.retry_after_s is None and set(decision.headers) == {"RateLimit-Policy"}
    assert errors == [failure]


def test_redis_down_refuses_requests_a_fail_closed_rule_matches() -> None:
    exports = {"name": "exports", "path": "/api/v1/exports", "limit": 5, "period_s": 60, "fail_closed": True}
    limiter = RateLimiter(_Redis(redis.TimeoutError(), redis.TimeoutError()), load_policy(_policy(endpoints=[exports])))  # type: ignore[arg-type]
    closed = limiter.check(PRINCIPAL, "POST", "/api/v1/exports")
    assert not closed.allowed and closed.unavailable and not closed.degraded and closed.retry_after_s is None
    assert limiter.check(PRINCIPAL, "GET", "/api/v1/sites").degraded  # no fail-closed rule there


def test_an_emptied_script_cache_falls_back_to_eval() -> None:
    client = _Redis(redis.exceptions.NoScriptError("NOSCRIPT"), _reply(0, FREE_T, WORK_ORDERS_T))
    assert RateLimiter(client, load_policy()).check(PRINCIPAL, "GET", "/api/v1/work-orders").allowed  # type: ignore[arg-type]
    assert [command[:2] for command in client.commands] == [("EVALSHA", GCRA_SHA), ("EVAL", GCRA_SCRIPT)]
