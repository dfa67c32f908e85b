"""People's credentials: Cognito ID tokens from the user pool on moto's server (as the local stack creates it),
verified against the pool's JWKS and mapped to the same principal an API key gives; every token that should not
pass is a 401 problem. Forged, expired, wrong-audience, wrong-issuer and tenant-less tokens are built here:
signed with moto's own pool key (its private JWKS ships with moto) where the signature must verify, and with a
key of our own where it must not."""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Iterator
from importlib import resources
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient

from dcmms.api.app import create_app
from dcmms.config import Settings
from dcmms.domain.model import Role
from dcmms_dev.cognito import create_pool, create_user, new_password, sign_in
from tests.support.api import ApiClient, assert_problem


@pytest.fixture(scope="module")
def pool(settings: Settings) -> dict[str, Any]:
    pool_id, client_id = create_pool(settings)
    return {"pool_id": pool_id, "client_id": client_id}


@pytest.fixture(scope="module")
def people_http(settings: Settings, pool: dict[str, Any], router) -> Iterator[TestClient]:
    """The API with the pool configured (its JWKS read from moto's server, as `make run` does)."""
    configured = settings.model_copy(
        update={"cognito_user_pool_id": pool["pool_id"], "cognito_client_id": pool["client_id"]}
    )
    with TestClient(create_app(configured), raise_server_exceptions=False) as client:
        yield client


def _person(settings: Settings, pool: dict[str, Any], tenant_id: str, role: Role) -> str:
    """A user of ``tenant_id`` in ``role``'s group, signed in: their ID token."""
    email, password = f"{role.value}-{time.monotonic_ns()}@{tenant_id}.example.com", new_password()
    create_user(settings, pool["pool_id"], tenant_id, role, email, password)
    return sign_in(settings, pool["client_id"], email, password)["IdToken"]


def _bearer(http: TestClient, token: str) -> ApiClient:
    client = ApiClient(http, None)
    original = client._headers
    client._headers = lambda extra: original({"Authorization": f"Bearer {token}", **(extra or {})})  # type: ignore[method-assign]
    return client


def _moto_key() -> dict[str, Any]:
    """The private key moto signs its pools' tokens with (what a forger does not have)."""
    raw = resources.files("moto.cognitoidp").joinpath("resources/jwks-private.json.gz").read_bytes()
    return json.loads(gzip.decompress(raw))


def _signed(claims: dict[str, Any], key: Any, kid: str = "dummy") -> str:
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


def test_a_signed_in_person_acts_within_their_tenant_and_role(
    settings: Settings, pool, people_http, api, tenant, other_tenant
) -> None:
    site = api.site(name="People's Site")  # made with the admin's API key
    admin = _bearer(people_http, _person(settings, pool, tenant.tenant.id, Role.admin))
    viewer = _bearer(people_http, _person(settings, pool, tenant.tenant.id, Role.viewer))
    stranger = _bearer(people_http, _person(settings, pool, other_tenant.tenant.id, Role.admin))

    seen = admin.get(f"/api/v1/sites/{site['id']}")
    assert seen.status_code == 200, seen.text
    created = admin.post("/api/v1/work-orders", {"site_id": site["id"], "title": "Token work", "type": "inspection",
                                                 "priority": "low"})  # fmt: skip
    assert created.status_code == 201, created.text
    assert created.json()["created_by"] != "" and created.json()["tenant_id"] == tenant.tenant.id
    assert viewer.get(f"/api/v1/work-orders/{created.json()['id']}").status_code == 200
    assert_problem(viewer.post("/api/v1/work-orders", {"site_id": site["id"], "title": "x", "type": "inspection",
                                                       "priority": "low"}), 403)  # fmt: skip
    assert_problem(stranger.get(f"/api/v1/sites/{site['id']}"), 404)  # another tenant's: 404, as with keys
    # per person, not per key: the limits name the user
    assert created.headers.get("RateLimit-Policy") or created.headers.get("ratelimit-policy")


def test_tokens_that_must_not_pass_are_401(settings: Settings, pool, people_http, tenant) -> None:
    issuer = settings.model_copy(update={"cognito_user_pool_id": pool["pool_id"]}).cognito_issuer
    now = int(time.time())
    good = {
        "iss": issuer, "sub": "s-1", "aud": pool["client_id"], "token_use": "id", "iat": now, "exp": now + 600,
        "custom:tenant_id": tenant.tenant.id, "cognito:groups": ["viewer"],
    }  # fmt: skip
    moto_key = jwt.PyJWK(_moto_key()).key
    # the control: a token built like Cognito's, signed with the pool's key, passes
    assert _bearer(people_http, _signed(good, moto_key)).get("/api/v1/sites").status_code == 200
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    refused = {
        "forged (another key, the pool's key id)": _signed(good, forger),
        "an unknown key id": _signed(good, forger, kid="rotated-away"),
        "expired": _signed(good | {"iat": now - 7200, "exp": now - 3600}, moto_key),
        "for another client": _signed(good | {"aud": "someone-else"}, moto_key),
        "from another pool": _signed(good | {"iss": issuer + "x"}, moto_key),
        "without a tenant": _signed({k: v for k, v in good.items() if k != "custom:tenant_id"}, moto_key),
        "in no role group": _signed(good | {"cognito:groups": ["guests"]}, moto_key),
        "not an id or access token": _signed(good | {"token_use": "refresh"}, moto_key),
        "unsigned": jwt.encode(good, None, algorithm="none"),
        "not a JWT": "not-a-token",
    }
    for why, token in refused.items():
        answer = _bearer(people_http, token).get("/api/v1/sites")
        assert answer.status_code == 401, (why, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json"), why


def test_an_access_token_without_a_tenant_is_refused(settings: Settings, pool, people_http, tenant) -> None:
    email, password = f"tech-{time.monotonic_ns()}@{tenant.tenant.id}.example.com", new_password()
    create_user(settings, pool["pool_id"], tenant.tenant.id, Role.technician, email, password)
    tokens = sign_in(settings, pool["client_id"], email, password)
    assert _bearer(people_http, tokens["IdToken"]).get("/api/v1/sites").status_code == 200
    answer = _bearer(people_http, tokens["AccessToken"]).get("/api/v1/sites")
    assert_problem(answer, 401)
    assert "tenant" in answer.json()["detail"]


def test_without_a_pool_only_keys_are_taken(settings: Settings, router) -> None:
    with TestClient(create_app(settings), raise_server_exceptions=False) as keys_only:
        answer = _bearer(keys_only, "eyJhbGciOiJSUzI1NiJ9.e30.sig").get("/api/v1/sites")
    assert_problem(answer, 401)
    assert "API keys only" in answer.json()["detail"]
