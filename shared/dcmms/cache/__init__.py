"""Redis: cache-aside and write-through for entities, versioned list caching, memoization, locks."""

from .lock import LockNotAcquired, RedisLock
from .resilient import ResilientRedis
from .stats import CacheStats
from .store import Doc, RedisCache

__all__ = ["CacheStats", "Doc", "LockNotAcquired", "RedisCache", "RedisLock", "ResilientRedis"]
