"""Dependency checks behind ``/health`` and ``/ready``.

DynamoDB is the system of record: without it the API cannot answer, so it is *unhealthy*. Redis,
PostgreSQL (telemetry and analytics) and Kinesis (ingest) being down degrades service but the
operational API still works, so the status is *degraded* and the HTTP status stays 200
(docs/decisions.md explains why).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime
from typing import Any

from dcmms import clients
from dcmms.config import Settings
from dcmms.store import API_KEYS_TABLE

STARTED = time.monotonic()
CRITICAL = ("dynamodb",)


def _check_dynamodb(settings: Settings) -> None:
    clients.aws_client("dynamodb", settings).describe_table(TableName=settings.table_prefix + API_KEYS_TABLE)


def _check_redis(settings: Settings) -> None:
    clients.redis_client(settings).ping()


def _check_postgres(settings: Settings) -> None:
    with clients.postgres_connect(settings) as conn:
        conn.execute("SELECT 1")


def _check_kinesis(settings: Settings) -> None:
    clients.aws_client("kinesis", settings).describe_stream_summary(StreamName=settings.kinesis_stream)


CHECKS: dict[str, Callable[[Settings], None]] = {
    "dynamodb": _check_dynamodb,
    "redis": _check_redis,
    "postgres": _check_postgres,
    "kinesis": _check_kinesis,
}


def _memory(settings: Settings) -> dict[str, Any]:
    """Resident memory against the function's memory size (or the machine's RAM outside Lambda)."""
    with open("/proc/self/statm") as f:
        rss = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    limit = (
        settings.memory_limit_mb * 1024 * 1024
        if settings.memory_limit_mb
        else os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    )
    percent = 100.0 * rss / limit
    return {
        "status": "healthy" if percent < 90 else "unhealthy",
        "usage_percent": round(percent, 2),
        "rss_mb": round(rss / 1048576, 1),
    }


class HealthChecker:
    """``read_model``: returns the read model's state (``readmodel.status``); a ``status`` other than healthy or
    empty, or a failure, makes the whole answer degraded: search and dashboards miss recent writes."""

    def __init__(
        self,
        settings: Settings,
        checks: dict[str, Callable[[Settings], None]] | None = None,
        read_model: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self.settings = settings
        self.checks = checks or CHECKS
        self.read_model = read_model
        self._pool = ThreadPoolExecutor(max_workers=len(self.checks) + 1, thread_name_prefix="health")

    def _read_model(self, future: Future[dict[str, Any]] | None) -> dict[str, Any] | None:
        if future is None:
            return None
        try:
            return future.result(timeout=self.settings.health_timeout_s)
        except Exception as exc:  # unreachable or overrunning: reported, never raised
            return {"status": "unavailable", "error": type(exc).__name__}

    def _run(self, names: tuple[str, ...]) -> dict[str, str]:
        """Run checks concurrently; one that fails or overruns the deadline is 'unhealthy'."""
        futures = {name: self._pool.submit(self.checks[name], self.settings) for name in names}
        wait(futures.values(), timeout=self.settings.health_timeout_s)
        out = {}
        for name, fut in futures.items():
            ok = fut.done() and fut.exception() is None
            out[name] = "healthy" if ok else "unhealthy"
        return out

    def health(self) -> dict[str, Any]:
        pending = self._pool.submit(self.read_model) if self.read_model is not None else None
        checks: dict[str, Any] = self._run(tuple(self.checks))
        checks["memory"] = _memory(self.settings)
        projection = self._read_model(pending)
        if any(checks[name] != "healthy" for name in CRITICAL):
            status = "unhealthy"
        elif (
            any(v != "healthy" for k, v in checks.items() if k != "memory")
            or checks["memory"]["status"] != "healthy"
            or (projection is not None and projection["status"] not in ("healthy", "empty"))
        ):
            status = "degraded"
        else:
            status = "healthy"
        report = {
            "status": status,
            "timestamp": datetime.now(UTC).isoformat(),
            "uptime": round(time.monotonic() - STARTED, 3),
            "checks": checks,
        }
        if projection is not None:
            report["read_model"] = projection
        return report

    def ready(self) -> bool:
        """Ready when every critical dependency answers."""
        return all(v == "healthy" for v in self._run(CRITICAL).values())
