"""Resolved credentials, cached so that a warm function stays off the network: an API key's principal (by the
key's SHA-256, never the key) and a person's standing (their users-table record). Two levels: this process
(at most ``PROCESS_TTL_S``) and Redis (``ttl_s``), both bounded in entries and time, so a revoked key or a
disabled person is refused everywhere within ``ttl_s + PROCESS_TTL_S`` even if nothing tells the caches; the
management API's ``forget_*`` drops both at once (this process, and Redis, replayed if Redis is down).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Generic, TypeVar

from pydantic import BaseModel

from dcmms.domain.model import Principal, Tier, User, utcnow

from . import keys

if TYPE_CHECKING:
    from .resilient import ResilientRedis

PROCESS_TTL_S = 30.0
TIER_TTL_S = 300.0  # a tenant's plan changes by a sale, not a click: Redis keeps it 5 minutes
T = TypeVar("T", bound=BaseModel)


class _Plan(BaseModel):
    tier: Tier


_NONE = "-"  # Redis's entry for "no such record" (a negative answer is cached too)


class _Level(Generic[T]):
    """One kind of credential: this process's entries, then Redis's, then ``load``."""

    def __init__(
        self, model: type[T], redis: ResilientRedis | None, ttl_s: float, max_entries: int, clock: Callable[[], float]
    ) -> None:
        self._model, self._redis, self._ttl_s, self._max, self._clock = model, redis, ttl_s, max_entries, clock
        self._entries: dict[str, tuple[float, T | None]] = {}

    def get(self, key: str, load: Callable[[], T | None]) -> T | None:
        now = self._clock()
        hit = self._entries.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        value = self._shared(key, load)
        if len(self._entries) >= self._max:
            self._entries.clear()
        self._entries[key] = (now + min(self._ttl_s, PROCESS_TTL_S), value)
        return value

    def _shared(self, key: str, load: Callable[[], T | None]) -> T | None:
        if self._redis is not None:
            raw = self._redis.run(lambda r: r.get(key), None)
            if raw is not None:
                text = raw.decode() if isinstance(raw, bytes) else raw
                return None if text == _NONE else self._model.model_validate_json(text)
        value = load()
        if self._redis is not None:
            body = _NONE if value is None else value.model_dump_json()
            self._redis.run(lambda r: r.set(key, body, ex=max(1, int(self._ttl_s))), None)
        return value

    def forget(self, key: str) -> None:
        self._entries.pop(key, None)
        if self._redis is not None:
            self._redis.run(lambda r: r.delete(key), None, replay_on_failure=True)


class CredentialCache:
    def __init__(
        self,
        redis: ResilientRedis | None,
        ttl_s: float,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.redis = redis
        self._clock = clock
        self._keys = _Level(Principal, redis, ttl_s, max_entries, clock)
        self._people = _Level(User, redis, ttl_s, max_entries, clock)
        self._plans = _Level(_Plan, redis, TIER_TTL_S, max_entries, clock)
        self._used: dict[str, float] = {}  # key id -> when this process last recorded its use

    def key_principal(self, digest: str, load: Callable[[], Principal | None]) -> Principal | None:
        """The principal of the key whose hash is ``digest`` (None: unknown, revoked or expired when loaded)."""
        return self._keys.get(keys.principal(digest), load)

    def forget_key(self, digest: str) -> None:
        self._keys.forget(keys.principal(digest))

    def person(self, tenant_id: str, user_id: str, load: Callable[[], User | None]) -> User | None:
        """The person's record (None: they have none, e.g. a federated person before an admin saw them)."""
        return self._people.get(keys.person(tenant_id, user_id), load)

    def forget_person(self, tenant_id: str, user_id: str) -> None:
        self._people.forget(keys.person(tenant_id, user_id))

    def tenant_tier(self, tenant_id: str, load: Callable[[], Tier]) -> Tier:
        """The tenant's plan, which a person's rate limits are counted in (an API key carries its own)."""
        plan = self._plans.get(keys.tenant_plan(tenant_id), lambda: _Plan(tier=load()))
        return plan.tier if plan is not None else Tier.pro

    def mark_used(self, principal: Principal) -> None:
        """Record that an API key was used: at most once per ``PROCESS_TTL_S`` per key and process."""
        now = self._clock()
        if self.redis is None or self._used.get(principal.key_id, 0.0) > now:
            return
        if len(self._used) >= 10_000:
            self._used.clear()
        self._used[principal.key_id] = now + PROCESS_TTL_S
        stamp = utcnow().isoformat()
        key = keys.key_used(principal.tenant_id)
        self.redis.run(lambda r: r.hset(key, principal.key_id, stamp), None)

    def last_used(self, tenant_id: str, key_ids: Sequence[str]) -> dict[str, datetime]:
        if self.redis is None or not key_ids:
            return {}
        key = keys.key_used(tenant_id)
        values = self.redis.run(lambda r: r.hmget(key, list(key_ids)), None) or []
        out = {}
        for key_id, raw in zip(key_ids, values, strict=False):
            if raw is not None:
                out[key_id] = datetime.fromisoformat(raw.decode() if isinstance(raw, bytes) else raw)
        return out
