"""Work orders: created against a site (and optionally an asset or the alert that caused them), edited
until closed or cancelled, and moved through the state machine (domain/workflow.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dcmms.cache import Doc
from dcmms.domain import commands as cmd
from dcmms.domain.errors import Conflict
from dcmms.domain.model import Principal, StatusChange, WorkOrder, WorkOrderStatus, utcnow
from dcmms.domain.workflow import check_transition

from .alerts import link_to
from .common import ALERT, ASSET, SITE, WORK_ORDER, Service, field_error, new_entity, require_write

_FROZEN = (WorkOrderStatus.closed, WorkOrderStatus.cancelled)
_DONE = (WorkOrderStatus.completed, WorkOrderStatus.closed)


class WorkOrderService(Service):
    def create_work_order(self, p: Principal, body: cmd.WorkOrderCreate) -> WorkOrder:
        require_write(p)
        self._referenced(SITE, p, body.site_id, "site_id")
        if body.asset_id is not None:
            asset = self._referenced(ASSET, p, body.asset_id, "asset_id")
            if asset.site_id != body.site_id:
                raise field_error("asset_id", f"asset '{body.asset_id}' is not on site '{body.site_id}'")
        if body.source_alert_id is not None:
            self._referenced(ALERT, p, body.source_alert_id, "source_alert_id")
        wo = self._create(WORK_ORDER, new_entity(WorkOrder, "wo", p, body.model_dump() | {"created_by": p.user_id}))
        if body.source_alert_id is not None:
            self._mutate(ALERT, p, body.source_alert_id, link_to(wo.id), None)
        return wo

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

        def change(current: WorkOrder) -> dict[str, Any]:
            if current.status in _FROZEN:
                raise Conflict(f"Work order '{wo_id}' is {current.status.value}; it can no longer change.")
            return fields

        return self._mutate(WORK_ORDER, p, wo_id, change, if_match)

    def transition_work_order(self, p: Principal, wo_id: str, body: cmd.Transition, if_match: int | None) -> WorkOrder:
        """One move of the state machine, recorded in the history; completing stamps ``completed_at``."""
        require_write(p)

        def change(current: WorkOrder) -> dict[str, Any]:
            check_transition(current.status, body.to)
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
