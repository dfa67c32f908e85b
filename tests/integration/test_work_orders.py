"""Work orders: lists and pagination over the indexes, transitions, optimistic concurrency."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support.api import assert_problem

RANK = {"low": 1, "medium": 2, "high": 3, "critical": 4}


def test_create_returns_location_and_etag(api) -> None:
    site = api.site()
    response = api.post(
        "/api/v1/work-orders",
        {
            "site_id": site["id"],
            "title": "Replace fuse",
            "type": "corrective",
            "priority": "high",
            "checklist": [{"item": "LOTO"}],
            "due_at": "2026-12-01T10:00:00Z",
        },
    )
    assert response.status_code == 201
    wo = response.json()
    assert response.headers["location"] == f"/api/v1/work-orders/{wo['id']}"
    assert response.headers["etag"] == '"v1"'
    assert wo["status"] == "draft" and wo["version"] == 1 and wo["checklist"] == [{"item": "LOTO", "done": False}]


def test_site_status_listing_orders_by_priority_then_newest(api) -> None:
    site = api.site()
    made = [
        api.work_order(site["id"], priority=p, status="open") for p in ["low", "critical", "medium", "critical", "high"]
    ]
    api.work_order(site["id"], priority="critical")  # a draft: filtered out by status
    items = api.get("/api/v1/work-orders", site_id=site["id"], status="open").json()["items"]
    assert len(items) == 5
    keys = [(RANK[i["priority"]], i["created_at"]) for i in items]
    assert keys == sorted(keys, reverse=True)
    assert {i["id"] for i in items} == {w["id"] for w in made}


def test_repeated_status_filter_merges_partitions_and_pages_without_gaps(api) -> None:
    site = api.site()
    wanted = set()
    for n in range(14):
        wo = api.work_order(site["id"], priority=["low", "high"][n % 2], status="open")
        if n % 3 == 0:
            api.post(f"/api/v1/work-orders/{wo['id']}/transitions", {"to": "in_progress"})
        wanted.add(wo["id"])
    api.work_order(site["id"])  # draft, not wanted
    seen, cursor, pages = [], None, 0
    while True:
        params = {"site_id": site["id"], "status": ["open", "in_progress"], "limit": 4}
        if cursor:
            params["cursor"] = cursor
        body = api.get("/api/v1/work-orders", **params).json()
        seen += [i["id"] for i in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 4 and len(seen) == len(set(seen)) == 14 and set(seen) == wanted


@pytest.mark.parametrize(
    "filters",
    [
        {"assigned_to": "usr_alice", "status": "open"},
        {"assigned_to": "usr_alice"},
        {"priority": "critical"},
        {"type": "emergency"},
        {"status": "draft"},
    ],
)
def test_filters_across_indexes(api, filters) -> None:
    site = api.site()
    asset = api.asset(site["id"])
    api.work_order(site["id"], assigned_to="usr_alice", status="open", priority="critical", type="emergency")
    api.work_order(site["id"], assigned_to="usr_bob", status="open", priority="low", asset_id=asset["id"])
    api.work_order(site["id"], priority="medium")
    items = api.get("/api/v1/work-orders", **filters).json()["items"]
    assert items, filters
    for item in items:
        for field, value in filters.items():
            assert item[field] == value


def test_assignee_queue_and_asset_listing(api) -> None:
    site = api.site()
    asset = api.asset(site["id"])
    queued = api.work_order(site["id"], assigned_to="usr_carol", status="open", asset_id=asset["id"])
    done = api.work_order(site["id"], assigned_to="usr_carol", status="open")
    for to in ("in_progress", "completed"):
        api.post(f"/api/v1/work-orders/{done['id']}/transitions", {"to": to})
    queue = api.get("/api/v1/work-orders", assigned_to="usr_carol", status=["open", "in_progress"]).json()["items"]
    assert [i["id"] for i in queue] == [queued["id"]]
    everything = api.get("/api/v1/work-orders", assigned_to="usr_carol").json()["items"]
    assert {i["id"] for i in everything} == {queued["id"], done["id"]}
    assert [i["id"] for i in api.get("/api/v1/work-orders", asset_id=asset["id"]).json()["items"]] == [queued["id"]]


def test_limit_bounds_and_bad_cursor(api) -> None:
    assert_problem(api.get("/api/v1/work-orders", limit=1001), 422, "query.limit")
    assert_problem(api.get("/api/v1/work-orders", limit=0), 422, "query.limit")
    assert_problem(api.get("/api/v1/work-orders", cursor="not-a-cursor"), 422, "query.cursor")
    assert_problem(api.get("/api/v1/work-orders", status="finished"), 422, "query.status.0")
    assert api.get("/api/v1/work-orders", limit=1000).status_code == 200


def test_transitions_follow_the_state_machine(api) -> None:
    site = api.site()
    wo = api.work_order(site["id"])
    path = f"/api/v1/work-orders/{wo['id']}/transitions"
    for to in ("open", "in_progress", "on_hold", "in_progress", "completed", "in_progress", "completed", "closed"):
        response = api.post(path, {"to": to, "note": f"now {to}"})
        assert response.status_code == 200, response.text
    final = response.json()
    assert final["status"] == "closed" and final["version"] == 9 and final["completed_at"]
    assert [h["to"] for h in final["history"]][-1] == "closed" and final["history"][0]["note"] == "now open"
    refused = assert_problem(api.post(path, {"to": "open"}), 409)
    assert refused["allowed"] == [] and "terminal" in refused["detail"]


def test_illegal_transition_names_the_allowed_ones(api) -> None:
    wo = api.work_order(api.site()["id"])
    body = assert_problem(api.post(f"/api/v1/work-orders/{wo['id']}/transitions", {"to": "completed"}), 409)
    assert body["allowed"] == ["open", "cancelled"]
    assert "open" in body["detail"] and "cancelled" in body["detail"]


def test_status_is_not_patchable(api) -> None:
    wo = api.work_order(api.site()["id"])
    assert_problem(api.patch(f"/api/v1/work-orders/{wo['id']}", {"status": "closed"}), 422, "body.status")


def test_stale_if_match_is_412_and_current_if_match_passes(api) -> None:
    wo = api.work_order(api.site()["id"])
    path = f"/api/v1/work-orders/{wo['id']}"
    etag = api.get(path).headers["etag"]
    assert api.patch(path, {"title": "first"}, headers={"If-Match": etag}).status_code == 200
    body = assert_problem(api.patch(path, {"title": "second"}, headers={"If-Match": etag}), 412)
    assert body["current_version"] == 2
    assert_problem(api.post(f"{path}/transitions", {"to": "open"}, headers={"If-Match": etag}), 412)
    fresh = api.get(path).headers["etag"]
    assert api.patch(path, {"title": "second"}, headers={"If-Match": fresh}).json()["title"] == "second"


def test_if_none_match_revalidates(api) -> None:
    wo = api.work_order(api.site()["id"])
    first = api.get(f"/api/v1/work-orders/{wo['id']}")
    again = api.get(f"/api/v1/work-orders/{wo['id']}", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


def test_concurrent_updates_never_lose_a_write(api) -> None:
    # given one work order and eight writers, each changing a different field at the same time
    wo = api.work_order(api.site()["id"])
    path = f"/api/v1/work-orders/{wo['id']}"
    changes = [
        {"custom_fields": {"k": 1}},
        {"title": "new title"},
        {"priority": "critical"},
        {"assigned_to": "usr_dan"},
        {"description": "details"},
        {"type": "corrective"},
        {"due_at": "2027-01-01T00:00:00Z"},
        {"checklist": [{"item": "done", "done": True}]},
    ]
    # when they all PATCH without If-Match
    with ThreadPoolExecutor(len(changes)) as pool:
        statuses = list(pool.map(lambda c: api.patch(path, c).status_code, changes))
    # then every write landed, each as its own version
    assert statuses == [200] * len(changes)
    final = api.get(path).json()
    assert final["version"] == 1 + len(changes)
    assert (final["custom_fields"], final["title"], final["priority"], final["assigned_to"]) == (
        {"k": 1},
        "new title",
        "critical",
        "usr_dan",
    )
    assert final["description"] == "details" and final["type"] == "corrective" and final["checklist"][0]["done"]


def test_work_order_from_alert_links_back(api) -> None:
    site = api.site()
    asset = api.asset(site["id"])
    alert = api.alert(asset["id"])
    wo = api.work_order(site["id"], asset_id=asset["id"], source_alert_id=alert["id"], type="corrective")
    assert api.get(f"/api/v1/alerts/{alert['id']}").json()["work_order_id"] == wo["id"]
    assert_problem(
        api.post(
            "/api/v1/work-orders",
            {"site_id": site["id"], "title": "x", "type": "corrective", "source_alert_id": "alr_missing"},
        ),
        422,
        "body.source_alert_id",
    )
