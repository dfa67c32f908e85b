"""GET /api/v1/search over the read model, fed by the real projector through DynamoDB Local's streams."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.support.api import ApiClient, assert_problem
from tests.support.waiting import eventually

pytestmark = pytest.mark.usefixtures("streams_poller")


def _search(api: ApiClient, **params: Any) -> dict[str, Any]:
    response = api.get("/api/v1/search", **params)
    assert response.status_code == 200, response.text
    return response.json()


def _found(api: ApiClient, item_id: str, **params: Any) -> dict[str, Any] | None:
    """The hit for ``item_id`` once the projection has it (bounded: the projection lag)."""

    def probe() -> dict[str, Any] | None:
        return next((h for h in _search(api, **params)["items"] if h["id"] == item_id), None)

    return eventually(probe, 20.0, 0.2)


@pytest.fixture
def fleet(api: ApiClient) -> dict[str, Any]:
    site = api.site(name="Tabernas Solar Park")
    inverter = api.asset(site["id"], name="INV-03-12", serial="SC25-0042", manufacturer="SMA", model="Sunny Central")
    tracker = api.asset(site["id"], name="TRK-01", type="tracker")
    fault = api.work_order(
        site["id"],
        title="Inverter fault on string B7",
        description="Ground fault alarm repeated after the storm; check insulation resistance.",
        priority="high",
        asset_id=inverter["id"],
    )
    cleaning = api.work_order(site["id"], title="Module cleaning", description="Quarterly washing of row 12")
    return {"site": site, "inverter": inverter, "tracker": tracker, "fault": fault, "cleaning": cleaning}


def test_a_new_work_order_is_found_within_the_projection_lag(api: ApiClient, fleet) -> None:
    hit = _found(api, fleet["fault"]["id"], q="inverter fault")
    assert hit is not None, "the work order never appeared in search"
    assert hit["type"] == "work_order" and hit["title"] == "Inverter fault on string B7"
    assert hit["href"] == f"/api/v1/work-orders/{fleet['fault']['id']}" and hit["site_id"] == fleet["site"]["id"]
    assert "<mark>" in hit["snippet"] and hit["rank"] > 0
    assert api.get(hit["href"]).status_code == 200


def test_stemming_partial_identifiers_and_typos_match(api: ApiClient, fleet) -> None:
    assert _found(api, fleet["inverter"]["id"], q="INV-03") is not None  # part of an identifier
    only_work = _search(api, q="INV-03", type="work_order")["items"]  # the type filter holds
    assert all(h["type"] == "work_order" for h in only_work) and fleet["inverter"]["id"] not in {
        h["id"] for h in only_work
    }
    assert _found(api, fleet["fault"]["id"], q="invertr") is not None  # a typo
    assert _found(api, fleet["fault"]["id"], q="faults") is not None  # another form of the word
    assert _found(api, fleet["inverter"]["id"], q="SC25-0042") is not None  # serial
    assert _found(api, fleet["inverter"]["id"], q="sunny central") is not None  # model


def test_title_outranks_description_and_filters_apply(api: ApiClient, fleet) -> None:
    eventually(lambda: _found(api, fleet["cleaning"]["id"], q="cleaning"))
    hits = _search(api, q="fault", type="work_order")["items"]
    assert [h["id"] for h in hits][:1] == [fleet["fault"]["id"]]
    assert _search(api, q="cleaning", status="closed")["items"] == []
    assert [h["id"] for h in _search(api, q="cleaning", status="draft")["items"]] == [fleet["cleaning"]["id"]]
    assert _search(api, q="cleaning", site_id="no-such-site")["items"] == []
    sites = _search(api, q="tabernas", type="site")["items"]
    assert [h["id"] for h in sites] == [fleet["site"]["id"]] and sites[0]["name"] == "Tabernas Solar Park"


def test_pages_follow_the_cursor_without_repeats(api: ApiClient) -> None:
    site = api.site(name="Paging")
    made = {api.work_order(site["id"], title=f"Torque check bay {n}")["id"] for n in range(7)}
    eventually(lambda: len(_search(api, q="torque", limit=10)["items"]) == 7)
    seen: list[str] = []
    page = _search(api, q="torque", limit=3)
    while True:
        seen += [h["id"] for h in page["items"]]
        if page["next_cursor"] is None:
            break
        page = _search(api, q="torque", limit=3, cursor=page["next_cursor"])
    assert len(seen) == len(set(seen)) == 7 and set(seen) == made
    ranks = [h["rank"] for h in _search(api, q="torque", limit=10)["items"]]
    assert ranks == sorted(ranks, reverse=True)


def test_search_is_scoped_to_the_tenant(api: ApiClient, http, other_tenant, fleet) -> None:
    assert _found(api, fleet["fault"]["id"], q="insulation") is not None
    other = ApiClient(http, other_tenant.keys["admin"])
    assert _search(other, q="insulation resistance")["items"] == []


def test_a_deleted_asset_leaves_the_results(api: ApiClient) -> None:
    site = api.site()
    asset = api.asset(site["id"], name="PYRANO-77", type="weather_station")
    assert _found(api, asset["id"], q="PYRANO-77") is not None
    assert api.delete(f"/api/v1/assets/{asset['id']}").status_code == 204

    def gone() -> bool:
        return all(h["id"] != asset["id"] for h in _search(api, q="PYRANO-77")["items"])

    assert eventually(gone, 20.0, 0.2)


def test_snippets_are_escaped(api: ApiClient) -> None:
    site = api.site()
    wo = api.work_order(site["id"], title="Fuse <script>alert(1)</script> blown")
    hit = _found(api, wo["id"], q="fuse blown")
    assert hit is not None and "<script" not in hit["snippet"] and "</script" not in hit["snippet"]
    assert hit["snippet"].replace("<mark>", "").replace("</mark>", "").count("<") == 0  # only our own markup


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "query.q"),
        ({"q": ""}, "query.q"),
        ({"q": "   "}, "query.q"),
        ({"q": "x" * 201}, "query.q"),
        ({"q": "pump", "limit": 1001}, "query.limit"),
        ({"q": "pump", "type": "invoice"}, "query.type.0"),
        ({"q": "pump", "cursor": "not-a-cursor"}, "query.cursor"),
    ],
)
def test_bad_requests_are_422_naming_the_field(api: ApiClient, params: dict[str, Any], field: str) -> None:
    assert_problem(api.get("/api/v1/search", **params), 422, field)


def test_a_cursor_belongs_to_its_query(api: ApiClient) -> None:
    site = api.site()
    for n in range(3):
        api.work_order(site["id"], title=f"Gearbox oil sample {n}")
    eventually(lambda: len(_search(api, q="gearbox")["items"]) == 3)
    cursor = _search(api, q="gearbox", limit=1)["next_cursor"]
    assert cursor is not None
    assert_problem(api.get("/api/v1/search", q="oil", cursor=cursor), 422, "query.cursor")


def test_searching_needs_a_key(http) -> None:
    assert_problem(http.get("/api/v1/search", params={"q": "inverter"}), 401)


def test_the_search_rate_limit_applies_per_user(api: ApiClient) -> None:
    """100 a minute: a burst of 100, then one more every 0.6 s (GCRA), so how many pass depends on how
    long the burst took; at least 100 pass, then a 429."""
    began = time.monotonic()
    response = api.get("/api/v1/search", q="inverter")
    assert '"search";q=100;w=60' in response.headers["ratelimit-policy"]
    admitted = 1
    while (response := api.get("/api/v1/search", q="inverter")).status_code == 200 and admitted < 200:
        admitted += 1
    elapsed = time.monotonic() - began
    assert_problem(response, 429)
    assert 100 <= admitted <= 100 + elapsed / 0.6 + 1, (admitted, elapsed)
    assert int(response.headers["retry-after"]) >= 1
    assert api.get("/api/v1/sites").status_code == 200  # only searching is refused
