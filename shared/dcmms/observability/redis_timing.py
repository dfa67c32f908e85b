"""A Redis client that times each command and pipeline for the recording API (and X-Ray when tracing).

Imported only where a Redis client is built (``dcmms.clients.redis_client``), so redis-py stays lazy.
Every user of the client (cache, rate limiter, locks, scripts) is timed without knowing it.
"""

from __future__ import annotations

from time import perf_counter
from typing import Any

import redis
from redis.client import Pipeline
from redis.cluster import RedisCluster

from . import TRACING, record, tracer


def _command(args: tuple[Any, ...]) -> str:
    name = args[0] if args else "UNKNOWN"
    return name.upper() if isinstance(name, str) else str(name)


class TimedRedis(redis.Redis):
    """``redis.Redis`` plus a ``database_query_duration_seconds{system="redis"}`` figure per command."""

    def execute_command(self, *args: Any, **options: Any) -> Any:
        operation = _command(args)
        if TRACING:
            with tracer.provider.in_subsegment(name=f"## redis {operation}"):
                return self._timed(operation, args, options)
        return self._timed(operation, args, options)

    def _timed(self, operation: str, args: tuple[Any, ...], options: dict[str, Any]) -> Any:
        started = perf_counter()
        try:
            return super().execute_command(*args, **options)
        finally:
            record.db_query("redis", operation, perf_counter() - started)

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> Pipeline:
        return TimedPipeline(self.connection_pool, self.response_callbacks, transaction, shard_hint)


class TimedRedisCluster(RedisCluster):
    """``RedisCluster`` with the same per-command figure (its pipelines go to the nodes directly, untimed)."""

    def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        operation = _command(args)
        started = perf_counter()
        try:
            if TRACING:
                with tracer.provider.in_subsegment(name=f"## redis {operation}"):
                    return super().execute_command(*args, **kwargs)
            return super().execute_command(*args, **kwargs)
        finally:
            record.db_query("redis", operation, perf_counter() - started)


class TimedPipeline(Pipeline):
    """A pipeline is one round trip: one figure, ``PIPELINE`` (or ``MULTI`` for a transaction)."""

    def execute(self, raise_on_error: bool = True) -> list[Any]:
        if not self.command_stack:
            return super().execute(raise_on_error)
        operation = "MULTI" if self.transaction or self.explicit_transaction else "PIPELINE"
        started = perf_counter()
        try:
            if TRACING:
                with tracer.provider.in_subsegment(name=f"## redis {operation}"):
                    return super().execute(raise_on_error)
            return super().execute(raise_on_error)
        finally:
            record.db_query("redis", operation, perf_counter() - started)
