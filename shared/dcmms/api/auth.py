"""API-key authentication: ``x-api-key`` -> Principal, with a short per-process cache."""

from __future__ import annotations

import time

from fastapi import Request, Security
from fastapi.security import APIKeyHeader

from dcmms.domain.errors import Unauthorized
from dcmms.domain.model import Principal
from dcmms.store.repositories import DirectoryRepository, hash_api_key

api_key_header = APIKeyHeader(name="x-api-key", auto_error=False, description="Your dCMMS API key.")


class Authenticator:
    """Resolves keys through the directory; a hit is reused for ``ttl_s`` (bounded revocation delay)."""

    def __init__(self, directory: DirectoryRepository, ttl_s: float, max_entries: int = 10_000) -> None:
        self.directory = directory
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._cache: dict[str, tuple[float, Principal]] = {}

    def authenticate(self, raw_key: str | None) -> Principal:
        if not raw_key:
            raise Unauthorized("Send your API key in the x-api-key header.")
        digest = hash_api_key(raw_key)  # the cache is keyed by hash: raw keys are never kept
        now = time.monotonic()
        hit = self._cache.get(digest)
        if hit is not None and hit[0] > now:
            return hit[1]
        principal = self.directory.principal_for_key(raw_key)
        if principal is None:
            raise Unauthorized("The API key is not valid.")
        if len(self._cache) >= self.max_entries:
            self._cache.clear()
        self._cache[digest] = (now + self.ttl_s, principal)
        return principal


def current_principal(request: Request, raw_key: str | None = Security(api_key_header)) -> Principal:
    principal = request.app.state.authenticator.authenticate(raw_key)
    request.state.principal = principal
    return principal
