"""The pre-token-generation trigger (event V2_0): the tenant in both tokens, from the person's attribute or from
their identity provider, never from what a provider asserts; the role groups untouched. Events are shaped as
Cognito sends them (a pool with email user names: ``userName`` is the person's sub, or ``<provider>_<id>`` for a
federated person, whose ``identities`` attribute is JSON text)."""

from __future__ import annotations

import importlib
import json
import sys
from typing import Any

import pytest

from dcmms.gateway.pretoken import TENANT_CLAIM, customize, federated_provider, provider_tenants

PROVIDERS = {"HeliosAD": "helios-solar", "Boreas-Okta": "boreas-wind"}


def _event(attributes: dict[str, str], *, source: str = "TokenGeneration_Authentication", groups=("technician",),
           user_name: str = "9a4c1e52-7d1b-4c55-a0b8-2f1d3c4e5f60", version: str = "2") -> dict[str, Any]:  # fmt: skip
    return {
        "version": version,
        "triggerSource": source,
        "region": "us-west-2",
        "userPoolId": "us-west-2_Ab12Cd34E",
        "userName": user_name,
        "callerContext": {"awsSdkVersion": "aws-sdk-unknown-unknown", "clientId": "5k3example7dcmmsweb0client"},
        "request": {
            "userAttributes": {"sub": "9a4c1e52-7d1b-4c55-a0b8-2f1d3c4e5f60", "email_verified": "true", **attributes},
            "groupConfiguration": {"groupsToOverride": list(groups), "iamRolesToOverride": [], "preferredRole": None},
            "scopes": ["aws.cognito.signin.user.admin"],
        },
        "response": {"claimsAndScopeOverrideDetails": None},
    }


def _federated(provider: str, provider_type: str = "SAML", **extra: str) -> dict[str, Any]:
    identities = [
        {
            "dateCreated": "1733500000000",
            "userId": "jane.doe@helios.example.com",
            "providerName": provider,
            "providerType": provider_type,
            "issuer": "https://sts.windows.net/0f1e2d3c-0000-4000-8000-000000000000/",
            "primary": "true",
        }
    ]
    attributes = {
        "cognito:user_status": "EXTERNAL_PROVIDER",
        "email": "jane.doe@helios.example.com",
        "identities": json.dumps(identities),
        **extra,
    }
    return _event(attributes, source="TokenGeneration_HostedAuth", user_name=f"{provider}_jane.doe@helios.example.com")


def _details(event: dict[str, Any]) -> dict[str, Any] | None:
    return event["response"]["claimsAndScopeOverrideDetails"]


def test_a_pool_person_gets_their_tenant_in_the_id_and_the_access_token() -> None:
    event = _event({"cognito:user_status": "CONFIRMED", "email": "tech@helios.example.com",
                    TENANT_CLAIM: "helios-solar"})  # fmt: skip
    answer = customize(event, PROVIDERS)
    details = _details(answer)
    assert details == {
        "idTokenGeneration": {"claimsToAddOrOverride": {TENANT_CLAIM: "helios-solar"}},
        "accessTokenGeneration": {"claimsToAddOrOverride": {TENANT_CLAIM: "helios-solar"}},
    }
    # the role stays Cognito's: the person's groups, not overridden
    assert "groupOverrideDetails" not in details
    assert answer["request"]["groupConfiguration"]["groupsToOverride"] == ["technician"]
    json.dumps(answer)  # what Lambda returns to Cognito


def test_refreshed_tokens_name_the_tenant_too() -> None:
    event = _event({TENANT_CLAIM: "boreas-wind"}, source="TokenGeneration_RefreshTokens")
    assert _details(customize(event, PROVIDERS))["accessTokenGeneration"]["claimsToAddOrOverride"] == {
        TENANT_CLAIM: "boreas-wind"
    }


def test_a_federated_person_belongs_to_their_providers_tenant() -> None:
    details = _details(customize(_federated("HeliosAD"), PROVIDERS))
    assert details["idTokenGeneration"]["claimsToAddOrOverride"] == {TENANT_CLAIM: "helios-solar"}
    assert details["accessTokenGeneration"]["claimsToAddOrOverride"] == {TENANT_CLAIM: "helios-solar"}
    oidc = _details(customize(_federated("Boreas-Okta", "OIDC"), PROVIDERS))
    assert oidc["accessTokenGeneration"]["claimsToAddOrOverride"] == {TENANT_CLAIM: "boreas-wind"}


def test_a_provider_cannot_assert_another_tenant() -> None:
    """Whatever reached the attribute (a mapping made by mistake) loses to the configured tenant."""
    event = _federated("HeliosAD", **{TENANT_CLAIM: "boreas-wind"})
    details = _details(customize(event, PROVIDERS))
    assert details["idTokenGeneration"]["claimsToAddOrOverride"] == {TENANT_CLAIM: "helios-solar"}


def test_a_provider_with_no_tenant_gives_tokens_without_one() -> None:
    event = _federated("Unlisted-IdP", **{TENANT_CLAIM: "helios-solar"})
    details = _details(customize(event, PROVIDERS))
    # suppressed in both tokens: the API refuses a token without a tenant
    assert details == {
        "idTokenGeneration": {"claimsToSuppress": [TENANT_CLAIM]},
        "accessTokenGeneration": {"claimsToSuppress": [TENANT_CLAIM]},
    }
    assert _details(customize(_federated("HeliosAD"), {})) == details  # no provider configured at all


def test_a_pool_person_without_a_tenant_is_left_as_cognito_made_them() -> None:
    assert _details(customize(_event({"email": "orphan@example.com"}), PROVIDERS)) is None


def test_only_v2_events_are_answered() -> None:
    with pytest.raises(ValueError, match="V2_0"):
        customize(_event({TENANT_CLAIM: "helios-solar"}, version="1"), PROVIDERS)
    # V3_0 (the same request and response for people's tokens) is fine
    assert _details(customize(_event({TENANT_CLAIM: "helios-solar"}, version="3"), PROVIDERS)) is not None


def test_the_provider_is_the_primary_identity() -> None:
    two = [
        {"providerName": "Boreas-Okta", "providerType": "OIDC", "primary": "false"},
        {"providerName": "HeliosAD", "providerType": "SAML", "primary": "true"},
    ]
    assert federated_provider({"identities": json.dumps(two)}) == "HeliosAD"
    assert federated_provider({"identities": "[]"}) is None
    assert federated_provider({"email": "a@b.example"}) is None


def test_provider_tenants_come_from_json_text() -> None:
    assert provider_tenants(None) == {} and provider_tenants("") == {}
    assert provider_tenants(json.dumps(PROVIDERS)) == PROVIDERS
    for bad in ('["HeliosAD"]', '{"HeliosAD": 3}'):
        with pytest.raises(ValueError, match="provider name -> tenant id"):
            provider_tenants(bad)


def test_the_handler_reads_the_providers_from_its_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DCMMS_IDENTITY_PROVIDER_TENANTS", json.dumps(PROVIDERS))
    sys.modules.pop("functions.pretoken.handler", None)
    handler = importlib.import_module("functions.pretoken.handler")
    answer = handler.lambda_handler(_federated("Boreas-Okta", "OIDC"), None)
    assert _details(answer)["idTokenGeneration"]["claimsToAddOrOverride"] == {TENANT_CLAIM: "boreas-wind"}
    sys.modules.pop("functions.pretoken.handler", None)
