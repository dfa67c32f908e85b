"""API Gateway's request authorizer (dcmms.gateway.authorizer) on the real stack: keys from DynamoDB Local, people
from moto's Cognito pool (its JWKS), the people usage keys from moto's API Gateway. REQUEST events are shaped as
API Gateway sends them for the REST API's ``/api/v1/{proxy+}``; what API Gateway does with the answer (401 for
"Unauthorized", the usage plan of ``usageIdentifierKey``) is API Gateway's, asserted by tests/infra."""

from __future__ import annotations

import gzip
import json
import time
import uuid
from collections.abc import Iterator
from importlib import resources
from typing import Any

import boto3
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from dcmms.config import Settings, get_settings
from dcmms.domain.apikeys import hash_api_key
from dcmms.domain.model import Role, utcnow
from dcmms.gateway.authorizer import Authorizer, build
from dcmms.store.repositories import DirectoryRepository
from dcmms_dev.cognito import create_user, new_password, sign_in
from dcmms_dev.events import FakeLambdaContext
from tests.integration.conftest import person_token
from tests.support.handlers import import_handler

TIERS = ("free", "pro", "enterprise")
METHOD_ARN = "arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/live/GET/api/v1/sites"


@pytest.fixture(scope="module")
def people_keys(settings: Settings) -> dict[str, dict[str, str]]:
    """One gateway key per tier on moto's API Gateway, as the stacks create them: {tier: {id, value}}."""
    apigateway = boto3.client("apigateway", endpoint_url=settings.aws_endpoint_url, region_name=settings.aws_region)
    keys = {}
    for tier in TIERS:
        created = apigateway.create_api_key(name=f"dcmms-test-people-{tier}-{uuid.uuid4().hex[:6]}", enabled=True)
        keys[tier] = {"id": created["id"], "value": created["value"]}
    return keys


@pytest.fixture(scope="module")
def configured(settings: Settings, cognito_pool: tuple[str, str], people_keys) -> Settings:
    """The settings the stacks give the authorizer: the pool, its web client and the people usage keys' ids."""
    return settings.model_copy(
        update={
            "cognito_user_pool_id": cognito_pool[0],
            "cognito_client_id": cognito_pool[1],
            "people_usage_key_ids": json.dumps({tier: key["id"] for tier, key in people_keys.items()}),
        }
    )


@pytest.fixture(scope="module")
def authorizer(configured: Settings) -> Authorizer:
    return build(configured)


def _event(headers: dict[str, str]) -> dict[str, Any]:
    """A REST API REQUEST-authorizer event for GET /api/v1/sites."""
    return {
        "type": "REQUEST",
        "methodArn": METHOD_ARN,
        "resource": "/api/v1/{proxy+}",
        "path": "/api/v1/sites",
        "httpMethod": "GET",
        "headers": {"Accept": "application/json", "Host": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com", **headers},
        "multiValueHeaders": {"Accept": ["application/json"], **{k: [v] for k, v in headers.items()}},
        "queryStringParameters": {"limit": "5"},
        "multiValueQueryStringParameters": {"limit": ["5"]},
        "pathParameters": {"proxy": "sites"},
        "stageVariables": {},
        "requestContext": {
            "resourcePath": "/api/v1/{proxy+}",
            "httpMethod": "GET",
            "path": "/live/api/v1/sites",
            "accountId": "123456789012",
            "stage": "live",
            "apiId": "a1b2c3d4e5",
            "requestId": str(uuid.uuid4()),
            "identity": {"sourceIp": "203.0.113.7", "userAgent": "dcmms-tests"},
        },
    }


def _refused(authorizer: Authorizer, headers: dict[str, str]) -> None:
    with pytest.raises(Exception, match="^Unauthorized$") as refused:
        authorizer.decide(_event(headers))
    assert type(refused.value) is Exception  # the bare message API Gateway turns into 401


def _allowed(answer: dict[str, Any]) -> dict[str, Any]:
    (statement,) = answer["policyDocument"]["Statement"]
    assert statement == {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": METHOD_ARN}
    assert all(isinstance(v, str) for v in answer["context"].values())  # API Gateway takes strings, numbers, bools
    return answer["context"]


def test_a_valid_key_is_allowed_and_metered_as_itself(authorizer: Authorizer, tenant) -> None:
    key = tenant.keys["technician"]
    expected = DirectoryRepository().principal_for_key(key)
    assert expected is not None
    answer = authorizer.decide(_event({"X-Api-Key": key}))  # any case: headers are case-insensitive
    assert answer["usageIdentifierKey"] == key
    assert answer["principalId"] == expected.key_id
    assert _allowed(answer) == {
        "tenant_id": tenant.tenant.id,
        "user_id": expected.user_id,
        "role": "technician",
        "tier": expected.tier.value,
        "key_id": expected.key_id,
        "credential": "api-key",
    }


def test_a_signed_in_person_is_allowed_and_metered_under_their_tiers_people_key(
    authorizer: Authorizer, settings: Settings, cognito_pool, people_keys, tenant
) -> None:
    token = person_token(settings, cognito_pool, tenant.tenant.id, "viewer")
    sub = jwt.decode(token, options={"verify_signature": False})["sub"]
    for scheme in ("Bearer", "bearer"):
        answer = authorizer.decide(_event({"Authorization": f"{scheme} {token}"}))
        # a tenant without a plan of its own is on pro (dcmms.store: tenant_tier)
        assert answer["usageIdentifierKey"] == people_keys["pro"]["value"]
        assert answer["principalId"] == sub
        assert _allowed(answer) == {
            "tenant_id": tenant.tenant.id,
            "user_id": sub,
            "role": "viewer",
            "tier": "pro",
            "key_id": f"user:{sub}",
            "credential": "token",
        }


def test_a_key_wins_over_a_token_as_in_the_api(authorizer: Authorizer, settings, cognito_pool, tenant) -> None:
    token = person_token(settings, cognito_pool, tenant.tenant.id, "admin")
    answer = authorizer.decide(_event({"x-api-key": tenant.keys["viewer"], "authorization": f"Bearer {token}"}))
    assert answer["context"]["credential"] == "api-key" and answer["context"]["role"] == "viewer"
    # a wrong key is refused even beside a good token: the caller meant the key
    _refused(authorizer, {"x-api-key": "dcmms_not-a-key", "authorization": f"Bearer {token}"})


def _moto_key() -> Any:
    raw = resources.files("moto.cognitoidp").joinpath("resources/jwks-private.json.gz").read_bytes()
    return jwt.PyJWK(json.loads(gzip.decompress(raw))).key


def test_credentials_that_must_not_pass_are_unauthorized(
    authorizer: Authorizer, configured: Settings, settings: Settings, cognito_pool, tenant
) -> None:
    now = int(time.time())
    claims = {
        "iss": configured.cognito_issuer, "sub": "s-1", "aud": cognito_pool[1], "token_use": "id", "iat": now,
        "exp": now + 600, "custom:tenant_id": tenant.tenant.id, "cognito:groups": ["viewer"],
    }  # fmt: skip
    good = jwt.encode(claims, _moto_key(), algorithm="RS256", headers={"kid": "dummy"})
    assert authorizer.decide(_event({"authorization": f"Bearer {good}"}))["context"]["tenant_id"] == tenant.tenant.id
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    expired = claims | {"iat": now - 7200, "exp": now - 3600}
    # moto's pool issues access tokens without custom:tenant_id (no pre-token trigger there): no tenant, no entry
    email, password = f"viewer-{uuid.uuid4().hex[:8]}@{tenant.tenant.id}.example.com", new_password()
    create_user(settings, cognito_pool[0], tenant.tenant.id, Role.viewer, email, password)
    access_token = sign_in(settings, cognito_pool[1], email, password)["AccessToken"]
    refused = {
        "nothing at all": {},
        "an empty key": {"x-api-key": ""},
        "an unknown key": {"x-api-key": "dcmms_" + "x" * 43},
        "a forged token": {"authorization": "Bearer " + jwt.encode(claims, forger, algorithm="RS256", headers={"kid": "dummy"})},
        "an expired token": {"authorization": "Bearer " + jwt.encode(expired, _moto_key(), algorithm="RS256", headers={"kid": "dummy"})},
        "a token for another client": {"authorization": "Bearer " + jwt.encode(claims | {"aud": "other"}, _moto_key(), algorithm="RS256", headers={"kid": "dummy"})},
        "an access token without a tenant": {"authorization": f"Bearer {access_token}"},
        "not a JWT": {"authorization": "Bearer not-a-token"},
        "another scheme": {"authorization": "Basic YWRtaW46YWRtaW4="},
        "a bare scheme": {"authorization": "Bearer "},
    }  # fmt: skip
    for why, headers in refused.items():
        try:
            _refused(authorizer, headers)
        except AssertionError as exc:  # pragma: no cover - names the case that passed
            raise AssertionError(why) from exc


def test_a_revoked_key_is_unauthorized(authorizer: Authorizer, tenant) -> None:
    key = tenant.keys["supervisor"]
    DirectoryRepository().revoke_api_key(hash_api_key(key), utcnow(), "test")
    _refused(authorizer, {"x-api-key": key})


def test_a_key_revoked_while_in_use_is_refused_once_its_cached_record_expires(configured: Settings, tenant) -> None:
    """principal_cache_ttl_s bounds how long this process keeps a key's record (and so a revoked key's life)."""
    uncached = build(configured.model_copy(update={"principal_cache_ttl_s": 0.0}))
    key = tenant.keys["admin"]
    assert uncached.decide(_event({"x-api-key": key}))["usageIdentifierKey"] == key
    DirectoryRepository().revoke_api_key(hash_api_key(key), utcnow(), "test")
    _refused(uncached, {"x-api-key": key})


def test_a_person_without_a_people_key_for_their_tier_is_a_failure_not_a_401(
    configured: Settings, settings: Settings, cognito_pool, tenant
) -> None:
    """A deployment fault is API Gateway's AUTHORIZER_FAILURE (5xx), never a misleading 401."""
    misconfigured = build(configured.model_copy(update={"people_usage_key_ids": json.dumps({"free": "nope"})}))
    token = person_token(settings, cognito_pool, tenant.tenant.id, "technician")
    with pytest.raises(LookupError, match="no people usage key is configured for tier 'pro'"):
        misconfigured.decide(_event({"authorization": f"Bearer {token}"}))


def test_without_a_pool_only_keys_are_taken(settings: Settings, people_keys, tenant) -> None:
    keys_only = build(
        settings.model_copy(update={"people_usage_key_ids": json.dumps({"pro": people_keys["pro"]["id"]})})
    )
    assert keys_only.decide(_event({"x-api-key": tenant.keys["viewer"]}))["context"]["credential"] == "api-key"
    _refused(keys_only, {"authorization": "Bearer eyJhbGciOiJSUzI1NiJ9.e30.sig"})


@pytest.fixture(scope="module")
def handler(configured: Settings) -> Iterator[Any]:
    """functions.authorizer.handler imported as Lambda would: its settings from the environment at cold start."""
    env = pytest.MonkeyPatch()
    yield import_handler("functions.authorizer.handler", configured, env)
    env.undo()
    get_settings.cache_clear()


def test_the_lambda_handler_answers_api_gateway(handler, settings: Settings, cognito_pool, people_keys, tenant) -> None:
    key = tenant.keys["viewer"]
    assert handler(_event({"x-api-key": key}), FakeLambdaContext())["usageIdentifierKey"] == key
    token = person_token(settings, cognito_pool, tenant.tenant.id, "supervisor")
    answer = handler(_event({"Authorization": f"Bearer {token}"}), FakeLambdaContext())
    assert answer["usageIdentifierKey"] == people_keys["pro"]["value"] and answer["context"]["role"] == "supervisor"
    with pytest.raises(Exception, match="^Unauthorized$"):
        handler(_event({}), FakeLambdaContext())
