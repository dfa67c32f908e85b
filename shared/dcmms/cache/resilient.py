"""Redis calls that degrade instead of failing: a circuit breaker, one log line per outage interval,
and replay of invalidations that could not be delivered while Redis was away."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from dcmms.observability import logger

if TYPE_CHECKING:
    import redis

T = TypeVar("T")


class ResilientRedis:
    """Runs Redis operations; on failure returns a default and skips Redis for ``retry_after_s``.

    Without the breaker a black-holed Redis would cost every request a socket timeout.
    """

    def __init__(
        self,
        client: redis.Redis,
        retry_after_s: float = 5.0,
        log_interval_s: float = 60.0,
        replay_limit: int = 10_000,
    ) -> None:
        import redis as redis_lib

        self.client = client
        # RedisClusterException (e.g. no node reachable at start) is not a RedisError.
        self.errors: tuple[type[BaseException], ...] = (
            redis_lib.RedisError,
            redis_lib.exceptions.RedisClusterException,
            OSError,
        )
        self.retry_after_s = retry_after_s
        self.log_interval_s = log_interval_s
        self._open_until = 0.0
        self._last_logged = float("-inf")
        self.failures = 0
        # Writes (invalidations) that could not reach Redis, replayed once it answers again.
        self._pending: deque[Callable[[redis.Redis], object]] = deque(maxlen=replay_limit)
        self._lock = threading.Lock()

    @property
    def available(self) -> bool:
        return time.monotonic() >= self._open_until

    def run(self, op: Callable[[redis.Redis], Any], default: Any, replay_on_failure: bool = False) -> Any:
        """``op(client)``, or ``default`` when Redis is unavailable; a failed write may be replayed later.

        Typed ``Any``: redis-py types every reply as ``Awaitable | Any`` (one stub for sync and asyncio)."""
        if not self.available:
            if replay_on_failure:
                self._pending.append(op)
            return default
        try:
            if self._pending:
                self._replay()
            return op(self.client)
        except self.errors as exc:
            if replay_on_failure:
                self._pending.append(op)
            self._trip(exc)
            return default

    def _replay(self) -> None:
        with self._lock:
            while self._pending:
                op = self._pending[0]
                op(self.client)  # raises if Redis is still away; the op stays queued
                self._pending.popleft()

    def report_failure(self, exc: BaseException) -> None:
        """A failure seen by another user of the same Redis (the rate limiter): open the breaker too."""
        self._trip(exc)

    def _trip(self, exc: BaseException) -> None:
        now = time.monotonic()
        self.failures += 1
        self._open_until = now + self.retry_after_s
        if now - self._last_logged >= self.log_interval_s:
            self._last_logged = now
            logger.warning(
                "redis unavailable; serving from DynamoDB",
                extra={"error": type(exc).__name__, "retry_after_s": self.retry_after_s},
            )
