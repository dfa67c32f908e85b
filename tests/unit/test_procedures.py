"""Procedures and checklist rules in the domain: step ids, limits, answers by kind, deviations, completion."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from dcmms.domain.commands import ChecklistAnswer, ProcedureCreate, StepDefinition
from dcmms.domain.model import AssetType, ChecklistItem, StepKind, WorkOrder, missing_steps
from dcmms.domain.procedures import (
    Procedure,
    Step,
    assign_step_ids,
    check_step_limits,
    follow_up_id,
    follow_up_title,
)

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def _procedure(**fields: object) -> Procedure:
    base = {
        "id": "proc_1",
        "tenant_id": "t1",
        "created_at": T0,
        "updated_at": T0,
        "name": "Inspection",
        "steps": [{"id": "s1", "title": "Tick"}],
        "estimated_duration_min": 30,
    }
    return Procedure.model_validate(base | fields)


def _item(kind: StepKind, **fields: object) -> ChecklistItem:
    return ChecklistItem.model_validate({"item": "Step", "id": "s1", "kind": kind, "required": True} | fields)


def test_step_ids_are_kept_when_given_and_assigned_by_position_otherwise() -> None:
    assert [s["id"] for s in assign_step_ids([{}, {}, {}])] == ["s1", "s2", "s3"]
    assert [s["id"] for s in assign_step_ids([{"id": "lot"}, {}, {"id": "s2"}, {}])] == ["lot", "s5", "s2", "s4"]
    assert [s["id"] for s in assign_step_ids([{"id": "s1"}, {"id": "s2"}, {}])] == ["s1", "s2", "s3"]
    assert assign_step_ids([{"title": "x"}]) == [{"title": "x", "id": "s1"}]


def test_units_and_limits_belong_to_number_steps_and_min_does_not_exceed_max() -> None:
    check_step_limits(StepKind.number, "V", 1, 1)
    check_step_limits(StepKind.check, None, None, None)
    with pytest.raises(ValueError, match="number steps"):
        check_step_limits(StepKind.text, "V", None, None)
    with pytest.raises(ValueError, match="exceeds"):
        check_step_limits(StepKind.number, None, 2, 1)
    with pytest.raises(ValidationError, match="exceeds"):
        Step(id="s1", title="Reading", kind=StepKind.number, min=5, max=1)
    with pytest.raises(ValidationError, match="number steps"):
        StepDefinition.model_validate({"title": "Tick", "min": 0})
    with pytest.raises(ValidationError, match="repeated: a"):
        ProcedureCreate.model_validate(
            {"name": "P", "estimated_duration_min": 5, "steps": [{"id": "a", "title": "1"}, {"id": "a", "title": "2"}]}
        )


def test_a_procedure_has_unique_steps_and_applies_to_its_asset_types() -> None:
    with pytest.raises(ValidationError, match="unique"):
        _procedure(steps=[{"id": "s1", "title": "a"}, {"id": "s1", "title": "b"}])
    with pytest.raises(ValidationError):
        _procedure(steps=[])
    inverters = _procedure(asset_types=["inverter", "inverter"])
    assert inverters.asset_types == [AssetType.inverter]
    assert inverters.applies_to(AssetType.inverter) and inverters.applies_to(None)
    assert not inverters.applies_to(AssetType.transformer)
    assert _procedure().applies_to(AssetType.transformer)  # no types: any


def test_a_procedures_steps_become_unanswered_checklist_items() -> None:
    procedure = _procedure(
        steps=[
            {"id": "s1", "title": "Tick"},
            {"id": "v", "title": "Voltage", "kind": "number", "unit": "V", "min": 10, "max": 20, "required": False},
        ]
    )
    tick, volts = procedure.checklist()
    assert (tick.id, tick.item, tick.kind, tick.required, tick.done, tick.answer) == (
        "s1",
        "Tick",
        StepKind.check,
        True,
        False,
        None,
    )
    assert (volts.unit, volts.min, volts.max, volts.required) == ("V", 10, 20, False)


@pytest.mark.parametrize(
    ("kind", "good", "bad"),
    [
        (StepKind.check, [True, False], ["true", 1, 0.0]),
        (StepKind.number, [0, -3, 2.5], [True, "2", float("nan"), float("inf")]),
        (StepKind.text, ["ok", " padded "], [3, True, "   ", "x" * 2001]),
        (StepKind.pass_fail, ["pass", "fail"], [True, "PASS", "ok", 1]),
    ],
)
def test_each_kind_takes_its_answers(kind: StepKind, good: list, bad: list) -> None:
    item = _item(kind)
    for answer in good:
        assert item.accept(answer) == (answer.strip() if isinstance(answer, str) and kind is StepKind.text else answer)
    for answer in bad:
        with pytest.raises(ValueError, match=f"{kind.value} step"):
            item.accept(answer)
    assert item.accept(None) is None


def test_done_means_ticked_for_a_check_and_answered_otherwise() -> None:
    check = _item(StepKind.check)
    assert check.answered(True, "u", T0).done and not check.answered(False, "u", T0).done
    reading = _item(StepKind.number).answered(0, "usr_1", T0)
    assert (reading.done, reading.answered_by, reading.answered_at) == (True, "usr_1", T0)
    cleared = reading.answered(None, "usr_2", T0)
    assert (cleared.done, cleared.answer, cleared.answered_by, cleared.answered_at) == (False, None, None, None)


def test_deviations_are_readings_outside_the_limits_and_fails() -> None:
    reading = _item(StepKind.number, unit="MΩ", min=1, max=1000)
    assert reading.deviation(1) is None and reading.deviation(1000) is None and reading.deviation(None) is None
    assert reading.deviation(0.4) == "0.4 MΩ, below the minimum 1 MΩ"
    assert reading.deviation(1001) == "1001 MΩ, above the maximum 1000 MΩ"
    assert _item(StepKind.number, max=5).deviation(-1e9) is None  # only the limits it has
    verdict = _item(StepKind.pass_fail)
    assert verdict.deviation("fail") == "fail" and verdict.deviation("pass") is None
    assert _item(StepKind.check).deviation(False) is None


def test_missing_steps_are_the_required_ones_not_done() -> None:
    checklist = [
        _item(StepKind.check, id="a").answered(True, "u", T0),
        _item(StepKind.check, id="b").answered(False, "u", T0),
        _item(StepKind.text, id="c", required=False),
        _item(StepKind.number, id="d"),
        ChecklistItem(item="free-form, unticked"),
    ]
    assert [i.id for i in missing_steps(checklist)] == ["b", "d"]


def test_free_form_items_serialize_as_they_always_did() -> None:
    wo = WorkOrder.model_validate(
        {
            "id": "wo_1",
            "tenant_id": "t1",
            "site_id": "site_1",
            "title": "Fix",
            "type": "corrective",
            "priority": "medium",
            "created_at": T0,
            "updated_at": T0,
            "checklist": [{"item": "LOTO", "done": True}, {"item": "Tick", "id": "s1"}],
        }
    )
    dumped = wo.model_dump(mode="json")["checklist"]
    assert dumped[0] == {"item": "LOTO", "done": True}
    assert dumped[1]["id"] == "s1" and dumped[1]["answer"] is None and dumped[1]["kind"] == "check"
    assert WorkOrder.model_validate_json(wo.model_dump_json()) == wo


def test_follow_ups_have_one_id_per_work_order_and_step_and_a_bounded_title() -> None:
    wo = WorkOrder(
        id="wo_1",
        tenant_id="t1",
        site_id="s",
        title="x",
        type="inspection",
        priority="low",
        created_at=T0,
        updated_at=T0,
    )
    other = wo.model_copy(update={"id": "wo_2"})
    assert follow_up_id(wo, "s1") == follow_up_id(wo, "s1") != follow_up_id(wo, "s2") != follow_up_id(other, "s1")
    assert follow_up_id(wo, "s1").startswith("wo_") and len(follow_up_id(wo, "s1")) == 29
    long = _item(StepKind.number, item="x" * 500)
    title = follow_up_title(long, "0.4 V, below the minimum 1 V")
    assert len(title) <= 200 and title.endswith(": 0.4 V, below the minimum 1 V") and "…" in title


def test_an_answer_command_keeps_json_types() -> None:
    assert [ChecklistAnswer.model_validate_json(f'{{"answer": {v}}}').answer for v in ("true", "3", "2.5", '"x"')] == [
        True,
        3,
        2.5,
        "x",
    ]
    assert ChecklistAnswer.model_validate_json('{"answer": null}').answer is None
    with pytest.raises(ValidationError):
        ChecklistAnswer.model_validate_json("{}")
