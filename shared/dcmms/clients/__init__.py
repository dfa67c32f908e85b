"""Clients of the stores, created once per execution environment and only when first needed.

Redis, psycopg and the Kinesis client are imported lazily: a request that never touches them (most
API calls) does not pay their import at cold start.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

from dcmms.config import Settings

if TYPE_CHECKING:
    import redis


@lru_cache(maxsize=4)
def redis_client(settings: Settings) -> redis.Redis:
    """One Redis client per environment; a cluster client when ``redis_cluster`` (ElastiCache cluster mode).

    Every key an operation touches together carries the tenant hash tag, so scripts and pipelines work
    the same on both (``cache/keys.py``).
    """
    from dcmms.clients.redis_timed import LazyRedisCluster, TimedRedis  # each command timed

    options: dict[str, Any] = {
        "socket_timeout": settings.redis_timeout_s,
        "socket_connect_timeout": settings.redis_timeout_s,
        # No CLIENT SETINFO handshake: two round trips less on every new connection (cold starts).
        "lib_name": None,
        "lib_version": None,
    }
    if settings.redis_cluster:
        # slots discovered on first use, so an unreachable cluster trips the breaker instead of the cold start
        return LazyRedisCluster(settings.redis_url, **options)  # type: ignore[return-value]
    return TimedRedis.from_url(settings.redis_url, health_check_interval=30, **options)


def drop_redis_connections(settings: Settings) -> None:
    """Close every socket the environment's Redis client holds; the next command connects again. For an
    environment restored from a SnapStart snapshot, whose sockets belong to the one that was snapshotted."""
    from dcmms.clients.redis_timed import LazyRedisCluster

    client: Any = redis_client(settings)
    if isinstance(client, LazyRedisCluster):
        client.reset()
    else:
        client.connection_pool.disconnect()


@lru_cache(maxsize=8)
def aws_client(service: str, settings: Settings) -> Any:
    """A botocore client with short deadlines and one retry.

    botocore directly: boto3's import costs cold-start time and adds nothing for these clients.
    """
    import botocore.config
    import botocore.session

    config = botocore.config.Config(
        connect_timeout=settings.health_timeout_s,
        read_timeout=settings.health_timeout_s,
        retries={"max_attempts": 1},
    )
    return botocore.session.get_session().create_client(
        service, region_name=settings.aws_region, endpoint_url=settings.endpoint_for(service), config=config
    )


def postgres_connect(settings: Settings) -> Any:
    """A new connection (the telemetry store keeps its own pool; health checks open and close one)."""
    import psycopg

    return psycopg.connect(settings.database_url, connect_timeout=settings.database_connect_timeout_s)
