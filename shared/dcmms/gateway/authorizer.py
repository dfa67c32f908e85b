"""API Gateway's request authorizer: a request carries an API key or a signed-in person's token, or it is refused.

API Gateway cannot take "an API key or a Cognito token" by itself: a method's Cognito authorizer and its API-key
requirement are both demanded (AND), and only one of them can be the usage plans' meter. So every method has
this Lambda REQUEST authorizer, and the API's key source is AUTHORIZER: the authorizer names the usage-plan key
the request is metered against (``usageIdentifierKey``), and API Gateway applies that key's plan (throttle,
quota) as before (docs/decisions.md, 2026-12-07).

- ``x-api-key`` (headers are read case-insensitively): the key's principal through ``dcmms.api.auth``'s
  Authenticator (its hash looked up in the api-keys table, cached per process for at most 30 s; no Redis: this
  function runs outside the VPC). Allowed with the key itself as the usage-plan key: every key dCMMS issues is
  imported into its tier's usage plan as an API Gateway key (the management API does it at creation).
- ``Authorization: Bearer <Cognito ID or access token>``: the person's principal through
  ``dcmms.runtime.token_verifier``. People have no gateway key of their own, so the request is metered against
  their tier's *people usage key*: one gateway key per tier, created by the stacks in a people plan of its own
  (a ceiling on the tier's people together), whose id is in ``DCMMS_PEOPLE_USAGE_KEY_IDS``; its value is read
  from API Gateway once per execution environment. The application limits each person (Redis), as it does each
  key.
- Anything else, or a credential that is not valid: ``Exception("Unauthorized")``, which API Gateway answers
  with 401 (its UNAUTHORIZED gateway response, a problem+json body). Any other failure (DynamoDB, API Gateway)
  propagates: API Gateway answers AUTHORIZER_FAILURE (503, "retry shortly"), never a misleading 401.

The principal travels to the API in the authorizer context (``requestContext.authorizer``: tenant_id, user_id,
role, tier, key_id, credential), for logs and tracing; the API function still authenticates every request itself
(defence in depth, its per-key and per-person rate limits). Results are not cached (TTL 0, no identity source): a
REQUEST authorizer's cache key needs every identity source present, and a request has one header or the other.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from dcmms.config import Settings
from dcmms.domain.errors import Unauthorized
from dcmms.domain.model import Credential
from dcmms.observability import logger

if TYPE_CHECKING:
    from dcmms.api.tokens import TokenVerifier
    from dcmms.domain.model import Principal

API_KEY_HEADER = "x-api-key"
UNAUTHORIZED = "Unauthorized"  # the message API Gateway turns into 401


def headers_of(event: Mapping[str, Any]) -> dict[str, str]:
    """The request's headers by lower-cased name (the first value of a repeated header)."""
    out: dict[str, str] = {}
    for name, values in (event.get("multiValueHeaders") or {}).items():
        if values:
            out.setdefault(name.lower(), values[0])
    for name, value in (event.get("headers") or {}).items():
        if value is not None:
            out[name.lower()] = value
    return out


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (the scheme is case-insensitive), else None."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


class PeopleUsageKeys:
    """The value of each tier's people usage key, read from API Gateway on first use and kept for the life of the
    execution environment (the stacks create the keys once; replacing one means a new deployment, which starts
    new environments)."""

    def __init__(self, key_ids: Mapping[str, str], apigateway: Callable[[], Any]) -> None:
        self._ids = dict(key_ids)
        self._client = apigateway
        self._values: dict[str, str] = {}

    def value(self, tier: str) -> str:
        if tier not in self._values:
            key_id = self._ids.get(tier)
            if key_id is None:
                # a deployment fault, not the caller's: 500 (AUTHORIZER_FAILURE), and the log names it
                raise LookupError(f"no people usage key is configured for tier {tier!r} (DCMMS_PEOPLE_USAGE_KEY_IDS)")
            self._values[tier] = str(self._client().get_api_key(apiKey=key_id, includeValue=True)["value"])
        return self._values[tier]


class Authorizer:
    def __init__(
        self,
        authenticate_key: Callable[[str], Principal],
        tokens: Callable[[], TokenVerifier | None],
        people_keys: PeopleUsageKeys,
    ) -> None:
        self._authenticate_key = authenticate_key
        self._tokens = tokens
        self._people_keys = people_keys

    def decide(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """The authorizer's answer to a REQUEST event: an Allow policy for the method, or Exception("Unauthorized")."""
        headers = headers_of(event)
        raw_key = headers.get(API_KEY_HEADER)
        try:
            if raw_key:  # a key wins over a token, as in the API (dcmms.api.auth.current_principal)
                principal = self._authenticate_key(raw_key)
                return allow(event["methodArn"], principal, usage_key=raw_key)
            token = bearer_token(headers.get("authorization"))
            verifier = self._tokens() if token else None
            if token is None or verifier is None:
                raise Unauthorized("no API key and no bearer token (or no user pool)")
            principal = verifier.principal(token)
        except Unauthorized as refused:
            # one line saying why (never the credential), not a traceback per refused request
            logger.info("credential refused", extra={"reason": refused.detail})
            raise Exception(UNAUTHORIZED) from None  # noqa: TRY002 - API Gateway matches this exact message
        return allow(event["methodArn"], principal, usage_key=self._people_keys.value(principal.tier.value))


def allow(method_arn: str, principal: Principal, usage_key: str) -> dict[str, Any]:
    """An Allow for exactly this method (no result is cached, so no wider resource is needed) with the principal in
    the context (string values only, as API Gateway requires) and the usage-plan key to meter."""
    return {
        "principalId": principal.user_id if principal.credential is Credential.token else principal.key_id,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": method_arn}],
        },
        "context": {
            "tenant_id": principal.tenant_id,
            "user_id": principal.user_id,
            "role": principal.role.value,
            "tier": principal.tier.value,
            "key_id": principal.key_id,
            "credential": principal.credential.value,
        },
        "usageIdentifierKey": usage_key,
    }


def build(settings: Settings) -> Authorizer:
    """The authorizer over ``settings``' tables, user pool and gateway; every client is built on first use."""
    from dcmms import clients, runtime
    from dcmms.api.auth import Authenticator

    authenticator = Authenticator(
        ttl_s=settings.principal_cache_ttl_s,
        directory=lambda: runtime.store_repositories(settings).directory,
        redis=None,  # outside the VPC: no Redis; the per-process cache (30 s at most) bounds a revoked key's life
    )
    people_keys = PeopleUsageKeys(settings.people_usage_keys, lambda: clients.aws_client("apigateway", settings))
    return Authorizer(
        authenticator.authenticate, lambda: runtime.token_verifier(settings, shared_cache=False), people_keys
    )


@lru_cache(maxsize=4)
def authorizer(settings: Settings) -> Authorizer:
    """One authorizer per execution environment (its caches are the point)."""
    return build(settings)
