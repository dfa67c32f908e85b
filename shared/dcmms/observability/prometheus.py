"""The Prometheus side of the recording API: the spec's metric names, labels and buckets (§9.2) in one registry.

Imported only outside Lambda (``dcmms.observability.record``); ``GET /metrics`` renders ``PrometheusSink.registry``.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from .figures import CacheCounts, IngestFigures

# The spec's buckets (performance-and-scalability.md §9.2).
HTTP_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 2, 5)
DB_BUCKETS = (0.001, 0.01, 0.05, 0.1, 0.5, 1, 5)

# One *_created series per counter would double the exposition for a timestamp nobody alerts on.
disable_created_metrics()


class CacheStatsCollector(Collector):
    """Cache hits and misses per keyspace, read at scrape time from the caches' own counters.

    ``CacheStats`` already counts every lookup (the Lambda handler publishes its per-invocation drain as
    EMF); reading it here keeps the hot path free of a second count.
    """

    def __init__(self) -> None:
        self._stats: weakref.WeakSet[CacheCounts] = weakref.WeakSet()

    def watch(self, stats: CacheCounts) -> None:
        self._stats.add(stats)

    def collect(self) -> Iterator[CounterMetricFamily]:
        hits = CounterMetricFamily("cache_hits", "Redis cache lookups answered from the cache.", labels=["keyspace"])
        misses = CounterMetricFamily(
            "cache_misses", "Redis cache lookups that went to the source.", labels=["keyspace"]
        )
        totals: dict[str, list[float]] = {}
        for stats in list(self._stats):
            for keyspace, figures in stats.snapshot().items():
                total = totals.setdefault(keyspace, [0.0, 0.0])
                total[0] += figures["hits"]
                total[1] += figures["misses"]
        for keyspace, (h, m) in sorted(totals.items()):
            hits.add_metric([keyspace], h)
            misses.add_metric([keyspace], m)
        yield hits
        yield misses


class PrometheusSink:
    """The metrics of one process. Label children are cached: ``labels()`` takes a lock and a dict lookup."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry or CollectorRegistry(auto_describe=True)
        if registry is None:
            ProcessCollector(registry=r)  # process_resident_memory_bytes, cpu, open fds
            PlatformCollector(registry=r)
            GCCollector(registry=r)
        self.http_duration = Histogram(
            "http_request_duration_seconds",
            "Duration of HTTP requests in seconds",
            ["method", "route", "status_code"],
            buckets=HTTP_BUCKETS,
            registry=r,
        )
        self.http_requests = Counter(
            "http_requests_total", "Total number of HTTP requests", ["method", "route", "status_code"], registry=r
        )
        self.active_connections = Gauge("active_connections", "HTTP requests being served", registry=r)
        self.db_duration = Histogram(
            "database_query_duration_seconds",
            "Duration of database calls (DynamoDB, PostgreSQL, Redis)",
            ["system", "query_type"],
            buckets=DB_BUCKETS,
            registry=r,
        )
        self.rate_limited = Counter(
            "rate_limit_refusals_total", "Requests refused by a rate limit (429)", ["route"], registry=r
        )
        self.ingest_records = Counter("ingest_records_total", "Telemetry records stored", registry=r)
        self.ingest_events = Counter("ingest_events_total", "Telemetry metric values stored", registry=r)
        self.ingest_failed = Counter(
            "ingest_failed_records_total",
            "Telemetry records reported failed to Kinesis for redelivery (transient failures)",
            registry=r,
        )
        self.ingest_dead_letters = Counter(
            "ingest_dead_letters_total", "Telemetry records written to the dead-letter store", registry=r
        )
        self.ingest_batch_age = Gauge(
            "ingest_batch_age_seconds", "Age of the oldest record of the latest ingested batch", registry=r
        )
        self.projected_records = Counter(
            "projection_records_total", "DynamoDB Streams records read by the projector", registry=r
        )
        self.projected_rows = Counter("projection_rows_total", "Read-model rows written by the projector", registry=r)
        self.projection_failed = Counter(
            "projection_failed_records_total", "Stream records the projector reported failed", registry=r
        )
        self.projection_lag = Gauge(
            "projection_lag_seconds",
            "Now minus the approximate creation time of the oldest record of the latest projected batch",
            registry=r,
        )
        self.db_routes = Counter(
            "database_route_total",
            "Read-model queries by purpose and target, and replicas passed over (outcome down/lagging/fallback)",
            ["purpose", "target", "outcome"],
            registry=r,
        )
        self.alerts_raised = Counter("alerts_raised_total", "Alerts raised by telemetry rules", registry=r)
        self.alerts_resolved = Counter("alerts_resolved_total", "Alerts resolved by telemetry rules", registry=r)
        self.cache = CacheStatsCollector()
        r.register(self.cache)
        self._request_children: dict[tuple[str, str, int], tuple[Histogram, Counter]] = {}
        self._db_children: dict[tuple[str, str], Histogram] = {}
        self._lock = threading.Lock()

    def request(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        children = self._request_children.get(key)
        if children is None:
            with self._lock:
                labels = (method, route, str(status))
                children = self._request_children.setdefault(
                    key, (self.http_duration.labels(*labels), self.http_requests.labels(*labels))
                )
        children[0].observe(seconds)
        children[1].inc()
        if status == 429:
            self.rate_limited.labels(route).inc()

    def db_query(self, system: str, operation: str, seconds: float) -> None:
        child = self._db_children.get((system, operation))
        if child is None:
            with self._lock:
                child = self._db_children.setdefault((system, operation), self.db_duration.labels(system, operation))
        child.observe(seconds)

    def ingest_batch(self, outcome: IngestFigures, age_s: float | None) -> None:
        self.ingest_records.inc(outcome.records_ok)
        self.ingest_events.inc(outcome.events)
        self.ingest_failed.inc(len(set(outcome.failed)))
        self.ingest_dead_letters.inc(outcome.dead_lettered)
        if age_s is not None:
            self.ingest_batch_age.set(age_s)
        if outcome.alerts is not None:
            self.alerts_raised.inc(outcome.alerts.raised)
            self.alerts_resolved.inc(outcome.alerts.resolved)

    def projection_batch(self, records: int, applied: int, failed: int, lag_s: float | None) -> None:
        self.projected_records.inc(records)
        self.projected_rows.inc(applied)
        self.projection_failed.inc(failed)
        if lag_s is not None:
            self.projection_lag.set(lag_s)

    def db_route(self, purpose: str, target: str, outcome: str) -> None:
        self.db_routes.labels(purpose, target, outcome).inc()
