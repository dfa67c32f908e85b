"""People's credentials: Cognito ID tokens (``Authorization: Bearer``), verified locally against the user pool's
JWKS — signature (RS256), issuer, audience (the web app's client), ``token_use``, expiry — and mapped to the
same ``Principal`` an API key gives: the tenant from ``custom:tenant_id`` (not writable by the user), the role
from the ``cognito:groups`` (the most privileged group the user is in). PyJWT's ``PyJWKClient`` caches the keys
per execution environment and fetches them again when a token names a key id it does not know (a rotation).

Access tokens are accepted when they carry ``custom:tenant_id`` (Cognito adds custom claims to them only through
a pre-token-generation trigger); otherwise they are refused, as every token without a tenant is.

A valid token still stands only while its person does: when the tenant's admins have a record of the person
(``standing``, the users table through ``dcmms.cache.credentials``), a disabled or deleted person, or one whose
role has changed since the token was issued, is refused (a new sign-in gives a token with the new role).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any

import jwt

from dcmms.domain.errors import Unauthorized
from dcmms.domain.model import Credential, Principal, Role, Tier, User

# The most privileged group wins: a user in admin and viewer is an admin.
_ROLE_ORDER = (Role.admin, Role.supervisor, Role.technician, Role.viewer)
LEEWAY_S = 30  # clock skew tolerated on exp/iat between Cognito and this function
MAX_CACHED = 10_000
CACHE_S = 30.0  # a verified token's principal is kept this long (never past the token's expiry)


class TokenVerifier:
    def __init__(
        self,
        issuer: str,
        client_id: str,
        jwks_url: str,
        tier_of: Callable[[str], Tier],
        timeout_s: float = 2.0,
        standing: Callable[[str, str], User | None] | None = None,
    ) -> None:
        self.issuer, self.client_id = issuer, client_id
        self._jwks = jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=3600, timeout=int(max(1, timeout_s)))
        self._tier_of = tier_of
        self._standing = standing
        self._cache: dict[str, tuple[float, Principal]] = {}

    def principal(self, token: str) -> Principal:
        """The caller a valid token names; ``Unauthorized`` (401) for any token that is not."""
        digest = hashlib.sha256(token.encode()).hexdigest()
        now = time.time()
        hit = self._cache.get(digest)
        if hit is not None and hit[0] > now:
            principal = hit[1]
        else:
            claims = self._claims(token)
            principal = self._principal(claims)
            if len(self._cache) >= MAX_CACHED:
                self._cache.clear()
            self._cache[digest] = (min(float(claims["exp"]), now + CACHE_S), principal)
        self._check_standing(principal)  # on every request: a process-cached answer, dropped by the admin's change
        return principal

    def _check_standing(self, principal: Principal) -> None:
        person = self._standing(principal.tenant_id, principal.user_id) if self._standing is not None else None
        if person is None:
            return
        if person.deleted_at is not None or not person.enabled:
            raise Unauthorized("This person's sign-in has been disabled by an admin of the tenant.")
        if person.role is not principal.role:
            raise Unauthorized("The person's role has changed since this token was issued; sign in again.")

    def _claims(self, token: str) -> dict[str, Any]:
        try:
            key = self._jwks.get_signing_key_from_jwt(token)
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=["RS256"],
                issuer=self.issuer,
                leeway=LEEWAY_S,
                options={"require": ["exp", "iat", "iss", "sub", "token_use"], "verify_aud": False},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("The token has expired; sign in again.") from None
        except jwt.PyJWKClientConnectionError:
            raise Unauthorized("The token's signing keys cannot be fetched; retry shortly.") from None
        except (jwt.PyJWKClientError, jwt.InvalidTokenError) as exc:
            raise Unauthorized(f"The token is not valid ({_reason(exc)}).") from None
        use = claims.get("token_use")
        audience = claims.get("aud") if use == "id" else claims.get("client_id") if use == "access" else None
        if use not in ("id", "access"):
            raise Unauthorized("The token is not an ID or access token.")
        if audience != self.client_id:
            raise Unauthorized("The token was issued to another client.")
        return claims

    def _principal(self, claims: dict[str, Any]) -> Principal:
        tenant = claims.get("custom:tenant_id")
        if not tenant:
            raise Unauthorized("The token names no tenant (custom:tenant_id).")
        groups = set(claims.get("cognito:groups") or ())
        role = next((r for r in _ROLE_ORDER if r.value in groups), None)
        if role is None:
            raise Unauthorized("The user is in no role group (admin, supervisor, technician, viewer).")
        sub = str(claims["sub"])
        # rate limits: a person is counted per user (user scope) and, for the tier's limit, per person too
        return Principal(
            tenant_id=str(tenant),
            user_id=sub,
            role=role,
            tier=self._tier_of(str(tenant)),
            key_id=f"user:{sub}",
            credential=Credential.token,
        )


def _reason(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text[:120]
