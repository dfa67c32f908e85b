"""Cached list pages are versioned per scope (filter values), so a write invalidates only the listings it
can change; read-after-write stays exact. Over the services with in-memory fakes of their own ports."""

from __future__ import annotations

import orjson

from dcmms.domain import commands as cmd
from dcmms.domain.model import Role, WorkOrderStatus
from dcmms.services.common import WORK_ORDER, list_scopes, write_scopes
from tests.unit.fakes import FakeCache, World, principal

ADMIN = principal(Role.admin)
DIMS = WORK_ORDER.list_dimensions


def test_a_listing_depends_on_one_scope_per_combination_of_its_filter_values() -> None:
    assert list_scopes(DIMS, {}) == [""]
    assert list_scopes(DIMS, {"site_id": "s1", "statuses": ()}) == ["site_id=s1"]
    assert list_scopes(DIMS, {"site_id": "s1", "statuses": ["open", "in_progress", "open"]}) == [
        "site_id=s1|status=in_progress",
        "site_id=s1|status=open",
    ]
    assert list_scopes(DIMS, {"assigned_to": "usr_1", "priorities": ["high"]}) == ["assigned_to=usr_1"]


def test_a_write_touches_every_scope_its_states_are_visible_in() -> None:
    w = World()
    before = w.work_order("wo_1", status=WorkOrderStatus.open)
    after = before.model_copy(update={"status": WorkOrderStatus.in_progress, "assigned_to": "usr_1"})
    scopes = write_scopes(DIMS, before, after)
    assert scopes == {
        "",
        "site_id=site_1",
        "status=open",
        "site_id=site_1|status=open",
        "status=in_progress",
        "site_id=site_1|status=in_progress",
        "assigned_to=usr_1",
        "site_id=site_1|assigned_to=usr_1",
        "status=in_progress|assigned_to=usr_1",
        "site_id=site_1|status=in_progress|assigned_to=usr_1",
    }
    # every listing that could show either state depends on at least one touched scope
    for params in (
        {},
        {"site_id": "site_1"},
        {"statuses": ["open"]},
        {"site_id": "site_1", "statuses": ["in_progress", "closed"]},
        {"assigned_to": "usr_1", "statuses": ["in_progress"]},
    ):
        assert set(list_scopes(DIMS, params)) & scopes, params
    # and listings that can show neither depend on none
    for params in (
        {"site_id": "site_2"},
        {"site_id": "site_1", "statuses": ["closed"]},
        {"assigned_to": "usr_2"},
        {"statuses": ["open"], "assigned_to": "usr_1"},
    ):
        assert not set(list_scopes(DIMS, params)) & scopes, params


def _ids(page: bytes) -> list[str]:
    return [item["id"] for item in orjson.loads(page)["items"]]


def test_a_transition_keeps_other_sites_and_statuses_cached_and_reads_its_own_writes() -> None:
    w = World(FakeCache())
    w.site()
    w.site("site_2")
    w.work_order("wo_1", status=WorkOrderStatus.open)
    w.work_order("wo_2", site_id="site_2", status=WorkOrderStatus.open)
    w.work_order("wo_3", status=WorkOrderStatus.completed)

    def listing(**filters: object) -> list[str]:
        return _ids(w.work_orders.list_work_orders(ADMIN, 50, None, **filters))  # type: ignore[arg-type]

    assert listing(site_id="site_1", statuses=["open"]) == ["wo_1"]
    assert listing(site_id="site_1", statuses=["in_progress"]) == []
    assert listing(site_id="site_2") == ["wo_2"]
    assert listing(site_id="site_1", statuses=["completed"]) == ["wo_3"]
    pages = len(w.cache.pages)

    w.work_orders.transition_work_order(ADMIN, "wo_1", cmd.Transition(to=WorkOrderStatus.in_progress), None)

    # the listings the move changed show it at once ...
    assert listing(site_id="site_1", statuses=["open"]) == []
    assert listing(site_id="site_1", statuses=["in_progress"]) == ["wo_1"]
    assert len(w.cache.pages) == pages + 2
    # ... and the others are still the pages cached before it (not loaded again)
    assert listing(site_id="site_2") == ["wo_2"]
    assert listing(site_id="site_1", statuses=["completed"]) == ["wo_3"]
    assert len(w.cache.pages) == pages + 2


def test_assigning_shows_in_the_assignees_list_and_leaves_the_previous_one() -> None:
    w = World(FakeCache())
    w.site()
    w.work_order("wo_1", status=WorkOrderStatus.open, assigned_to="usr_a")

    def mine(user: str) -> list[str]:
        return _ids(w.work_orders.list_work_orders(ADMIN, 50, None, assigned_to=user))

    assert (mine("usr_a"), mine("usr_b")) == (["wo_1"], [])
    w.work_orders.update_work_order(ADMIN, "wo_1", cmd.WorkOrderPatch(assigned_to="usr_b"), None)
    assert (mine("usr_a"), mine("usr_b")) == ([], ["wo_1"])
