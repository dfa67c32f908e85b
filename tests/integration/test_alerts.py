"""Alerts raised by external monitoring: create, acknowledge, resolve, list."""

from __future__ import annotations

import jwt

from tests.support.api import assert_problem


def test_alert_lifecycle(api, tenant, client_for) -> None:
    site = api.site()
    asset = api.asset(site["id"])
    alert = api.alert(asset["id"], severity="critical", rule_id="scada-1")
    assert alert["status"] == "active" and alert["site_id"] == site["id"]
    tech = client_for(tenant, "technician")
    acked = tech.post(f"/api/v1/alerts/{alert['id']}/acknowledge", {"note": "on my way"})
    assert acked.status_code == 200
    assert acked.json()["acknowledge_note"] == "on my way"
    if client_for.kind == "api-key":
        assert acked.json()["acknowledged_by"].startswith("usr_technician")
    else:  # a person: their Cognito subject
        assert acked.json()["acknowledged_by"] == jwt.decode(tech.token, options={"verify_signature": False})["sub"]
    assert_problem(tech.post(f"/api/v1/alerts/{alert['id']}/acknowledge"), 409)
    resolved = tech.post(f"/api/v1/alerts/{alert['id']}/resolve").json()
    assert resolved["status"] == "resolved" and resolved["resolved_at"] and resolved["version"] == 3
    assert_problem(tech.post(f"/api/v1/alerts/{alert['id']}/resolve"), 409)


def test_alert_lists_by_site_status_and_asset(api) -> None:
    site = api.site()
    a1, a2 = api.asset(site["id"], name="A1"), api.asset(site["id"], name="A2")
    first = api.alert(a1["id"])
    second = api.alert(a2["id"], severity="warning")
    api.post(f"/api/v1/alerts/{first['id']}/resolve")
    active = api.get("/api/v1/alerts", site_id=site["id"], status="active").json()["items"]
    assert [a["id"] for a in active] == [second["id"]]
    both = api.get("/api/v1/alerts", site_id=site["id"], status=["active", "resolved"]).json()["items"]
    assert [a["id"] for a in both] == [second["id"], first["id"]]  # newest first
    assert [a["id"] for a in api.get("/api/v1/alerts", asset_id=a1["id"]).json()["items"]] == [first["id"]]
    assert [a["id"] for a in api.get("/api/v1/alerts", status="resolved").json()["items"]] == [first["id"]]
    assert [a["id"] for a in api.get("/api/v1/alerts", severity="warning").json()["items"]] == [second["id"]]


def test_alert_for_unknown_asset_is_422(api) -> None:
    assert_problem(
        api.post("/api/v1/alerts", {"asset_id": "ast_nope", "severity": "minor", "message": "x"}), 422, "body.asset_id"
    )
