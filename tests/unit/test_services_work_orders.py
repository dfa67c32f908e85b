"""WorkOrderService over in-memory repositories: references, the source alert's link, transitions."""

from __future__ import annotations

import orjson
import pytest

from dcmms.domain import commands as cmd
from dcmms.domain.errors import Conflict, FieldIssue, Forbidden, InvalidTransition, ValidationFailed
from dcmms.domain.model import Role, WorkOrderStatus
from tests.unit.fakes import World, principal

TECH = principal(Role.technician, user="usr_tech")


def _world() -> World:
    w = World()
    w.site()
    w.site("site_2")
    w.asset("ast_1")
    w.asset("ast_2", site_id="site_2")
    return w


def _create(w: World, **fields) -> object:
    return w.work_orders.create_work_order(
        TECH, cmd.WorkOrderCreate(site_id="site_1", title="Fix", type="corrective", **fields)
    )


def test_technicians_create_work_orders_and_viewers_cannot() -> None:
    w = _world()
    with pytest.raises(Forbidden, match="read-only"):
        w.work_orders.create_work_order(
            principal(Role.viewer), cmd.WorkOrderCreate(site_id="site_1", title="Fix", type="corrective")
        )
    wo = _create(w, asset_id="ast_1")
    assert wo.created_by == "usr_tech" and wo.status is WorkOrderStatus.draft and wo.id.startswith("wo_")
    assert orjson.loads(w.work_orders.read_work_order(TECH, wo.id).body)["asset_id"] == "ast_1"


@pytest.mark.parametrize(
    ("fields", "issue"),
    [
        ({"site_id": "site_9"}, FieldIssue("site_id", "no site 'site_9'")),
        ({"asset_id": "ast_9"}, FieldIssue("asset_id", "no asset 'ast_9'")),
        ({"asset_id": "ast_2"}, FieldIssue("asset_id", "asset 'ast_2' is not on site 'site_1'")),
        ({"source_alert_id": "alr_9"}, FieldIssue("source_alert_id", "no alert 'alr_9'")),
    ],
)
def test_references_of_a_new_work_order_are_checked(fields: dict, issue: FieldIssue) -> None:
    w = _world()
    body = {"site_id": "site_1", "title": "Fix", "type": "corrective"} | fields
    with pytest.raises(ValidationFailed) as err:
        w.work_orders.create_work_order(TECH, cmd.WorkOrderCreate(**body))
    assert err.value.extra["errors"] == [issue]
    assert err.value.detail == f"{issue.field}: {issue.message}"
    assert not w.repos.work_orders.rows


def test_a_work_order_from_an_alert_links_the_alert_back_unless_another_took_it() -> None:
    w = _world()
    w.alert("alr_1", "ast_1")
    first = _create(w, source_alert_id="alr_1")
    alert = w.repos.alerts.rows[("t1", "alr_1")]
    assert alert.work_order_id == first.id and alert.version == 2
    second = _create(w, source_alert_id="alr_1")
    assert second.source_alert_id == "alr_1"
    assert w.repos.alerts.rows[("t1", "alr_1")].work_order_id == first.id


def test_transitions_follow_the_state_machine_and_are_recorded() -> None:
    w = _world()
    wo = _create(w)
    for to in ("open", "in_progress", "completed"):
        wo = w.work_orders.transition_work_order(TECH, wo.id, cmd.Transition(to=to, note=f"-> {to}"), None)
    assert wo.status is WorkOrderStatus.completed and wo.completed_at is not None and wo.version == 4
    assert [(h.from_status.value, h.to.value, h.by) for h in wo.history] == [
        ("draft", "open", "usr_tech"),
        ("open", "in_progress", "usr_tech"),
        ("in_progress", "completed", "usr_tech"),
    ]
    reopened = w.work_orders.transition_work_order(TECH, wo.id, cmd.Transition(to="in_progress"), None)
    assert reopened.completed_at is None
    with pytest.raises(InvalidTransition) as err:
        w.work_orders.transition_work_order(TECH, wo.id, cmd.Transition(to="draft"), None)
    assert err.value.extra["allowed"] == ["on_hold", "completed", "cancelled"]
    assert w.repos.work_orders.rows[("t1", wo.id)].version == 5  # the refused move wrote nothing


@pytest.mark.parametrize("final", ["closed", "cancelled"])
def test_a_closed_or_cancelled_work_order_no_longer_changes(final: str) -> None:
    w = _world()
    w.work_order("wo_1", status=final)
    with pytest.raises(Conflict, match=f"is {final}"):
        w.work_orders.update_work_order(TECH, "wo_1", cmd.WorkOrderPatch(title="Again"), None)
    w.work_order("wo_2", status="open")
    assert w.work_orders.update_work_order(TECH, "wo_2", cmd.WorkOrderPatch(title="Again"), None).title == "Again"


def test_lists_filter_by_status_and_site() -> None:
    w = _world()
    w.work_order("wo_a", status="open")
    w.work_order("wo_b", status="closed")
    w.work_order("wo_c", site_id="site_2", status="open")
    page = orjson.loads(w.work_orders.list_work_orders(TECH, 10, None, site_id="site_1", statuses=["open"]))
    assert [wo["id"] for wo in page["items"]] == ["wo_a"]
