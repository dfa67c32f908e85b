"""One Logger, Tracer and Metrics per execution environment, shared by every handler and module.

X-Ray tracing is on only where ``DCMMS_TRACING`` says so (the CDK stacks set it with active tracing).
Off, the Tracer gets a no-op provider: Powertools otherwise imports the X-Ray SDK even when tracing is
disabled, which measured ~200 ms of cold start on the development machine.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.tracing.base import BaseProvider, BaseSegment

from dcmms.config import get_settings

SERVICE = "dcmms"


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
    def in_subsegment(self, name=None, **kwargs):  # type: ignore[override]
        yield _NoSegment()

    @contextlib.asynccontextmanager
    async def in_subsegment_async(self, name=None, **kwargs):  # type: ignore[override]
        yield _NoSegment()

    def put_annotation(self, key: str, value: Any) -> None: ...
    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None: ...
    def patch(self, modules: Sequence[str]) -> None: ...
    def patch_all(self) -> None: ...


logger = Logger(service=SERVICE)
tracer = (
    Tracer(service=SERVICE)
    if get_settings().tracing
    else Tracer(service=SERVICE, provider=NoTracing(), disabled=False, auto_patch=False)
)
metrics = Metrics(namespace="dCMMS", service=SERVICE)


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


__all__ = ["SERVICE", "MetricUnit", "NoTracing", "logger", "metrics", "publish_cache_counts", "tracer"]
