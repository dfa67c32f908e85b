"""Sites and assets: CRUD, hierarchy, referential guards."""

from __future__ import annotations

from tests.support.api import assert_problem


def test_site_lifecycle(api) -> None:
    created = api.post(
        "/api/v1/sites",
        {
            "name": "Tabernas",
            "kind": "solar",
            "capacity_mw": 75,
            "timezone": "Europe/Madrid",
            "location": {"latitude": 37.05, "longitude": -2.39},
        },
    )
    assert created.status_code == 201
    site = created.json()
    assert created.headers["location"] == f"/api/v1/sites/{site['id']}"
    assert site["tenant_id"] == api.get(f"/api/v1/sites/{site['id']}").json()["tenant_id"]
    got = api.get(f"/api/v1/sites/{site['id']}")
    assert got.headers["etag"] == '"v1"'
    patched = api.patch(f"/api/v1/sites/{site['id']}", {"capacity_mw": 80})
    assert patched.json()["capacity_mw"] == 80 and patched.json()["version"] == 2
    assert [s["id"] for s in api.get("/api/v1/sites").json()["items"]] == [site["id"]]
    assert api.delete(f"/api/v1/sites/{site['id']}").status_code == 204
    assert_problem(api.get(f"/api/v1/sites/{site['id']}"), 404)


def test_site_validation_names_fields(api) -> None:
    bad = api.post("/api/v1/sites", {"name": "", "kind": "nuclear", "capacity_mw": -1, "timezone": "Mars/Olympus"})
    body = assert_problem(bad, 422)
    assert {e["field"] for e in body["errors"]} == {"body.name", "body.kind", "body.capacity_mw", "body.timezone"}


def test_required_field_cannot_be_nulled_by_patch(api) -> None:
    site = api.site()
    assert_problem(api.patch(f"/api/v1/sites/{site['id']}", {"name": None}), 422, "body.name")


def test_asset_hierarchy_and_filters(api) -> None:
    site = api.site()
    other_site = api.site(name="Other")
    tx = api.asset(site["id"], name="TX-1", type="transformer")
    inv = api.asset(site["id"], name="INV-1", parent_id=tx["id"])
    api.asset(site["id"], name="CB-1", type="combiner", parent_id=inv["id"])
    api.asset(other_site["id"], name="INV-X")
    children = api.get("/api/v1/assets", parent_id=tx["id"]).json()["items"]
    assert [a["id"] for a in children] == [inv["id"]]
    on_site = api.get("/api/v1/assets", site_id=site["id"]).json()["items"]
    assert len(on_site) == 3
    inverters = api.get("/api/v1/assets", site_id=site["id"], type="inverter").json()["items"]
    assert [a["id"] for a in inverters] == [inv["id"]]
    # a parent on another site, a missing parent, and a cycle are refused and named
    assert_problem(
        api.post(
            "/api/v1/assets", {"site_id": other_site["id"], "name": "x", "type": "string", "parent_id": inv["id"]}
        ),
        422,
        "body.parent_id",
    )
    assert_problem(
        api.post("/api/v1/assets", {"site_id": site["id"], "name": "x", "type": "string", "parent_id": "ast_missing"}),
        422,
        "body.parent_id",
    )
    assert_problem(api.patch(f"/api/v1/assets/{tx['id']}", {"parent_id": inv["id"]}), 422, "body.parent_id")


def test_delete_refused_while_referenced(api) -> None:
    site = api.site()
    parent = api.asset(site["id"], name="TX", type="transformer")
    child = api.asset(site["id"], parent_id=parent["id"])
    wo = api.work_order(site["id"], asset_id=child["id"], status="open")
    assert_problem(api.delete(f"/api/v1/sites/{site['id']}"), 409)
    assert_problem(api.delete(f"/api/v1/assets/{parent['id']}"), 409)
    assert_problem(api.delete(f"/api/v1/assets/{child['id']}"), 409)
    # once the work order is cancelled the leaf can go, then its parent, then the site
    assert api.post(f"/api/v1/work-orders/{wo['id']}/transitions", {"to": "cancelled"}).status_code == 200
    assert api.delete(f"/api/v1/assets/{child['id']}").status_code == 204
    assert api.delete(f"/api/v1/assets/{parent['id']}").status_code == 204
    assert api.delete(f"/api/v1/sites/{site['id']}").status_code == 204
