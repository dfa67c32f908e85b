"""AlertService over in-memory repositories: alerts, rules, and the alerts rules raise (exactly once)."""

from __future__ import annotations

import pytest

from dcmms.domain import commands as cmd
from dcmms.domain.errors import Conflict, FieldIssue, Forbidden, PreconditionFailed, ValidationFailed
from dcmms.domain.model import AlertSeverity, AlertStatus, Priority, Role, WorkOrderStatus, WorkOrderType
from dcmms.domain.rules import AlertRule
from tests.unit.fakes import T0, World, principal

TECH = principal(Role.technician, user="usr_tech")
ADMIN = principal(Role.admin)
RULE = cmd.AlertRuleCreate(
    name="Hot inverter",
    asset_type="inverter",
    metric="heatsink_temp_c",
    condition=">",
    threshold=85,
    severity="major",
    auto_work_order=True,
)


def _world() -> World:
    w = World()
    w.site()
    w.asset("ast_1")
    return w


def test_an_alert_is_raised_on_an_existing_asset_and_takes_its_site() -> None:
    w = _world()
    alert = w.alerts.create_alert(TECH, cmd.AlertCreate(asset_id="ast_1", severity="minor", message="fan noise"))
    assert (alert.site_id, alert.status, alert.tenant_id) == ("site_1", AlertStatus.active, "t1")
    with pytest.raises(ValidationFailed) as err:
        w.alerts.create_alert(TECH, cmd.AlertCreate(asset_id="ast_9", severity="minor", message="x"))
    assert err.value.extra["errors"] == [FieldIssue("asset_id", "no asset 'ast_9'")]
    with pytest.raises(Forbidden):
        w.alerts.create_alert(principal(Role.viewer), cmd.AlertCreate(asset_id="ast_1", severity="minor", message="x"))


def test_acknowledge_then_resolve_and_neither_twice() -> None:
    w = _world()
    w.alert("alr_1", "ast_1")
    acked = w.alerts.acknowledge_alert(TECH, "alr_1", None, note="on it")
    assert (acked.status, acked.acknowledged_by, acked.acknowledge_note) == (
        AlertStatus.acknowledged,
        "usr_tech",
        "on it",
    )
    with pytest.raises(Conflict) as again:
        w.alerts.acknowledge_alert(TECH, "alr_1", None)
    assert again.value.extra == {"current": "acknowledged"}
    with pytest.raises(PreconditionFailed):
        w.alerts.resolve_alert(TECH, "alr_1", if_match=1)
    resolved = w.alerts.resolve_alert(TECH, "alr_1", if_match=2, note="fan replaced")
    assert (resolved.status, resolved.resolved_by, resolved.version) == (AlertStatus.resolved, "usr_tech", 3)
    with pytest.raises(Conflict, match="already resolved"):
        w.alerts.resolve_alert(TECH, "alr_1", None)
    with pytest.raises(Conflict):
        w.alerts.acknowledge_alert(TECH, "alr_1", None)


def test_an_alert_may_point_only_at_an_existing_work_order() -> None:
    w = _world()
    w.alert("alr_1", "ast_1")
    with pytest.raises(ValidationFailed) as err:
        w.alerts.update_alert(TECH, "alr_1", cmd.AlertPatch(work_order_id="wo_9"), None)
    assert err.value.extra["errors"] == [FieldIssue("work_order_id", "no work order 'wo_9'")]
    w.work_order("wo_1")
    assert w.alerts.update_alert(TECH, "alr_1", cmd.AlertPatch(work_order_id="wo_1"), None).work_order_id == "wo_1"


def test_rules_are_fleet_configuration_and_only_enabled_ones_are_evaluated() -> None:
    w = _world()
    with pytest.raises(Forbidden):
        w.alerts.create_rule(TECH, RULE)
    on = w.alerts.create_rule(ADMIN, RULE)
    off = _stored_rule(w, enabled=False)
    assert on.id.startswith("rule_") and {r.id for r in w.repos.rules.rows.values()} == {on.id, off.id}
    assert [r.id for r in w.alerts.enabled_rules("t1")] == [on.id]
    assert w.alerts.enabled_rules("t2") == []


def test_a_rule_change_that_would_leave_the_rule_invalid_is_refused() -> None:
    w = _world()
    rule = w.alerts.create_rule(ADMIN, RULE)
    with pytest.raises(ValidationFailed, match="leave the resource invalid") as err:
        w.alerts.update_rule(ADMIN, rule.id, cmd.AlertRulePatch(threshold=None), None)
    (issue,) = err.value.extra["errors"]
    assert issue.location == "body" and "threshold" in issue.message
    assert w.repos.rules.rows[("t1", rule.id)].threshold == 85


def test_a_rule_is_deleted_at_the_version_if_match_names() -> None:
    w = _world()
    rule = w.alerts.create_rule(ADMIN, RULE)
    with pytest.raises(PreconditionFailed, match="at version 1, not 3"):
        w.alerts.delete_rule(ADMIN, rule.id, 3)
    w.alerts.delete_rule(ADMIN, rule.id, 1)
    assert not w.repos.rules.rows


def _stored_rule(w: World, **fields) -> AlertRule:
    return w.alerts.create_rule(ADMIN, cmd.AlertRuleCreate.model_validate(RULE.model_dump() | fields))


def test_a_rule_episode_raises_one_alert_and_one_linked_work_order_however_often_it_is_replayed() -> None:
    w = _world()
    rule = _stored_rule(w)
    alert, wo = w.alerts.raise_rule_alert("t1", rule, "ast_1", "site_1", "EP1", T0, 91.5)
    assert (
        alert.id == "alr_EP1" and alert.rule_id == rule.id and alert.message == "Hot inverter: heatsink_temp_c = 91.5"
    )
    assert wo is not None and wo.id == "wo_EP1" and wo.source_alert_id == "alr_EP1"
    assert (wo.type, wo.priority, wo.status, wo.created_by) == (
        WorkOrderType.corrective,
        Priority.high,  # from the rule's severity, major
        WorkOrderStatus.open,
        f"rule:{rule.id}",
    )
    assert alert.work_order_id == "wo_EP1" and alert.version == 2
    again, wo_again = w.alerts.raise_rule_alert("t1", rule, "ast_1", "site_1", "EP1", T0, 93.0)
    assert (again.id, again.version, again.work_order_id) == ("alr_EP1", 2, "wo_EP1")
    assert wo_again is not None and wo_again.id == "wo_EP1"
    assert len(w.repos.alerts.rows) == 1 and len(w.repos.work_orders.rows) == 1


def test_a_replay_after_a_crash_between_the_writes_still_links_the_work_order() -> None:
    w = _world()
    rule = _stored_rule(w, severity="critical")
    w.alert("alr_EP2", "ast_1", rule_id=rule.id, severity=AlertSeverity.critical)  # created, then the process died
    alert, wo = w.alerts.raise_rule_alert("t1", rule, "ast_1", "site_1", "EP2", T0, 99.0)
    assert wo is not None and wo.priority is Priority.critical and alert.work_order_id == wo.id


def test_a_rule_without_auto_work_order_raises_only_the_alert() -> None:
    w = _world()
    rule = _stored_rule(w, auto_work_order=False)
    alert, wo = w.alerts.raise_rule_alert("t1", rule, "ast_1", "site_1", "EP3", T0, 90.0)
    assert wo is None and alert.work_order_id is None and not w.repos.work_orders.rows


def test_a_cleared_condition_resolves_the_alert_once_and_ignores_missing_ones() -> None:
    w = _world()
    w.alert("alr_1", "ast_1")
    w.alerts.resolve_rule_alert("t1", "alr_1")
    stored = w.repos.alerts.rows[("t1", "alr_1")]
    assert (stored.status, stored.resolved_by, stored.resolution_note) == (
        AlertStatus.resolved,
        "system:rules",
        "condition cleared",
    )
    w.alerts.resolve_rule_alert("t1", "alr_1")  # already resolved: unchanged but for the version
    assert w.repos.alerts.rows[("t1", "alr_1")].resolved_at == stored.resolved_at
    w.alerts.resolve_rule_alert("t1", "alr_gone")
    assert w.alerts.alert_status("t1", "alr_1") is AlertStatus.resolved
    assert w.alerts.alert_status("t1", "alr_gone") is None
    assert w.alerts.alert_status("t2", "alr_1") is None


def test_the_rule_evaluator_reads_rules_through_the_alerts_service_at_most_once_a_minute() -> None:
    from dcmms.telemetry.alerting import RuleEvaluator

    w = _world()
    rule = _stored_rule(w)
    evaluator = RuleEvaluator(w.alerts, redis=None)  # type: ignore[arg-type]  # rules_for needs no Redis
    assert [r.id for r in evaluator.rules_for("t1")] == [rule.id]
    _stored_rule(w, name="Another")
    assert [r.id for r in evaluator.rules_for("t1")] == [rule.id]  # the process's copy, for a minute
