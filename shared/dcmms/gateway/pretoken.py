"""Cognito's pre-token-generation trigger (event version 2): every token a person gets names their tenant.

The API reads the tenant from the token's ``custom:tenant_id`` claim (``dcmms.api.tokens``). A person of the
pool's own has the attribute, set by an admin and not writable by them (the web client cannot write it), but
Cognito copies custom attributes into the ID token only. A federated person (SAML or OIDC) has no attribute we
can trust: their tenant is the one the environment assigned to their identity provider (``cdk.json``:
``cognito.identity_providers``), whatever the provider's assertion says. This trigger writes the tenant into the
claims of both the ID and the access token (event V2_0, which needs the Essentials or Plus feature plan), so
either token is a credential; a federated person whose provider has no tenant gets none, and is refused by the
API. The role stays what Cognito writes: the person's groups (``cognito:groups``), which this leaves alone.

Pure: no I/O, no dependency beyond the standard library (the import-linter contract keeps it so), so Cognito's
5-second budget for a trigger is spent on nothing but this.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

TENANT_CLAIM = "custom:tenant_id"
VERSIONS = ("2", "3")  # V2_0 and V3_0 events have the same request and response for people's tokens


def provider_tenants(text: str | None) -> dict[str, str]:
    """The identity-provider name -> tenant map from its JSON text (the function's environment); empty if unset."""
    if not text:
        return {}
    parsed = json.loads(text)
    if not isinstance(parsed, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in parsed.items()):
        raise ValueError("the identity-provider tenants must be a JSON object of provider name -> tenant id")
    return dict(parsed)


def federated_provider(attributes: Mapping[str, Any]) -> str | None:
    """The identity provider a federated person signed in through (the ``identities`` attribute Cognito keeps for
    them: a JSON list of ``{"providerName", "providerType", "userId", ...}``), or None for the pool's own people."""
    raw = attributes.get("identities")
    if not raw:
        return None
    identities = json.loads(raw) if isinstance(raw, str) else raw
    if not isinstance(identities, list) or not identities:
        return None
    primary = next((i for i in identities if str(i.get("primary", "")).lower() == "true"), identities[0])
    name = primary.get("providerName")
    return str(name) if name else None


def tenant_of(event: Mapping[str, Any], providers: Mapping[str, str]) -> tuple[str | None, bool]:
    """(the person's tenant, whether they are federated). A federated person's tenant is their provider's, never
    an attribute (a provider could assert one); the pool's own people have theirs as ``custom:tenant_id``."""
    attributes = event.get("request", {}).get("userAttributes") or {}
    provider = federated_provider(attributes)
    if provider is not None:
        return providers.get(provider), True
    tenant = attributes.get(TENANT_CLAIM)
    return (str(tenant) if tenant else None), False


def customize(event: dict[str, Any], providers: Mapping[str, str]) -> dict[str, Any]:
    """The trigger's answer: ``event`` with ``response.claimsAndScopeOverrideDetails`` set."""
    version = str(event.get("version", ""))
    if version not in VERSIONS:
        # A V1_0 event customizes the ID token only: the pool is configured wrongly, and an access token without a
        # tenant would be refused anyway. Failing the sign-in says so at once.
        raise ValueError(f"pre token generation event version {version!r}: the pool must send V2_0 events")
    tenant, federated = tenant_of(event, providers)
    if tenant is not None:
        claims: dict[str, Any] = {"claimsToAddOrOverride": {TENANT_CLAIM: tenant}}
    elif federated:
        # an unknown provider: whatever its mapping may have put in the attribute does not reach a token
        claims = {"claimsToSuppress": [TENANT_CLAIM]}
    else:
        claims = {}
    details = {"idTokenGeneration": claims, "accessTokenGeneration": dict(claims)} if claims else None
    event.setdefault("response", {})["claimsAndScopeOverrideDetails"] = details
    return event
