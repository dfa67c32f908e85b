"""Authentication, roles and tenant isolation, for both credential kinds: API keys and people's Cognito tokens
(``client_for`` runs each test once per kind)."""

from __future__ import annotations

import jwt

from tests.support.api import ApiClient, assert_problem


def test_missing_key_is_401_problem(http) -> None:
    body = assert_problem(http.get("/api/v1/work-orders"), 401)
    assert "x-api-key" in body["detail"]


def test_unknown_key_is_401(http) -> None:
    assert_problem(ApiClient(http, "dcmms_not-a-real-key").get("/api/v1/sites"), 401)


def test_viewer_reads_but_cannot_write(api, tenant, client_for) -> None:
    site = api.site()
    viewer = client_for(tenant, "viewer")
    assert viewer.get(f"/api/v1/sites/{site['id']}").status_code == 200
    assert_problem(viewer.post("/api/v1/work-orders", {"site_id": site["id"], "title": "x", "type": "inspection"}), 403)
    assert_problem(viewer.patch(f"/api/v1/sites/{site['id']}", {"name": "renamed"}), 403)


def test_technician_works_orders_but_not_the_fleet(api, tenant, client_for) -> None:
    site = api.site()
    tech = client_for(tenant, "technician")
    assert_problem(tech.post("/api/v1/sites", {"name": "x", "kind": "solar", "capacity_mw": 1, "timezone": "UTC"}), 403)
    wo = tech.work_order(site["id"])
    if client_for.kind == "api-key":
        assert wo["created_by"].startswith("usr_technician")
    else:  # a person: their Cognito subject
        assert wo["created_by"] == jwt.decode(tech.token, options={"verify_signature": False})["sub"]


def test_other_tenants_objects_are_404_everywhere(api, other_tenant, client_for) -> None:
    # given objects of one tenant
    site = api.site()
    asset = api.asset(site["id"])
    wo = api.work_order(site["id"], asset_id=asset["id"])
    alert = api.alert(asset["id"])
    intruder = client_for(other_tenant, "admin")
    # when another tenant's admin reaches for them, then nothing is found and nothing changes
    for path in (
        f"/api/v1/sites/{site['id']}",
        f"/api/v1/assets/{asset['id']}",
        f"/api/v1/work-orders/{wo['id']}",
        f"/api/v1/alerts/{alert['id']}",
    ):
        assert_problem(intruder.get(path), 404)
        assert_problem(intruder.patch(path, {}), 404)
    assert_problem(intruder.delete(f"/api/v1/sites/{site['id']}"), 404)
    assert_problem(intruder.post(f"/api/v1/work-orders/{wo['id']}/transitions", {"to": "open"}), 404)
    assert_problem(intruder.post(f"/api/v1/alerts/{alert['id']}/acknowledge"), 404)
    # referencing a foreign site in a body does not work either
    assert_problem(
        intruder.post("/api/v1/work-orders", {"site_id": site["id"], "title": "x", "type": "inspection"}),
        422,
        "body.site_id",
    )
    assert intruder.get("/api/v1/work-orders").json()["items"] == []
    assert api.get(f"/api/v1/work-orders/{wo['id']}").json()["version"] == 1
