"""One Logger, Tracer and Metrics per execution environment, shared by every handler and module.

Figures are recorded through ``dcmms.observability.record`` (Prometheus outside Lambda, EMF in it), and
Powertools' own metrics (``metrics.add_metric``) follow the same switch: outside Lambda they are checked and
dropped, never printed. The Logger writes JSON with secrets redacted (``logs``); a long-running local
process may render its lines otherwise (``render_logs_with``; the local stack's console). docs/observability.md
has the catalogue.

X-Ray tracing is on only where ``DCMMS_TRACING`` says so (the CDK stacks set it with active tracing). Off,
the Tracer gets a no-op provider: Powertools otherwise imports the X-Ray SDK even when tracing is
disabled, which measured ~200 ms of cold start on the development machine.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.formatter import BasePowertoolsFormatter
from aws_lambda_powertools.metrics import MetricResolution, MetricUnit
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider
from aws_lambda_powertools.tracing.base import BaseProvider, BaseSegment

from dcmms.config import get_settings

from . import record
from .logs import serialize_log
from .names import NAMESPACE, SERVICE


class _NoSegment(BaseSegment):
    def close(self, end_time: int | None = None) -> None: ...
    def add_subsegment(self, subsegment: Any) -> None: ...
    def remove_subsegment(self, subsegment: Any) -> None: ...
    def put_annotation(self, key: str, value: Any) -> None: ...
    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None: ...
    def add_exception(self, exception: BaseException, stack: Any, remote: bool = False) -> None: ...


class NoTracing(BaseProvider):
    """A tracing provider that records nothing, for environments without X-Ray."""

    @contextlib.contextmanager
    def in_subsegment(self, name: str | None = None, **kwargs: Any) -> Iterator[_NoSegment]:
        yield _NoSegment()

    @contextlib.asynccontextmanager
    async def in_subsegment_async(self, name: str | None = None, **kwargs: Any) -> AsyncIterator[_NoSegment]:
        yield _NoSegment()

    def put_annotation(self, key: str, value: Any) -> None: ...
    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None: ...
    def patch(self, modules: Sequence[str]) -> None: ...
    def patch_all(self) -> None: ...


class _EmfProvider(AmazonCloudWatchEMFProvider):
    """Powertools' EMF provider on the recording API's switch (``record.emf_enabled()``, on in Lambda).

    On, its flush (``@metrics.log_metrics``) also writes the recording API's figures. Off (the local stack, a
    container, the tests unless they ask for EMF) it writes nothing: a metric is checked (name, unit, value,
    as in Lambda, so a mistake shows before deployment) and dropped, so nothing accumulates across requests
    and Powertools' own write at 100 values of one metric never comes. Outside Lambda the figures are
    Prometheus' (``record``); these few (``RateLimitFailOpen``, ``Warmed_*``...) have no counterpart there.
    """

    def add_metric(
        self, name: str, unit: MetricUnit | str, value: float, resolution: MetricResolution | int = 60
    ) -> None:
        super().add_metric(name=name, unit=unit, value=value, resolution=resolution)
        if not record.emf_enabled():
            self.metric_set.pop(name.strip(), None)

    def flush_metrics(self, raise_on_empty_metrics: bool = False) -> None:
        if not record.emf_enabled():
            self.clear_metrics()
            return
        record.flush_emf()
        if not self.metric_set and not raise_on_empty_metrics:
            return  # none of Powertools' own: it would only warn (e.g. a warm-up run that had nothing to do)
        super().flush_metrics(raise_on_empty_metrics=raise_on_empty_metrics)


TRACING = get_settings().tracing
logger = Logger(service=SERVICE, json_serializer=serialize_log)
tracer = (
    Tracer(service=SERVICE)
    if TRACING
    else Tracer(service=SERVICE, provider=NoTracing(), disabled=False, auto_patch=False)
)
# The provider gets Metrics' class-level sets, as the one Metrics builds by default would.
metrics = Metrics(
    namespace=NAMESPACE,
    service=SERVICE,
    provider=_EmfProvider(
        namespace=NAMESPACE,
        service=SERVICE,
        metric_set=Metrics._metrics,
        dimension_set=Metrics._dimensions,
        metadata_set=Metrics._metadata,
        default_dimensions=Metrics._default_dimensions,
    ),
)


def render_logs_with(
    formatter: BasePowertoolsFormatter, log_filter: logging.Filter | None = None
) -> Callable[[], None]:
    """Render the shared Logger's lines with ``formatter``, and let ``log_filter`` hold some back: for a
    long-running process outside Lambda whose logs a person reads (``dcmms dev``: ``dcmms_dev.console``).

    ``formatter`` is a Powertools formatter, so appended keys (``correlation_id``) keep working; the keys
    appended so far carry over to it. Refused in Lambda, whose JSON lines CloudWatch reads. Returns a function
    that puts the previous formatter back and removes the filter.
    """
    if record.IN_LAMBDA:
        raise RuntimeError("in Lambda the logs stay JSON lines: CloudWatch reads them")
    handler = logger.registered_handler
    previous = logger.registered_formatter
    formatter.append_keys(**previous.get_current_keys())
    handler.setFormatter(formatter)
    if log_filter is not None:
        handler.addFilter(log_filter)

    def restore() -> None:
        if log_filter is not None:
            handler.removeFilter(log_filter)
        handler.setFormatter(previous)

    return restore


def publish_cache_counts(counts: dict[str, tuple[int, int]]) -> None:
    """Cache hits and misses of one invocation, in total and per keyspace (``CacheHits:wo``).

    Per-keyspace figures are metric names rather than a dimension so that one EMF document per
    invocation carries everything (a dimension would need a separate document per keyspace).
    """
    hits = sum(h for h, _ in counts.values())
    misses = sum(m for _, m in counts.values())
    metrics.add_metric(name="CacheHits", unit=MetricUnit.Count, value=hits)
    metrics.add_metric(name="CacheMisses", unit=MetricUnit.Count, value=misses)
    for keyspace, (h, m) in counts.items():
        metrics.add_metric(name=f"CacheHits:{keyspace}", unit=MetricUnit.Count, value=h)
        metrics.add_metric(name=f"CacheMisses:{keyspace}", unit=MetricUnit.Count, value=m)


__all__ = [
    "NAMESPACE",
    "SERVICE",
    "TRACING",
    "MetricUnit",
    "NoTracing",
    "logger",
    "metrics",
    "publish_cache_counts",
    "record",
    "render_logs_with",
    "tracer",
]
