"""Authentication: ``x-api-key`` (integrations, devices) or ``Authorization: Bearer`` (a person's Cognito token)
-> Principal.

A key is looked up process cache -> Redis -> DynamoDB (``dcmms.cache.credentials``): the per-process cache keeps
a warm function off the network; the Redis entry lets a fresh execution environment authenticate without
loading the DynamoDB client at all. Both are keyed by the key's SHA-256, never the key, and both expire, which
bounds how long a revoked key keeps working even where nothing drops the entry (docs/identity.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

from fastapi import Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from dcmms.cache.credentials import CredentialCache
from dcmms.domain.apikeys import hash_api_key
from dcmms.domain.errors import RateLimited, ServiceUnavailable, Unauthorized
from dcmms.domain.model import Principal, utcnow
from dcmms.observability import MetricUnit, metrics

if TYPE_CHECKING:
    from dcmms.cache import ResilientRedis
    from dcmms.store.repositories import DirectoryRepository

    from .tokens import TokenVerifier

api_key_header = APIKeyHeader(name="x-api-key", auto_error=False, description="Your dCMMS API key.")
bearer = HTTPBearer(
    auto_error=False, description="A signed-in person's Cognito ID (or access) token.", bearerFormat="JWT"
)


class Authenticator:
    def __init__(
        self,
        ttl_s: float,
        directory: Callable[[], DirectoryRepository],
        redis: ResilientRedis | None = None,
        max_entries: int = 10_000,
        tokens: Callable[[], TokenVerifier | None] | None = None,
        credentials: CredentialCache | None = None,
    ) -> None:
        self._tokens_factory = tokens
        self._directory_factory = directory
        self._directory: DirectoryRepository | None = None
        self.credentials = credentials or CredentialCache(redis, ttl_s, max_entries)

    def _load(self, digest: str) -> Principal | None:
        if self._directory is None:
            self._directory = self._directory_factory()
        return self._directory.principal_for_hash(digest)

    def authenticate(self, raw_key: str | None) -> Principal:
        if not raw_key:
            raise Unauthorized("Send an API key in x-api-key, or a signed-in user's token as Authorization: Bearer.")
        digest = hash_api_key(raw_key)
        principal = self.credentials.key_principal(digest, lambda: self._load(digest))
        if principal is None:
            raise Unauthorized("The API key is not valid.")
        if principal.expires_at is not None and principal.expires_at <= utcnow():
            raise Unauthorized("The API key has expired.")
        self.credentials.mark_used(principal)
        return principal

    def authenticate_token(self, token: str) -> Principal:
        """A person's Cognito token (``Authorization: Bearer``) -> the same kind of principal a key gives."""
        verifier = self._tokens_factory() if self._tokens_factory is not None else None
        if verifier is None:
            raise Unauthorized("This deployment takes API keys only (no user pool is configured).")
        return verifier.principal(token)


async def current_principal(
    request: Request,
    raw_key: str | None = Security(api_key_header),
    token: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)] = None,
) -> Principal:
    """Authenticate, then count the request against every rate limit that applies to it.

    ``async`` on purpose: it runs on the event loop instead of a worker thread. In Lambda an
    environment serves one request at a time, so the Redis round trip (and, once per key and
    process, a DynamoDB read) blocks nothing, and the thread hop it saves is most of FastAPI's
    per-request overhead. Under uvicorn it holds the loop for that round trip.
    """
    authenticator = request.app.state.authenticator
    if raw_key or token is None:
        principal = authenticator.authenticate(raw_key)
    else:
        principal = authenticator.authenticate_token(token.credentials)
    request.state.principal = principal
    limiter = request.app.state.rate_limiter
    if limiter is not None:
        route = request.scope.get("route")
        decision = limiter.check(principal, request.method, getattr(route, "path", request.url.path))
        request.state.ratelimit_headers = decision.headers
        if decision.degraded:
            metrics.add_metric(name="RateLimitFailOpen", unit=MetricUnit.Count, value=1)
        if decision.unavailable:
            raise ServiceUnavailable("Rate limiting is unavailable and this endpoint fails closed; retry shortly.")
        if not decision.allowed:
            metrics.add_metric(name="RateLimitRefused", unit=MetricUnit.Count, value=1)
            raise RateLimited(
                f"Rate limit exceeded; retry in {decision.retry_after_s} s.", retry_after=decision.retry_after_s
            )
    return principal
