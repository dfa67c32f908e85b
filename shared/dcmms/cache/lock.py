"""A Redis lock: ``SET NX PX`` with a random token; only the owner can release (compare-and-delete)."""

from __future__ import annotations

import secrets
import time
from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import redis

# Delete the key only if it still holds our token: a lock that expired and was taken by another
# owner must not be released by the first one.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class LockNotAcquired(Exception):
    """Another owner holds the lock."""


class RedisLock:
    """``with RedisLock(r, "dcmms:job:warmer:lock", ttl_ms=60_000):`` runs the block on one owner at a time.

    The TTL bounds how long a crashed owner blocks others; keep the guarded work shorter than it.
    """

    def __init__(self, client: redis.Redis, key: str, ttl_ms: int, wait_ms: int = 0) -> None:
        self.client = client
        self.key = key
        self.ttl_ms = ttl_ms
        self.wait_ms = wait_ms
        self.token = secrets.token_hex(16)
        self._release = client.register_script(_RELEASE)

    def acquire(self) -> bool:
        deadline = time.monotonic() + self.wait_ms / 1000
        while True:
            if self.client.set(self.key, self.token, nx=True, px=self.ttl_ms):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)

    def release(self) -> bool:
        """True when this owner still held the lock and released it."""
        return bool(self._release(keys=[self.key], args=[self.token]))

    def __enter__(self) -> RedisLock:
        if not self.acquire():
            raise LockNotAcquired(self.key)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
