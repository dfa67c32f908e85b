"""The one recording API: every figure is recorded once here and reaches Prometheus or CloudWatch from it.

- Outside Lambda (the local stack, a container, the tests) figures go to a process-local Prometheus registry,
  served at ``GET /metrics``. prometheus_client is imported on the first figure (~25 ms of import).
- In Lambda (the runtime sets ``AWS_LAMBDA_FUNCTION_NAME``) they go to CloudWatch as EMF, written when the
  handler's ``@metrics.log_metrics`` flushes, and prometheus_client is never imported: a per-environment
  registry nobody can scrape would only cost cold start.

Per-call figures (requests, database calls) and per-batch ones (ingest) are kept as plain floats and
written as hand-built EMF documents when the invocation ends (one per request, one for the calls, one per
batch): Powertools' ``add_metric`` measured ~10-20 us a call, more than the warm path can spare for three
or four calls per request.

This is the lowest layer: it imports nothing of dcmms. What it records is described by the protocols in
``figures.py``, which the recording callers' own types (``telemetry.ingest.BatchOutcome``, ``cache.CacheStats``)
satisfy without this module knowing them.
"""

from __future__ import annotations

import os
import threading
import time
from typing import TYPE_CHECKING, Any

import orjson

from .figures import IngestFigures
from .names import NAMESPACE, SERVICE

if TYPE_CHECKING:
    from .prometheus import PrometheusSink


# The runtime's own variable, not configuration: it says where this process runs (Powertools reads it too).
IN_LAMBDA = bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))
UNMATCHED = "unmatched"
# CloudWatch names of the per-call latencies (milliseconds); Prometheus labels them system=<key>.
DB_LATENCY_METRICS = {"dynamodb": "DynamoDBLatency", "postgresql": "PostgreSQLLatency", "redis": "RedisLatency"}
_EMF_MAX_VALUES = 100  # values of one metric in one EMF document

_emf = IN_LAMBDA
_prometheus_enabled = not IN_LAMBDA
_prometheus: PrometheusSink | None = None
_prometheus_lock = threading.Lock()
# EMF figures of the current invocation, written by flush_emf().
_pending_requests: list[tuple[str, str, float]] = []
_pending_latencies: dict[str, list[float]] = {}
_pending_batches: list[dict[str, tuple[str, Any]]] = []
_pending_routes: dict[tuple[str, str, str], int] = {}


def configure(*, emf: bool, prometheus: PrometheusSink | bool) -> tuple[bool, PrometheusSink | bool]:
    """Choose the sinks (tests; the defaults follow ``IN_LAMBDA``). ``prometheus``: a sink, or on/off.

    Returns the previous choice, in the same form, to restore it with.
    """
    global _emf, _prometheus_enabled, _prometheus
    previous = (_emf, _prometheus if _prometheus is not None else _prometheus_enabled)
    _emf = emf
    _prometheus_enabled = prometheus is not False
    _prometheus = prometheus if not isinstance(prometheus, bool) else None
    _pending_requests.clear()
    _pending_latencies.clear()
    _pending_batches.clear()
    _pending_routes.clear()
    return previous


def emf_enabled() -> bool:
    """Whether figures are written as EMF (in Lambda, or a test's ``configure``); Powertools' own metrics follow it."""
    return _emf


def prometheus_sink() -> PrometheusSink | None:
    """The process's Prometheus registry and metrics, created on first use; None in Lambda."""
    global _prometheus
    if _prometheus is None and _prometheus_enabled:
        with _prometheus_lock:
            if _prometheus is None:
                from .prometheus import PrometheusSink

                _prometheus = PrometheusSink()
    return _prometheus


def status_class(status: int) -> str:
    return f"{status // 100}xx"


def request(method: str, route: str, status: int, seconds: float) -> None:
    """One HTTP request, by route template (``/api/v1/sites/{site_id}``, never the raw path) and status."""
    sink = _prometheus if _prometheus is not None else prometheus_sink()
    if sink is not None:
        sink.request(method, route, status, seconds)
    if _emf:
        _pending_requests.append((f"{method} {route}", status_class(status), seconds * 1000))


def db_query(system: str, operation: str, seconds: float) -> None:
    """One call to a store: ``system`` is dynamodb, postgresql or redis; ``operation`` e.g. GetItem, SELECT, GET."""
    sink = _prometheus if _prometheus is not None else prometheus_sink()
    if sink is not None:
        sink.db_query(system, operation, seconds)
    if _emf:
        values = _pending_latencies.setdefault(DB_LATENCY_METRICS[system], [])
        values.append(seconds * 1000)
        if len(values) >= _EMF_MAX_VALUES:  # a long invocation: write what it has so far, as Powertools does
            flush_emf()


def in_flight(delta: int) -> None:
    """HTTP requests being served (the spec's ``active_connections``); Prometheus only."""
    sink = _prometheus if _prometheus is not None else prometheus_sink()
    if sink is not None:
        sink.active_connections.inc(delta)


def ingest_batch(outcome: IngestFigures, oldest_arrival_s: float | None) -> None:
    """One Kinesis batch through ingest: records stored, failed, dead-lettered, alerts, and how old it was."""
    age_s = max(0.0, time.time() - oldest_arrival_s) if oldest_arrival_s else None
    sink = _prometheus if _prometheus is not None else prometheus_sink()
    if sink is not None:
        sink.ingest_batch(outcome, age_s)
    if _emf:
        counts = {
            "IngestRecords": outcome.records_ok,
            "IngestEvents": outcome.events,
            "IngestFailedRecords": len(set(outcome.failed)),
            "IngestDeadLettered": outcome.dead_lettered,
        }
        if outcome.alerts is not None:
            counts |= {
                "AlertsRaised": outcome.alerts.raised,
                "AlertsResolved": outcome.alerts.resolved,
                "RuleEvaluationSkipped": int(outcome.alerts.skipped),
            }
        # Values as lists of floats, the shape Powertools wrote them in before (dashboards read either).
        figures: dict[str, tuple[str, Any]] = {name: ("Count", [float(v)]) for name, v in counts.items()}
        if age_s is not None:
            figures["IngestBatchAge"] = ("Milliseconds", [age_s * 1000])
        _pending_batches.append(figures)


def projection_batch(records: int, applied: int, failed: int, lag_s: float | None) -> None:
    """One DynamoDB Streams batch through the projector: records read, rows written, records reported failed,
    and the projection lag (now minus the oldest record's approximate creation time)."""
    sink = _prometheus if _prometheus is not None else prometheus_sink()
    if sink is not None:
        sink.projection_batch(records, applied, failed, lag_s)
    if _emf:
        figures: dict[str, tuple[str, Any]] = {
            "ProjectedRecords": ("Count", [float(records)]),
            "ProjectedRows": ("Count", [float(applied)]),
            "ProjectionFailedRecords": ("Count", [float(failed)]),
        }
        if lag_s is not None:
            figures["ProjectionLag"] = ("Milliseconds", [lag_s * 1000])
        _pending_batches.append(figures)


def db_route(purpose: str, target: str, outcome: str) -> None:
    """Where a read-model query for ``purpose`` went: ``outcome`` chosen, or why a replica was passed over
    (``down``, ``lagging``) or left mid-query (``fallback``, counted against the primary)."""
    sink = _prometheus if _prometheus is not None else prometheus_sink()
    if sink is not None:
        sink.db_route(purpose, target, outcome)
    if _emf:
        key = (purpose, target, outcome)
        _pending_routes[key] = _pending_routes.get(key, 0) + 1


def flush_emf() -> bool:
    """Write the invocation's per-call figures as EMF on stdout (called by the shared Metrics' flush);
    True if there were any.

    Requests carry the dimension sets [service, route, status_class], [service, status_class] and
    [service]: a latency or 5xx-rate alarm reads the last two, a dashboard per route the first.
    """
    if not (_pending_requests or _pending_latencies or _pending_batches or _pending_routes):
        return False
    timestamp = int(time.time() * 1000)
    for (purpose, target, outcome), count in _pending_routes.items():
        _print_emf(
            timestamp,
            [["service", "purpose", "target"], ["service", "outcome"]],
            {"DatabaseRoute": ("Count", count)},
            {"purpose": purpose, "target": target, "outcome": outcome},
        )
    _pending_routes.clear()
    for figures in _pending_batches:
        _print_emf(timestamp, [["service"]], figures, {})
    _pending_batches.clear()
    for route, klass, ms in _pending_requests:
        _print_emf(
            timestamp,
            [["service", "route", "status_class"], ["service", "status_class"], ["service"]],
            {"RequestLatency": ("Milliseconds", ms), "Requests": ("Count", 1)},
            {"route": route, "status_class": klass},
        )
    _pending_requests.clear()
    while _pending_latencies:
        chunk = {name: ("Milliseconds", values[:_EMF_MAX_VALUES]) for name, values in _pending_latencies.items()}
        for name in list(_pending_latencies):
            rest = _pending_latencies[name][_EMF_MAX_VALUES:]
            if rest:
                _pending_latencies[name] = rest
            else:
                del _pending_latencies[name]
        _print_emf(timestamp, [["service"]], chunk, {})
    return True


def _print_emf(
    timestamp: int, dimensions: list[list[str]], figures: dict[str, tuple[str, Any]], labels: dict[str, str]
) -> None:
    doc: dict[str, Any] = {
        "_aws": {
            "Timestamp": timestamp,
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": dimensions,
                    "Metrics": [{"Name": name, "Unit": unit} for name, (unit, _) in figures.items()],
                }
            ],
        },
        "service": SERVICE,
        **labels,
        **{name: value for name, (_, value) in figures.items()},
    }
    print(orjson.dumps(doc).decode())
