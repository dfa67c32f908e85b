"""Redis: cache-aside and write-through for entities, versioned list caching, memoization, locks."""

from .lock import LockNotAcquired, RedisLock
from .redis_cache import Doc, RedisCache
from .resilient import ResilientRedis
from .stats import CacheStats

__all__ = ["CacheStats", "Doc", "LockNotAcquired", "RedisCache", "RedisLock", "ResilientRedis"]
