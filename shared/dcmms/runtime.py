"""Per-execution-environment singletons shared by the functions (api, warmer, ...): the composition root.

Each is created on first use and reused by every invocation of the same environment.
"""

from __future__ import annotations

from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any

from dcmms import clients
from dcmms.api.shapes import page_body
from dcmms.cache import CacheStats, RedisCache, ResilientRedis
from dcmms.config import Settings
from dcmms.ratelimit import RateLimiter, load_policy
from dcmms.services import Maintenance

if TYPE_CHECKING:
    from dcmms.services.ports import Repositories
    from dcmms.store.repositories import (
        AlertRepository,
        AlertRuleRepository,
        AssetRepository,
        SiteRepository,
        WorkOrderRepository,
    )
    from dcmms.telemetry.pgstore import TelemetryStore


class StoreRepositories:
    """The DynamoDB repositories, each built on first use: pynamodb and botocore are imported with the
    first cache miss, so a request answered from Redis never loads them (docs/decisions.md)."""

    @cached_property
    def sites(self) -> SiteRepository:
        from dcmms.store.repositories import SiteRepository

        return SiteRepository()

    @cached_property
    def assets(self) -> AssetRepository:
        from dcmms.store.repositories import AssetRepository

        return AssetRepository()

    @cached_property
    def work_orders(self) -> WorkOrderRepository:
        from dcmms.store.repositories import WorkOrderRepository

        return WorkOrderRepository()

    @cached_property
    def alerts(self) -> AlertRepository:
        from dcmms.store.repositories import AlertRepository

        return AlertRepository()

    @cached_property
    def rules(self) -> AlertRuleRepository:
        from dcmms.store.repositories import AlertRuleRepository

        return AlertRuleRepository()


def build_maintenance(cache: RedisCache | None = None, repositories: Repositories | None = None) -> Maintenance:
    """The services wired together: over the DynamoDB repositories unless others are given, with list pages
    written as the API serves them."""
    return Maintenance(repositories or StoreRepositories(), cache, page_body)


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
    return build_maintenance(RedisCache(resilient_redis(settings), CacheStats()))


@lru_cache(maxsize=4)
def telemetry_store(settings: Settings) -> TelemetryStore:  # psycopg is imported on first telemetry call
    from dcmms.telemetry.pgstore import TelemetryStore

    return TelemetryStore(settings.database_url)


@lru_cache(maxsize=4)
def kinesis(settings: Settings) -> Any:  # a botocore Kinesis client, created on first submitted record
    return clients.aws_client("kinesis", settings)
