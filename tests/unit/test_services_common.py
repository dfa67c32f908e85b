"""The services' shared mechanics with a cache: cache-through reads, write-through, tombstones, list versions;
and how field errors reach clients (api/shapes.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from dcmms.api.shapes import page_body, problem_errors
from dcmms.domain import commands as cmd
from dcmms.domain.errors import FieldIssue, NotFound, ValidationFailed
from dcmms.domain.model import Role
from dcmms.services.telemetry import TelemetryService
from dcmms.store.results import ListResult
from tests.unit.fakes import FakeCache, World, principal

ADMIN = principal(Role.admin)


def _world() -> World:
    w = World(FakeCache())
    w.site()
    return w


def test_reads_are_served_from_the_cache_and_writes_go_through_to_it() -> None:
    w = _world()
    assert w.fleet.read_site(ADMIN, "site_1").version == 1
    assert w.fleet.read_site(ADMIN, "site_1").version == 1
    assert w.repos.sites.gets == 1  # the second read was a cache hit
    w.fleet.update_site(ADMIN, "site_1", cmd.SitePatch(name="Renamed"), None)
    reads = w.repos.sites.gets
    doc = w.fleet.read_site(ADMIN, "site_1")
    assert (doc.version, orjson.loads(doc.body)["name"]) == (2, "Renamed")
    assert w.repos.sites.gets == reads  # written through, not re-read


def test_a_deleted_entity_leaves_a_tombstone_that_reads_as_not_found() -> None:
    w = _world()
    w.fleet.read_site(ADMIN, "site_1")
    w.fleet.delete_site(ADMIN, "site_1", None)
    assert w.cache.entities[("site", "t1", "site_1")].deleted
    reads = w.repos.sites.gets
    with pytest.raises(NotFound, match="No site 'site_1'"):
        w.fleet.read_site(ADMIN, "site_1")
    assert w.repos.sites.gets == reads


def test_a_write_starts_new_list_versions_for_the_tenant_and_the_entitys_site() -> None:
    w = _world()
    w.asset("ast_1")
    before = orjson.loads(w.fleet.list_assets(ADMIN, 10, None, site_id="site_1"))
    assert [a["id"] for a in before["items"]] == ["ast_1"]
    created = w.fleet.create_asset(ADMIN, cmd.AssetCreate(site_id="site_1", name="inv 2", type="inverter"))
    assert w.cache.list_versions[("asset", "t1", "site_id=site_1")] == 1
    assert w.cache.list_versions[("asset", "t1", "")] == 1
    after = orjson.loads(w.fleet.list_assets(ADMIN, 10, None, site_id="site_1"))
    assert {a["id"] for a in after["items"]} == {"ast_1", created.id}


def test_work_order_reads_are_cached_under_the_short_kind_name() -> None:
    w = _world()
    w.work_order("wo_1")
    w.work_orders.read_work_order(ADMIN, "wo_1")
    assert ("wo", "t1", "wo_1") in w.cache.entities


def test_a_page_is_written_as_items_and_next_cursor() -> None:
    w = World()
    site = w.site()
    body = page_body(ListResult([site], "abc"))
    assert body == b'{"items":[' + site.model_dump_json().encode() + b'],"next_cursor":"abc"}'
    assert orjson.loads(page_body(ListResult([], None))) == {"items": [], "next_cursor": None}


def test_field_issues_are_named_where_they_sit_in_the_request() -> None:
    issues = [
        FieldIssue("parent_id", "no asset 'x'"),
        FieldIssue("metric", "not a metric", "query"),
        {"field": "query.cursor", "message": "invalid cursor for this listing"},
    ]
    assert problem_errors(issues) == [
        {"field": "body.parent_id", "message": "no asset 'x'"},
        {"field": "query.metric", "message": "not a metric"},
        {"field": "query.cursor", "message": "invalid cursor for this listing"},
    ]


def _telemetry(w: World) -> TelemetryService:
    def unreachable():
        raise AssertionError("not reached: the request is refused first")

    return TelemetryService(w.fleet, unreachable, unreachable, "stream")


def test_telemetry_refusals_name_query_parameters_and_body_fields() -> None:
    w = World()
    w.site()
    w.asset("ast_1", type="inverter")
    tel = _telemetry(w)
    with pytest.raises(ValidationFailed) as metric:
        tel.series(ADMIN, "ast_1", "rotor_rpm", None, None, "5m", "avg")
    (issue,) = metric.value.extra["errors"]
    assert (issue.location, issue.field) == ("query", "metric")
    assert metric.value.detail.startswith("query.metric: ")
    late, early = datetime(2026, 1, 2, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(ValidationFailed) as order:
        tel.series(ADMIN, "ast_1", "ac_power_kw", late, early, "5m", "avg")
    assert problem_errors(order.value.extra["errors"]) == [{"field": "query.from", "message": "must be before 'to'"}]
    with pytest.raises(ValidationFailed) as records:
        tel.submit(ADMIN, {"records": [{"v": 1}, "not a record"]})
    assert problem_errors(records.value.extra["errors"])[0]["field"] == "body.records.0"
    with pytest.raises(ValidationFailed) as empty:
        tel.submit(ADMIN, {"records": []})
    assert empty.value.detail == "body.records: a non-empty list of records"
