"""GCRA rate limiting: every limit of a request checked and consumed in one Redis round trip.

Each limit keeps one Redis string, its theoretical arrival time (TAT), so memory is O(1) per key no
matter the rate. A Lua script reads the TATs of all limits that apply, and only if every one admits
the request does it advance them all; a refusal consumes nothing. The clock is Redis's (``TIME``),
so any number of API processes agree on it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dcmms.cache import keys as redis_keys
from dcmms.domain.model import Principal, Tier
from dcmms.ratelimit.headers import RATELIMIT, RATELIMIT_POLICY, RETRY_AFTER, policy_field, service_limit_item
from dcmms.ratelimit.policy import LimitRule, RatePolicy, Scope

if TYPE_CHECKING:
    import redis

# Limit i admits a request at `now` iff max(TAT, now) + T - tau <= now: an idle limit admits exactly
# `burst` (tau / T) requests at once, then one per T. A key expires once its TAT has passed, since a
# missing key and a past TAT mean the same thing.
# KEYS[i]: TAT of limit i. ARGV[1]: now, or '' for the server's clock. ARGV[2i], ARGV[2i+1]: T and tau
# of limit i. Returns {wait, now, TAT_1, ..., TAT_n}: wait is 0 when admitted (the TATs are then the
# advanced ones), else how long until a retry is admitted. Everything else is arithmetic left to the
# caller, to keep the script (which runs on the one Redis thread) short. Times are whole microseconds:
# exact in a double until 2^53 us (year 2255), and Redis writes numbers with round-trip precision.
GCRA_SCRIPT = """
local now = ARGV[1]
if now == '' then
  local time = redis.call('TIME')
  now = time[1] * 1000000 + time[2]
else
  now = tonumber(now)
end
local result = {0, now}
local wait = 0
for i = 1, #KEYS do
  local tat = tonumber(redis.call('GET', KEYS[i])) or now
  if tat < now then tat = now end
  result[i + 2] = tat
  local limit_wait = tat + ARGV[2 * i] - ARGV[2 * i + 1] - now
  if limit_wait > wait then wait = limit_wait end
end
if wait > 0 then
  result[1] = wait
  return result
end
for i = 1, #KEYS do
  local tat = result[i + 2] + ARGV[2 * i]
  result[i + 2] = tat
  redis.call('SET', KEYS[i], tat, 'PX', math.ceil((tat - now) / 1000))
end
return result
"""
GCRA_SHA = hashlib.sha1(GCRA_SCRIPT.encode()).hexdigest()

_US_PER_S = 1_000_000
# Route templates keep this small; raw paths with ids do not, so the plan cache is bounded.
_PLAN_CACHE_SIZE = 4096
_KeyOf = Callable[[Principal], str]


def _key_of(rule: LimitRule) -> _KeyOf:
    """Where a rule's TAT lives for a caller. Every key of a tenant carries the hash tag ``{tenant}``, so
    one script call touches a single Redis Cluster slot; the tier key omits the tier, so an upgrade keeps
    what the key has used."""
    name = rule.name
    if rule.scope is Scope.key:
        return lambda p: redis_keys.rate_limit_key(p.tenant_id, p.key_id)
    if rule.scope is Scope.user:
        return lambda p: redis_keys.rate_limit_user(p.tenant_id, name, p.user_id)
    return lambda p: redis_keys.rate_limit_tenant(p.tenant_id, name)


@dataclass(frozen=True)
class Decision:
    """The verdict on one request, with the headers its response should carry whatever its status."""

    allowed: bool
    headers: dict[str, str]  # RateLimit-Policy, RateLimit, and Retry-After when refused
    retry_after_s: int | None  # set when refused for rate (not for unavailable)
    unavailable: bool = False  # refused because Redis is down and a matching rule is fail-closed
    degraded: bool = False  # allowed without checking because Redis is down (fail-open)


@dataclass(frozen=True, slots=True)
class _Plan:
    """Everything about a (tier, method, path) that does not depend on who calls, computed once."""

    keys: tuple[_KeyOf, ...]
    limits: tuple[tuple[str, int, int], ...]  # name, T and tau (microseconds) of each limit, in KEYS order
    script_args: tuple[int, ...]  # the same, flattened, as the script's ARGV wants them
    policy_field: str
    fail_closed: bool

    @classmethod
    def of(cls, rules: tuple[LimitRule, ...]) -> _Plan:
        return cls(
            keys=tuple(_key_of(rule) for rule in rules),
            limits=tuple((rule.name, rule.emission_interval_us, rule.tolerance_us) for rule in rules),
            script_args=tuple(value for rule in rules for value in (rule.emission_interval_us, rule.tolerance_us)),
            policy_field=policy_field(rules),
            fail_closed=any(rule.fail_closed for rule in rules),
        )


class RateLimiter:
    """Decides whether a request may proceed, and says so in IETF RateLimit headers.

    When Redis fails, each request follows its rules: refused (``unavailable``) if any matching rule is
    fail-closed, else admitted unchecked (``degraded``); ``on_redis_error`` hears of every failure.
    """

    def __init__(
        self,
        redis_client: redis.Redis,
        policy: RatePolicy,
        on_redis_error: Callable[[Exception], None] | None = None,
        redis_available: Callable[[], bool] | None = None,
    ) -> None:
        """``redis_available`` is a circuit breaker's verdict: while it says no, Redis is not called, so
        an unresponsive Redis costs one timeout per breaker interval instead of one per request."""
        import redis as redis_lib  # here, not at module import: cold starts that never limit skip it

        self.policy = policy
        self._client = redis_client
        self._on_redis_error = on_redis_error
        self._redis_available = redis_available
        self._redis_error = (redis_lib.RedisError, redis_lib.exceptions.RedisClusterException)  # cluster outages
        self._no_script_error = redis_lib.exceptions.NoScriptError
        self._plans: dict[tuple[Tier, str, str], _Plan] = {}

    def check(self, principal: Principal, method: str, path: str, now_ms: int | None = None) -> Decision:
        """Count one request of ``principal`` against every limit that applies to ``method path``.

        ``now_ms`` replaces the Redis server's clock, for deterministic tests only.
        """
        plan = self._plans.get((principal.tier, method, path)) or self._plan_for(principal.tier, method, path)
        keys = [key(principal) for key in plan.keys]
        now_us = "" if now_ms is None else now_ms * 1000
        if self._redis_available is not None and not self._redis_available():
            return _without_redis(plan)
        try:
            reply = self._run_script(keys, now_us, plan.script_args)
        except self._redis_error as exc:
            if self._on_redis_error is not None:
                self._on_redis_error(exc)
            return _without_redis(plan)
        return _decision(plan, reply)

    def _run_script(self, keys: list[str], now_us: int | str, args: tuple[int, ...]) -> list[int]:
        """EVALSHA; after a Redis restart or failover emptied its script cache, EVAL (which caches it)."""
        try:
            return self._client.execute_command("EVALSHA", GCRA_SHA, len(keys), *keys, now_us, *args)
        except self._no_script_error:
            return self._client.execute_command("EVAL", GCRA_SCRIPT, len(keys), *keys, now_us, *args)

    def _plan_for(self, tier: Tier, method: str, path: str) -> _Plan:
        if len(self._plans) >= _PLAN_CACHE_SIZE:
            self._plans.clear()
        plan = self._plans[(tier, method, path)] = _Plan.of(self.policy.rules_for(tier, method, path))
        return plan


def _without_redis(plan: _Plan) -> Decision:
    """Redis is away: fail closed if a matching rule says so, else admit unchecked (degraded)."""
    refused = plan.fail_closed
    return Decision(not refused, {RATELIMIT_POLICY: plan.policy_field}, None, unavailable=refused, degraded=not refused)


def _decision(plan: _Plan, reply: list[int]) -> Decision:
    """Headers report the policy closest to exhaustion: the fewest requests left, then the longest wait.

    On a refusal that is the limit that refused longest, so its ``t`` equals ``Retry-After``, which the
    draft asks never to point earlier than the end of the effective window.
    """
    now_us = reply[1]
    closest: tuple[str, int, int] | None = None
    for position, (name, interval, tolerance) in enumerate(plan.limits, start=2):
        tat = reply[position]
        remaining = max(0, (now_us + tolerance - tat) // interval)
        next_us = tat - now_us + (remaining + 1) * interval - tolerance  # until it admits one more than that
        if closest is None or remaining < closest[1] or (remaining == closest[1] and next_us > closest[2]):
            closest = (name, remaining, next_us)
    assert closest is not None  # every plan has at least its tier's limit
    name, remaining, next_us = closest
    headers = {
        RATELIMIT_POLICY: plan.policy_field,
        RATELIMIT: service_limit_item(name, remaining, -(-next_us // _US_PER_S)),
    }
    wait_us = reply[0]
    if wait_us == 0:
        return Decision(True, headers, None)
    retry_after_s = -(-wait_us // _US_PER_S)  # rounded up: a retry at that moment is admitted
    headers[RETRY_AFTER] = str(retry_after_s)
    return Decision(False, headers, retry_after_s)
