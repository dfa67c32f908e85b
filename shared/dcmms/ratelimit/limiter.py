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

from dcmms.domain.model import Principal, Tier
from dcmms.ratelimit.headers import RATELIMIT, RATELIMIT_POLICY, RETRY_AFTER, policy_field, service_limit_item
from dcmms.ratelimit.policy import LimitRule, RatePolicy, Scope

if TYPE_CHECKING:
    import redis

# Limit i admits a request at `now` iff max(TAT, now) + T - tau <= now: an idle limit admits exactly
# `burst` (tau / T) requests at once, then one per T. A key expires once its TAT has passed, since a
# missing key and a past TAT mean the same thing.
# KEYS[i]: TAT of limit i (microseconds). ARGV[1]: now in microseconds, or '' for the server's clock.
# ARGV[2i], ARGV[2i+1]: emission interval T and tolerance tau of limit i, in microseconds.
# Returns {wait, remaining_1, next_1, remaining_2, next_2, ...}: wait is 0 when admitted, else how long
# until a retry is admitted; remaining_i is how many more requests limit i admits right now, and next_i
# how long until it admits one more than that. Times are whole microseconds, exact in a double until
# 2^53 us (year 2255), and Redis stores them exactly (it formats numbers with round-trip precision).
GCRA_SCRIPT = """
local now = ARGV[1]
if now == '' then
  local time = redis.call('TIME')
  now = tonumber(time[1]) * 1000000 + tonumber(time[2])
else
  now = tonumber(now)
end
local count = #KEYS
local tats, intervals, tolerances = {}, {}, {}
local wait = 0
for i = 1, count do
  local interval, tolerance = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
  local tat = tonumber(redis.call('GET', KEYS[i])) or now
  if tat < now then tat = now end
  tats[i], intervals[i], tolerances[i] = tat, interval, tolerance
  local limit_wait = tat + interval - tolerance - now
  if limit_wait > wait then wait = limit_wait end
end
local result = {wait}
for i = 1, count do
  local interval, tolerance, tat = intervals[i], tolerances[i], tats[i]
  if wait == 0 then
    tat = tat + interval
    redis.call('SET', KEYS[i], tat, 'PX', math.ceil((tat - now) / 1000))
  end
  local remaining = math.floor((now + tolerance - tat) / interval)
  if remaining < 0 then remaining = 0 end
  result[2 * i] = remaining
  result[2 * i + 1] = tat - now + (remaining + 1) * interval - tolerance
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
        return lambda p: f"rl:{{{p.tenant_id}}}:key:{p.key_id}"
    if rule.scope is Scope.user:
        return lambda p: f"rl:{{{p.tenant_id}}}:ep:{name}:user:{p.user_id}"
    return lambda p: f"rl:{{{p.tenant_id}}}:ep:{name}:tenant"


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

    names: tuple[str, ...]
    keys: tuple[_KeyOf, ...]
    intervals: tuple[int, ...]  # T and tau of each limit, in KEYS order
    policy_field: str
    fail_closed: bool

    @classmethod
    def of(cls, rules: tuple[LimitRule, ...]) -> _Plan:
        return cls(
            names=tuple(rule.name for rule in rules),
            keys=tuple(_key_of(rule) for rule in rules),
            intervals=tuple(value for rule in rules for value in (rule.emission_interval_us, rule.tolerance_us)),
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
    ) -> None:
        import redis as redis_lib  # here, not at module import: cold starts that never limit skip it

        self.policy = policy
        self._client = redis_client
        self._on_redis_error = on_redis_error
        self._redis_error = redis_lib.RedisError
        self._no_script_error = redis_lib.exceptions.NoScriptError
        self._plans: dict[tuple[Tier, str, str], _Plan] = {}

    def check(self, principal: Principal, method: str, path: str, now_ms: int | None = None) -> Decision:
        """Count one request of ``principal`` against every limit that applies to ``method path``.

        ``now_ms`` replaces the Redis server's clock, for deterministic tests only.
        """
        plan = self._plans.get((principal.tier, method, path)) or self._plan_for(principal.tier, method, path)
        keys = [key(principal) for key in plan.keys]
        now_us = "" if now_ms is None else now_ms * 1000
        try:
            reply = self._run_script(keys, now_us, plan.intervals)
        except self._redis_error as exc:
            if self._on_redis_error is not None:
                self._on_redis_error(exc)
            refused = plan.fail_closed
            headers = {RATELIMIT_POLICY: plan.policy_field}
            return Decision(not refused, headers, None, unavailable=refused, degraded=not refused)
        return _decision(plan, reply)

    def _run_script(self, keys: list[str], now_us: int | str, intervals: tuple[int, ...]) -> list[int]:
        """EVALSHA; after a Redis restart or failover emptied its script cache, EVAL (which caches it)."""
        try:
            return self._client.execute_command("EVALSHA", GCRA_SHA, len(keys), *keys, now_us, *intervals)
        except self._no_script_error:
            return self._client.execute_command("EVAL", GCRA_SCRIPT, len(keys), *keys, now_us, *intervals)

    def _plan_for(self, tier: Tier, method: str, path: str) -> _Plan:
        if len(self._plans) >= _PLAN_CACHE_SIZE:
            self._plans.clear()
        plan = self._plans[(tier, method, path)] = _Plan.of(self.policy.rules_for(tier, method, path))
        return plan


def _decision(plan: _Plan, reply: list[int]) -> Decision:
    """Headers report the policy closest to exhaustion: the fewest requests left, then the longest wait.

    On a refusal that is the limit that refused longest, so its ``t`` equals ``Retry-After``, which the
    draft asks never to point earlier than the end of the effective window.
    """
    wait_us = reply[0]
    remaining, next_us = reply[1::2], reply[2::2]
    closest = 0
    for i in range(1, len(remaining)):
        if (remaining[i], -next_us[i]) < (remaining[closest], -next_us[closest]):
            closest = i
    window_s = -(-next_us[closest] // _US_PER_S)
    headers = {
        RATELIMIT_POLICY: plan.policy_field,
        RATELIMIT: service_limit_item(plan.names[closest], remaining[closest], window_s),
    }
    if wait_us == 0:
        return Decision(True, headers, None)
    retry_after_s = -(-wait_us // _US_PER_S)  # rounded up: a retry at that moment is admitted
    headers[RETRY_AFTER] = str(retry_after_s)
    return Decision(False, headers, retry_after_s)
