"""The management API on the real stack (moto's Cognito and API Gateway, DynamoDB Local, Redis): /me, people
invited into the user pool who then sign in with the role they were given, API keys shown once, listed without
their secret and refused once revoked or expired, every change audited."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from dcmms import runtime
from dcmms.api.app import create_app
from dcmms.api.auth import Authenticator
from dcmms.cache.credentials import CredentialCache
from dcmms.clients import aws_client
from dcmms.domain.apikeys import hash_api_key
from dcmms.domain.identity import KEY_PREFIX_CHARS
from dcmms_dev.cognito import first_sign_in, new_password, sign_in
from tests.support.api import PROBLEM, ApiClient


@pytest.fixture
def admin(http: TestClient, tenant) -> ApiClient:
    return ApiClient(http, tenant.keys["admin"])


def _invite(admin: ApiClient, tenant, role: str = "technician") -> tuple[dict, str]:
    email, temporary = f"new-{time.time_ns()}@{tenant.tenant.id}.example.com", new_password()
    r = admin.post(
        "/api/v1/users", {"email": email, "role": role, "name": "New Person", "temporary_password": temporary}
    )
    assert r.status_code == 201, r.text
    assert r.headers["location"] == f"/api/v1/users/{r.json()['id']}"
    return r.json(), temporary


def _signed_in(settings, cognito_pool, email: str, temporary: str) -> tuple[str, str]:
    """(ID token, the password they chose)."""
    password = new_password()
    return first_sign_in(settings, cognito_pool[1], email, temporary, password)["IdToken"], password


def test_me_names_the_caller_and_its_credential(client_for, tenant) -> None:
    me = client_for(tenant, "supervisor").get("/api/v1/me")
    assert me.status_code == 200, me.text
    body = me.json()
    assert body["tenant_id"] == tenant.tenant.id and body["role"] == "supervisor"
    assert body["credential"] == client_for.kind and body["tier"] in ("free", "pro", "enterprise")
    if client_for.kind == "token":
        assert body["key_id"] == f"user:{body['user_id']}"
    else:
        assert body["key_id"].startswith("key_")


@pytest.mark.parametrize("role", ["supervisor", "technician", "viewer"])
def test_only_admins_manage_people_and_keys(client_for, tenant, role: str) -> None:
    client = client_for(tenant, role)
    for method, path, body in (
        ("get", "/api/v1/users", None),
        ("post", "/api/v1/users", {"email": "x@example.com", "role": "viewer"}),
        ("get", "/api/v1/api-keys", None),
        ("post", "/api/v1/api-keys", {"name": "x", "role": "viewer"}),
        ("get", "/api/v1/audit", None),
    ):
        r = client.get(path) if method == "get" else client.post(path, body)
        assert r.status_code == 403, (path, r.text)
        assert r.headers["content-type"] == PROBLEM


def test_invited_person_signs_in_with_the_role_given(client_for, tenant, settings, cognito_pool, http) -> None:
    admin = client_for(tenant, "admin")
    user, temporary = _invite(admin, tenant, "supervisor")
    assert user["status"] == "FORCE_CHANGE_PASSWORD" and user["role"] == "supervisor" and user["enabled"] is True
    assert "temporary_password" not in user

    token, _ = _signed_in(settings, cognito_pool, user["email"], temporary)
    me = ApiClient(http, None, token).get("/api/v1/me").json()
    assert (me["user_id"], me["role"], me["credential"], me["email"]) == (
        user["id"],
        "supervisor",
        "token",
        user["email"],
    )
    assert admin.get(f"/api/v1/users/{user['id']}").json()["status"] == "CONFIRMED"
    listed = admin.get("/api/v1/users", limit=1000).json()["items"]
    assert user["id"] in {u["id"] for u in listed}

    audit = admin.get("/api/v1/audit").json()["items"]
    invited = next(e for e in audit if e["action"] == "user.invited" and e["target_id"] == user["id"])
    me_admin = admin.get("/api/v1/me").json()
    assert invited["actor"] == me_admin["user_id"] and invited["actor_key_id"] == me_admin["key_id"]
    assert datetime.fromisoformat(invited["at"]) > datetime.now(UTC) - timedelta(minutes=1)


def test_role_change_disable_and_delete_take_effect_on_held_tokens(admin, tenant, settings, cognito_pool, http) -> None:
    user, temporary = _invite(admin, tenant, "technician")
    token, password = _signed_in(settings, cognito_pool, user["email"], temporary)
    person = ApiClient(http, None, token)
    assert person.get("/api/v1/sites").status_code == 200

    r = admin.patch(f"/api/v1/users/{user['id']}", {"role": "viewer"})
    assert r.status_code == 200 and r.json()["role"] == "viewer"
    refused = person.get("/api/v1/sites")
    assert refused.status_code == 401 and "role has changed" in refused.json()["detail"]
    viewer = ApiClient(http, None, sign_in(settings, cognito_pool[1], user["email"], password)["IdToken"])
    assert viewer.get("/api/v1/me").json()["role"] == "viewer"
    assert (
        viewer.post("/api/v1/sites", {"name": "x", "kind": "solar", "capacity_mw": 1, "timezone": "UTC"}).status_code
        == 403
    )

    assert admin.patch(f"/api/v1/users/{user['id']}", {"enabled": False}).json()["enabled"] is False
    assert viewer.get("/api/v1/sites").status_code == 401
    with pytest.raises(Exception, match="NotAuthorized|disabled"):
        sign_in(settings, cognito_pool[1], user["email"], password)
    assert admin.patch(f"/api/v1/users/{user['id']}", {"enabled": True}).json()["enabled"] is True
    again = ApiClient(http, None, sign_in(settings, cognito_pool[1], user["email"], password)["IdToken"])
    assert again.get("/api/v1/sites").status_code == 200

    assert admin.delete(f"/api/v1/users/{user['id']}").status_code == 204
    assert again.get("/api/v1/sites").status_code == 401
    assert admin.get(f"/api/v1/users/{user['id']}").status_code == 404
    assert user["id"] not in {u["id"] for u in admin.get("/api/v1/users", limit=1000).json()["items"]}
    actions = [e["action"] for e in admin.get("/api/v1/audit").json()["items"] if e["target_id"] == user["id"]]
    assert actions == ["user.deleted", "user.enabled", "user.disabled", "user.role-changed", "user.invited"]


def test_people_are_the_tenants_own(admin, tenant, other_tenant, http) -> None:
    user, _ = _invite(admin, tenant)
    other = ApiClient(http, other_tenant.keys["admin"])
    assert other.get(f"/api/v1/users/{user['id']}").status_code == 404
    assert other.patch(f"/api/v1/users/{user['id']}", {"role": "admin"}).status_code == 404
    assert other.delete(f"/api/v1/users/{user['id']}").status_code == 404
    assert user["id"] not in {u["id"] for u in other.get("/api/v1/users", limit=1000).json()["items"]}


def test_admins_cannot_lock_themselves_out(tenant, settings, cognito_pool, http) -> None:
    admin = ApiClient(http, tenant.keys["admin"])
    user, temporary = _invite(admin, tenant, "admin")
    token, _ = _signed_in(settings, cognito_pool, user["email"], temporary)
    me = ApiClient(http, None, token)
    for body in ({"enabled": False}, {"role": "viewer"}):
        r = me.patch(f"/api/v1/users/{user['id']}", body)
        assert r.status_code == 409, r.text
    assert me.delete(f"/api/v1/users/{user['id']}").status_code == 409


def test_invalid_invites_name_the_field(admin) -> None:
    for body, field in (
        ({"email": "not-an-email", "role": "viewer"}, "body.email"),
        ({"email": "a@example.com", "role": "owner"}, "body.role"),
        ({"email": "a@example.com", "role": "viewer", "temporary_password": "short"}, "body.temporary_password"),
        ({"email": "a@example.com", "role": "viewer", "groups": ["admin"]}, "body.groups"),
    ):
        r = admin.post("/api/v1/users", body)
        assert r.status_code == 422, r.text
        assert field in {e["field"] for e in r.json()["errors"]}, r.json()


def test_inviting_an_email_twice_is_a_conflict(admin, tenant) -> None:
    user, _ = _invite(admin, tenant)
    again = admin.post("/api/v1/users", {"email": user["email"], "role": "viewer"})
    assert again.status_code == 409 and again.headers["content-type"] == PROBLEM


def test_api_key_shown_once_listed_without_secret_and_revoked(client_for, tenant, http, settings) -> None:
    admin = client_for(tenant, "admin")
    r = admin.post("/api/v1/api-keys", {"name": "SCADA bridge", "role": "technician"})
    assert r.status_code == 201, r.text
    issued = r.json()
    raw = issued["key"]
    assert issued["prefix"] == raw[:KEY_PREFIX_CHARS] and issued["role"] == "technician"
    assert r.headers["location"] == f"/api/v1/api-keys/{issued['id']}"

    integration = ApiClient(http, raw)
    me = integration.get("/api/v1/me").json()
    assert (me["role"], me["credential"], me["key_id"]) == ("technician", "api-key", issued["id"])

    listing = admin.get("/api/v1/api-keys", limit=1000)
    assert raw not in listing.text and hash_api_key(raw) not in listing.text
    listed = next(k for k in listing.json()["items"] if k["id"] == issued["id"])
    assert "key" not in listed and listed["name"] == "SCADA bridge" and listed["revoked"] is False
    assert datetime.fromisoformat(listed["last_used_at"]) > datetime.now(UTC) - timedelta(minutes=1)

    assert admin.delete(f"/api/v1/api-keys/{issued['id']}").status_code == 204
    refused = integration.get("/api/v1/me")
    assert refused.status_code == 401 and refused.headers["content-type"] == PROBLEM
    assert admin.delete(f"/api/v1/api-keys/{issued['id']}").status_code == 204  # already revoked: no change
    revoked = next(k for k in admin.get("/api/v1/api-keys", limit=1000).json()["items"] if k["id"] == issued["id"])
    assert revoked["revoked"] is True and revoked["revoked_by"] == admin.get("/api/v1/me").json()["user_id"]
    actions = [e["action"] for e in admin.get("/api/v1/audit").json()["items"] if e["target_id"] == issued["id"]]
    assert actions == ["api-key.revoked", "api-key.created"]


def test_revoked_key_is_refused_by_another_process_within_the_bound(admin, settings) -> None:
    """Another execution environment that resolved the key keeps it at most 30 s after the revocation dropped
    the Redis entry (its process cache's bound); after that it is refused."""
    issued = admin.post("/api/v1/api-keys", {"name": "elsewhere", "role": "viewer"}).json()
    now = [1000.0]
    cache = CredentialCache(runtime.resilient_redis(settings), settings.principal_cache_ttl_s, clock=lambda: now[0])
    elsewhere = Authenticator(
        settings.principal_cache_ttl_s, lambda: runtime.store_repositories(settings).directory, credentials=cache
    )
    assert elsewhere.authenticate(issued["key"]).key_id == issued["id"]
    assert admin.delete(f"/api/v1/api-keys/{issued['id']}").status_code == 204
    assert elsewhere.authenticate(issued["key"]).key_id == issued["id"]  # its own cache, within the bound
    now[0] += 30.01
    with pytest.raises(Exception, match="not valid"):
        elsewhere.authenticate(issued["key"])


def test_expired_keys_are_refused(admin, http) -> None:
    past = admin.post("/api/v1/api-keys", {"name": "x", "role": "viewer", "expires_at": "2020-01-01T00:00:00Z"})
    assert past.status_code == 422 and past.json()["errors"][0]["field"] == "body.expires_at"
    naive = admin.post("/api/v1/api-keys", {"name": "x", "role": "viewer", "expires_at": "2099-01-01T00:00:00"})
    assert naive.status_code == 422 and naive.json()["errors"][0]["field"] == "body.expires_at"

    soon = (datetime.now(UTC) + timedelta(seconds=1.5)).isoformat()
    issued = admin.post("/api/v1/api-keys", {"name": "short-lived", "role": "viewer", "expires_at": soon}).json()
    key = ApiClient(http, issued["key"])
    assert key.get("/api/v1/sites").status_code == 200
    time.sleep(1.6)
    refused = key.get("/api/v1/sites")  # the cached principal carries the expiry
    assert refused.status_code == 401 and "expired" in refused.json()["detail"]


def test_keys_are_the_tenants_own(admin, other_tenant, http) -> None:
    issued = admin.post("/api/v1/api-keys", {"name": "mine", "role": "viewer"}).json()
    other = ApiClient(http, other_tenant.keys["admin"])
    assert other.delete(f"/api/v1/api-keys/{issued['id']}").status_code == 404
    assert issued["id"] not in {k["id"] for k in other.get("/api/v1/api-keys", limit=1000).json()["items"]}
    assert ApiClient(http, issued["key"]).get("/api/v1/me").status_code == 200


def test_issued_keys_are_imported_into_the_tiers_usage_plan(settings, cognito_pool, tenant) -> None:
    """With a gateway (settings.usage_plan_ids, as the stacks set them), each issued key becomes an API Gateway key
    in its tier's usage plan, which the request authorizer names; revoking it deletes it there."""
    apigw = aws_client("apigateway", settings)
    api = apigw.create_rest_api(name=f"dcmms-{time.time_ns()}")["id"]
    plans = {t: apigw.create_usage_plan(name=f"{api}-{t}")["id"] for t in ("free", "pro", "enterprise")}
    gated = settings.model_copy(
        update={
            "usage_plan_ids": json.dumps(plans),
            "cognito_user_pool_id": cognito_pool[0],
            "cognito_client_id": cognito_pool[1],
        }
    )
    with TestClient(create_app(gated), raise_server_exceptions=False) as http:
        admin = ApiClient(http, tenant.keys["admin"])
        issued = admin.post("/api/v1/api-keys", {"name": "gated", "role": "viewer"}).json()
        tier = ApiClient(http, issued["key"]).get("/api/v1/me").json()["tier"]  # the tenant's, which the key took
        in_plan = apigw.get_usage_plan_keys(usagePlanId=plans[tier])["items"]
        assert [k["value"] for k in in_plan if k["name"] == issued["id"]] == [issued["key"]]
        assert admin.delete(f"/api/v1/api-keys/{issued['id']}").status_code == 204
        assert not [k for k in apigw.get_usage_plan_keys(usagePlanId=plans[tier])["items"] if k["name"] == issued["id"]]


def test_everyone_of_the_tenant_sees_its_people_to_assign_work(client_for, tenant, other_tenant, http) -> None:
    admin = ApiClient(http, tenant.keys["admin"])
    user, _ = _invite(admin, tenant, "technician")
    people = client_for(tenant, "viewer").get("/api/v1/people", limit=1000)
    assert people.status_code == 200, people.text
    listed = {p["id"]: p for p in people.json()["items"]}
    assert listed[user["id"]] == {
        "id": user["id"],
        "name": "New Person",
        "email": user["email"],
        "role": "technician",
        "enabled": True,
    }
    assert all(set(p) == {"id", "name", "email", "role", "enabled"} for p in listed.values())
    others = ApiClient(http, other_tenant.keys["viewer"]).get("/api/v1/people", limit=1000).json()["items"]
    assert user["id"] not in {p["id"] for p in others}
    admin.delete(f"/api/v1/users/{user['id']}")
    after = client_for(tenant, "viewer").get("/api/v1/people", limit=1000).json()["items"]
    assert user["id"] not in {p["id"] for p in after}
