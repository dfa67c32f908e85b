"""Redis-side costs of the API beside one raw Redis GET, measured interleaved in the same run.

Used by ``make bench``: the cache-hit lookup alone and (when present) one rate-limit decision.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from dcmms import clients
from dcmms.cache import CacheStats, Doc, RedisCache, ResilientRedis
from dcmms.config import Settings
from dcmms.domain.model import Principal, Role, Tier
from dcmms.ratelimit import RateLimiter, load_policy


def _time_per_call(fn: Callable[[], object], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n * 1e6


def interleaved(
    candidates: dict[str, Callable[[], object]], rounds: int = 20, per_round: int = 1000
) -> dict[str, float]:
    """Median microseconds per call of each candidate over ``rounds`` interleaved rounds."""
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    for fn in candidates.values():
        _time_per_call(fn, 200)  # warm connections and scripts
    for _ in range(rounds):
        for name, fn in candidates.items():
            samples[name].append(_time_per_call(fn, per_round))
    return {name: statistics.median(values) for name, values in samples.items()}


def cache_candidates(settings: Settings) -> dict[str, Callable[[], object]]:
    raw = clients.redis_client(settings)
    cache = RedisCache(ResilientRedis(raw), CacheStats())
    body = b'{"id":"wo_bench","title":"Inspect inverter","status":"open","version":3}'
    doc = Doc(3, body)
    cache.put_entity("wo", "bench", "wo_bench", doc)
    raw.set("bench:raw", body)

    def never_load() -> Doc:
        raise AssertionError("the benchmark key must be a hit")

    limiter = RateLimiter(raw, load_policy(None))
    caller = Principal(tenant_id="bench", user_id="usr_bench", role=Role.admin, tier=Tier.enterprise, key_id="k")
    route = "/api/v1/work-orders/{work_order_id}"  # two limits: the enterprise tier and the work-orders rule
    return {
        "raw Redis GET": lambda: raw.get("bench:raw"),
        "cache-hit lookup (get_entity)": lambda: cache.get_entity("wo", "bench", "wo_bench", never_load, True),
        "rate-limit decision (2 limits)": lambda: limiter.check(caller, "GET", route),
    }
