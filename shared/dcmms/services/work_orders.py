"""Work orders: created against a site (and optionally an asset or the alert that caused them), edited
until closed or cancelled, and moved through the state machine (domain/workflow.py).

A work order made from a procedure carries a copy of its steps as its checklist: each step is answered on
its own (``answer_step``), completing requires the required ones done, and a deviating answer (a reading
outside its limits, a "fail") raises one follow-up corrective work order per step."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dcmms.cache import Doc
from dcmms.domain import commands as cmd
from dcmms.domain.errors import Conflict, NotFound
from dcmms.domain.ids import new_id
from dcmms.domain.model import (
    Asset,
    ChecklistItem,
    Principal,
    Priority,
    StatusChange,
    WorkOrder,
    WorkOrderStatus,
    WorkOrderType,
    iso,
    missing_steps,
    utcnow,
)
from dcmms.domain.procedures import Procedure, follow_up_id, follow_up_title
from dcmms.domain.workflow import check_transition
from dcmms.store.errors import AlreadyExists

from .alerts import link_to
from .common import (
    ALERT,
    ASSET,
    PROCEDURE,
    SITE,
    WORK_ORDER,
    Service,
    field_error,
    new_entity,
    require_write,
    revalidate,
)

_FROZEN = (WorkOrderStatus.closed, WorkOrderStatus.cancelled)
_DONE = (WorkOrderStatus.completed, WorkOrderStatus.closed)


class WorkOrderService(Service):
    def create_work_order(self, p: Principal, body: cmd.WorkOrderCreate) -> WorkOrder:
        require_write(p)
        self._referenced(SITE, p, body.site_id, "site_id")
        asset: Asset | None = None
        if body.asset_id is not None:
            asset = self._referenced(ASSET, p, body.asset_id, "asset_id")
            if asset.site_id != body.site_id:
                raise field_error("asset_id", f"asset '{body.asset_id}' is not on site '{body.site_id}'")
        if body.source_alert_id is not None:
            self._referenced(ALERT, p, body.source_alert_id, "source_alert_id")
        fields = body.model_dump(exclude={"procedure_id"}) | {"created_by": p.user_id}
        if body.procedure_id is None:
            wo = self._create(WORK_ORDER, new_entity(WorkOrder, "wo", p, fields))
        else:
            procedure = self._referenced(PROCEDURE, p, body.procedure_id, "procedure_id")
            if body.checklist:
                raise field_error("checklist", "a work order from a procedure takes its checklist from the procedure")
            if asset is not None and not procedure.applies_to(asset.type):
                types = ", ".join(t.value for t in procedure.asset_types)
                raise field_error(
                    "procedure_id",
                    f"procedure '{procedure.id}' applies to {types}, not to asset '{asset.id}' ({asset.type.value})",
                )
            wo, _ = self.create_from_procedure(p, procedure, fields)
        if body.source_alert_id is not None:
            self._mutate(ALERT, p, body.source_alert_id, link_to(wo.id), None)
        return wo

    def create_from_procedure(
        self, p: Principal, procedure: Procedure, fields: dict[str, Any], work_order_id: str | None = None
    ) -> tuple[WorkOrder, bool]:
        """A work order that follows ``procedure``, and whether this call created it: its checklist is a copy
        of the procedure's steps, with ``procedure_id`` and ``procedure_version``.

        ``fields`` are the work order's own (``site_id`` required; ``asset_id``, ``title``, ``type``,
        ``priority``, ``status``, ``assigned_to``, ``due_at``, ``custom_fields``, ``created_by``, and any
        other WorkOrder field); absent or None ones default to the procedure's name as title, its
        description, type preventive, priority medium, status draft, created by ``p``. With
        ``work_order_id`` (an id derived from what the work fulfils, e.g. a PM occurrence) it is created
        once: a retried or concurrent call returns the stored work order (and False). The caller has checked the
        references (site, asset) and that the procedure applies to the asset (``Procedure.applies_to``).
        """
        require_write(p)
        now = utcnow()
        defaults: dict[str, Any] = {
            "title": procedure.name,
            "description": procedure.description,
            "type": WorkOrderType.preventive,
            "created_by": p.user_id,
        }
        data = defaults | {k: v for k, v in fields.items() if v is not None}
        data |= {
            "checklist": procedure.checklist(),
            "procedure_id": procedure.id,
            "procedure_version": procedure.version,
            "id": work_order_id or new_id("wo"),
            "tenant_id": p.tenant_id,
            "created_at": now,
            "updated_at": now,
        }
        work_order = revalidate(WorkOrder, data)
        try:
            return self._create(WORK_ORDER, work_order), True
        except AlreadyExists:
            if work_order_id is None:
                raise
            return self.repositories.work_orders.get(p.tenant_id, work_order_id), False

    def read_work_order(self, p: Principal, wo_id: str) -> Doc:
        return self._read(WORK_ORDER, p, wo_id)

    def list_work_orders(
        self,
        p: Principal,
        limit: int,
        cursor: str | None,
        *,
        site_id: str | None = None,
        statuses: Sequence[str] = (),
        priorities: Sequence[str] = (),
        types: Sequence[str] = (),
        assigned_to: str | None = None,
        asset_id: str | None = None,
    ) -> bytes:
        filters: dict[str, Any] = {
            "site_id": site_id,
            "statuses": statuses,
            "priorities": priorities,
            "types": types,
            "assigned_to": assigned_to,
            "asset_id": asset_id,
        }
        return self._page(
            WORK_ORDER,
            p,
            {"limit": limit, "cursor": cursor, **filters},
            lambda: self.repositories.work_orders.list(p.tenant_id, limit=limit, cursor=cursor, **filters),
        )

    def update_work_order(self, p: Principal, wo_id: str, body: cmd.WorkOrderPatch, if_match: int | None) -> WorkOrder:
        """Any field but the status (that moves by transitions); a closed or cancelled one no longer changes."""
        require_write(p)
        fields = cmd.patch_fields(body)

        if fields.get("checklist") is not None:
            fields["checklist"] = [entry.model_dump() for entry in fields["checklist"]]

        def change(current: WorkOrder) -> dict[str, Any]:
            if current.status in _FROZEN:
                raise Conflict(f"Work order '{wo_id}' is {current.status.value}; it can no longer change.")
            if "checklist" in fields and current.procedure_id is not None:
                raise Conflict(
                    f"Work order '{wo_id}' follows procedure '{current.procedure_id}': its checklist changes only "
                    "by answering its steps (PUT /api/v1/work-orders/{id}/checklist/{step_id})."
                )
            return fields

        return self._mutate(WORK_ORDER, p, wo_id, change, if_match)

    def transition_work_order(self, p: Principal, wo_id: str, body: cmd.Transition, if_match: int | None) -> WorkOrder:
        """One move of the state machine, recorded in the history; completing stamps ``completed_at``."""
        require_write(p)

        def change(current: WorkOrder) -> dict[str, Any]:
            check_transition(current.status, body.to)
            missing = missing_steps(current.checklist) if body.to is WorkOrderStatus.completed else []
            if missing:
                names = ", ".join(f"{item.id} ({item.item})" for item in missing)
                raise Conflict(
                    f"Work order '{wo_id}' cannot be completed while required steps are unanswered: {names}.",
                    missing_steps=[item.id for item in missing],
                )
            now = utcnow()
            step = StatusChange.model_validate(
                {"from": current.status, "to": body.to, "at": now, "by": p.user_id, "note": body.note}
            )
            return {
                "status": body.to,
                "history": [*current.history, step],
                "completed_at": (current.completed_at or now) if body.to in _DONE else None,
            }

        return self._mutate(WORK_ORDER, p, wo_id, change, if_match)

    def answer_step(
        self, p: Principal, wo_id: str, step_id: str, body: cmd.ChecklistAnswer, if_match: int | None
    ) -> WorkOrder:
        """Record the answer to one step (who and when; null clears it). An unknown step is 404, a closed or
        cancelled work order 409, an answer its kind does not take 422 naming ``answer``. A deviating answer
        raises a follow-up corrective work order, once per step however often it is answered; the step
        names it (``follow_up_work_order_id``)."""
        require_write(p)

        def change(current: WorkOrder) -> dict[str, Any]:
            index = _step_index(current, step_id)
            if current.status in _FROZEN:
                raise Conflict(f"Work order '{wo_id}' is {current.status.value}; its checklist can no longer change.")
            item = current.checklist[index]
            try:
                answer = item.accept(body.answer)
            except ValueError as exc:
                raise field_error("answer", str(exc)) from None
            answered = item.answered(answer, p.user_id, utcnow())
            if current.status is WorkOrderStatus.completed and answered.required and not answered.done:
                raise Conflict(
                    f"Work order '{wo_id}' is completed: its required step '{step_id}' cannot be left undone; "
                    "move it back to in_progress first."
                )
            if item.deviation(answer) is not None:
                answered.follow_up_work_order_id = follow_up_id(current, step_id)
            checklist = list(current.checklist)
            checklist[index] = answered
            return {"checklist": checklist}

        wo = self._mutate(WORK_ORDER, p, wo_id, change, if_match)
        item = wo.checklist[_step_index(wo, step_id)]
        deviation = item.deviation(item.answer)
        if deviation is not None:
            # after the answer is stored (a refused answer raises nothing); the derived id makes a re-answer,
            # a retry or a concurrent answer find the one already created
            self._create_once(WORK_ORDER, _follow_up(wo, item, deviation, follow_up_id(wo, step_id), p.user_id))
        return wo


def _step_index(wo: WorkOrder, step_id: str) -> int:
    for index, item in enumerate(wo.checklist):
        if item.id is not None and item.id == step_id:
            return index
    raise NotFound(f"Work order '{wo.id}' has no step '{step_id}'.")


def _follow_up(wo: WorkOrder, item: ChecklistItem, deviation: str, follow_up: str, by: str) -> WorkOrder:
    """The corrective work order a deviating answer raises, on the same site and asset."""
    at = item.answered_at or utcnow()
    return WorkOrder(
        id=follow_up,
        tenant_id=wo.tenant_id,
        site_id=wo.site_id,
        asset_id=wo.asset_id,
        title=follow_up_title(item, deviation),
        description=(
            f"Source: checklist of work order {wo.id} ({wo.title}), step {item.id} ({item.item}): "
            f"answered {deviation} by {by} at {iso(at)}."
        ),
        type=WorkOrderType.corrective,
        priority=Priority.high,
        status=WorkOrderStatus.open,
        follow_up_of=wo.id,
        created_by=by,
        created_at=at,
        updated_at=at,
    )
