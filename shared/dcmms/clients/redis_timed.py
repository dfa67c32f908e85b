"""A Redis client that times each command and pipeline for the recording API (and X-Ray when tracing).

Imported only where a Redis client is built (``dcmms.clients.redis_client``), so redis-py stays lazy.
Every user of the client (cache, rate limiter, locks, scripts) is timed without knowing it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from time import perf_counter
from typing import Any

import redis
from redis.client import Pipeline
from redis.cluster import ClusterPipeline, RedisCluster, TransactionStrategy
from redis.commands.core import Script
from redis.connection import Encoder
from redis.exceptions import RedisClusterException

from dcmms.observability import TRACING, record, tracer


def _command(args: tuple[Any, ...]) -> str:
    name = args[0] if args else "UNKNOWN"
    return name.upper() if isinstance(name, str) else str(name)


def _timed(operation: str, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``call(*args, **kwargs)`` as one ``redis`` figure (and an X-Ray subsegment when tracing)."""
    started = perf_counter()
    try:
        if TRACING:
            with tracer.provider.in_subsegment(name=f"## redis {operation}"):
                return call(*args, **kwargs)
        return call(*args, **kwargs)
    finally:
        record.db_query("redis", operation, perf_counter() - started)


class TimedRedis(redis.Redis):
    """``redis.Redis`` plus a ``database_query_duration_seconds{system="redis"}`` figure per command."""

    def execute_command(self, *args: Any, **options: Any) -> Any:
        return _timed(_command(args), super().execute_command, *args, **options)

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> Pipeline:
        return TimedPipeline(self.connection_pool, self.response_callbacks, transaction, shard_hint)


class TimedRedisCluster(RedisCluster):
    """``RedisCluster`` with the same figures: one per command, one per pipeline (``PIPELINE``)."""

    def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        return _timed(_command(args), super().execute_command, *args, **kwargs)

    def pipeline(self, transaction: Any = None, shard_hint: Any = None) -> ClusterPipeline:
        """``RedisCluster.pipeline`` (redis-py 6.4), building the timed pipeline instead."""
        if shard_hint:
            raise RedisClusterException("shard_hint is deprecated in cluster mode")
        return TimedClusterPipeline(
            nodes_manager=self.nodes_manager,
            commands_parser=self.commands_parser,
            startup_nodes=self.nodes_manager.startup_nodes,  # type: ignore[arg-type]  # redis-py passes its dict
            result_callbacks=self.result_callbacks,
            cluster_response_callbacks=self.cluster_response_callbacks,
            read_from_replicas=self.read_from_replicas,
            load_balancing_strategy=self.load_balancing_strategy,
            reinitialize_steps=self.reinitialize_steps,
            retry=self.retry,
            lock=self._lock,
            transaction=transaction,
        )


class TimedClusterPipeline(ClusterPipeline):
    """One figure per pipeline, as on a single node, though its commands may go to several shards."""

    def execute(self, raise_on_error: bool = True) -> list[Any]:
        if not len(self):
            return super().execute(raise_on_error)
        operation = "MULTI" if isinstance(self._execution_strategy, TransactionStrategy) else "PIPELINE"
        return _timed(operation, super().execute, raise_on_error)


class LazyRedisCluster:
    """A ``TimedRedisCluster`` built on first use: ``RedisCluster`` asks for CLUSTER SLOTS in its constructor.

    Built at cold start, an unreachable cluster would fail the whole function instead of tripping the
    cache's breaker (a single-node client connects on first command), and every cold start would pay the
    round trip. Until discovery succeeds, each use tries it and raises ``RedisClusterException``.
    Scripts are registered without connecting: their SHA needs only the encoder.
    """

    def __init__(self, url: str, **options: Any) -> None:
        self._url = url
        self._options = options
        self._cluster: TimedRedisCluster | None = None
        self._building = threading.Lock()
        self._encoder = Encoder(
            options.get("encoding", "utf-8"),
            options.get("encoding_errors", "strict"),
            options.get("decode_responses", False),
        )

    def reset(self) -> None:
        """Forget the cluster (its sockets closed): the next use discovers the slots and connects anew."""
        with self._building:
            cluster, self._cluster = self._cluster, None
        if cluster is not None:
            cluster.disconnect_connection_pools()

    @property
    def cluster(self) -> TimedRedisCluster:
        cluster = self._cluster
        if cluster is None:
            with self._building:
                if self._cluster is None:
                    self._cluster = TimedRedisCluster.from_url(self._url, **self._options)
                cluster = self._cluster
        return cluster

    def get_encoder(self) -> Encoder:
        return self._encoder

    def register_script(self, script: str | bytes) -> Script:
        return Script(self, script)  # type: ignore[arg-type]  # its calls come back through this object

    def close(self) -> None:
        if self._cluster is not None:
            self._cluster.close()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # our own attributes, before __init__ has set them
            raise AttributeError(name)
        return getattr(self.cluster, name)


class TimedPipeline(Pipeline):
    """A pipeline is one round trip: one figure, ``PIPELINE`` (or ``MULTI`` for a transaction)."""

    def execute(self, raise_on_error: bool = True) -> list[Any]:
        if not self.command_stack:
            return super().execute(raise_on_error)
        # ``transaction`` is the pipeline's flag here, shadowing Redis.transaction (which the stub sees)
        operation = "MULTI" if self.transaction or self.explicit_transaction else "PIPELINE"  # type: ignore[truthy-function]
        return _timed(operation, super().execute, raise_on_error)
