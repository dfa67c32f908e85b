"""Per-execution-environment singletons shared by the functions (api, warmer, ...).

Each is created on first use and reused by every invocation of the same environment.
"""

from __future__ import annotations

from functools import lru_cache

from dcmms import clients
from dcmms.cache import CacheStats, RedisCache, ResilientRedis
from dcmms.config import Settings
from dcmms.ratelimit import RateLimiter, load_policy
from dcmms.services import Maintenance


@lru_cache(maxsize=4)
def resilient_redis(settings: Settings) -> ResilientRedis:
    return ResilientRedis(clients.redis_client(settings))


@lru_cache(maxsize=4)
def rate_limiter(settings: Settings) -> RateLimiter:
    """The limiter shares the cache's Redis and its breaker: an outage is logged once, not per request."""
    redis = resilient_redis(settings)
    return RateLimiter(
        redis.client,
        load_policy(settings.rate_limits),
        on_redis_error=redis.report_failure,
        redis_available=lambda: redis.available,
    )


@lru_cache(maxsize=4)
def maintenance(settings: Settings) -> Maintenance:
    """The use cases with their Redis cache; DynamoDB is bound now and connected on first use."""
    clients.configure_dynamodb(settings)
    return Maintenance(RedisCache(resilient_redis(settings), CacheStats()))


@lru_cache(maxsize=4)
def telemetry_store(settings: Settings):  # -> TelemetryStore; psycopg is imported on first telemetry call
    from dcmms.telemetry.pgstore import TelemetryStore

    return TelemetryStore(settings.database_url)


@lru_cache(maxsize=4)
def kinesis(settings: Settings):  # -> botocore Kinesis client, created on first submitted record
    return clients.aws_client("kinesis", settings)
