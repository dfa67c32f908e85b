from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from dcmms.domain import commands as cmd
from dcmms.domain.model import Priority, WorkOrder, WorkOrderStatus, WorkOrderType

from ..http import (
    Caller,
    IfMatch,
    PageParams,
    entity_response,
    list_response,
    model_response,
    page_response,
    problem_responses,
    services,
)

router = APIRouter(prefix="/api/v1/work-orders", tags=["work orders"])


@router.post(
    "",
    status_code=201,
    responses={
        201: model_response(WorkOrder, "The new work order"),
        # Linking the source alert back is a conditional write, retried like any other.
        **problem_responses(409, reason="The source alert is being changed by too many writers at once; retry."),
    },
)
def create_work_order(request: Request, body: cmd.WorkOrderCreate, caller: Caller) -> Response:
    """With `procedure_id`, the checklist is a copy of the procedure's steps (`checklist` stays empty); a
    procedure whose `asset_types` exclude the asset's type is a 422 naming `procedure_id`."""
    wo = services(request).work_orders.create_work_order(caller, body)
    return entity_response(request, wo, 201, f"/api/v1/work-orders/{wo.id}")


@router.get("", responses={200: page_response(WorkOrder, "A page of work orders")})
def list_work_orders(
    request: Request,
    caller: Caller,
    page: PageParams,
    site_id: str | None = None,
    status: Annotated[list[WorkOrderStatus] | None, Query(description="Repeatable.")] = None,
    priority: Annotated[list[Priority] | None, Query()] = None,
    type: Annotated[list[WorkOrderType] | None, Query()] = None,
    assigned_to: str | None = None,
    asset_id: str | None = None,
) -> Response:
    result = services(request).work_orders.list_work_orders(
        caller,
        page.limit,
        page.cursor,
        site_id=site_id,
        statuses=[s.value for s in status or ()],
        priorities=[p.value for p in priority or ()],
        types=[t.value for t in type or ()],
        assigned_to=assigned_to,
        asset_id=asset_id,
    )
    return list_response(request, result)


@router.get("/{work_order_id}", responses={200: model_response(WorkOrder)})
def get_work_order(request: Request, work_order_id: str, caller: Caller) -> Response:
    return entity_response(request, services(request).work_orders.read_work_order(caller, work_order_id))


@router.patch(
    "/{work_order_id}",
    responses={
        200: model_response(WorkOrder, "The work order as changed"),
        **problem_responses(
            409,
            reason="The work order is closed or cancelled, its checklist comes from a procedure (answer the steps "
            "instead), or too many writers changed it at once.",
        ),
    },
)
def update_work_order(
    request: Request, work_order_id: str, body: cmd.WorkOrderPatch, caller: Caller, version: IfMatch
) -> Response:
    wo = services(request).work_orders.update_work_order(caller, work_order_id, body, version)
    return entity_response(request, wo)


@router.post(
    "/{work_order_id}/transitions",
    responses={
        200: model_response(WorkOrder, "The work order in its new status"),
        **problem_responses(
            409,
            reason="Not a move the state machine allows from the current status (`allowed` lists those), a "
            "completion while required checklist steps are unanswered (`missing_steps` lists them), or too many "
            "writers changed the work order at once.",
        ),
    },
)
def transition_work_order(
    request: Request, work_order_id: str, body: cmd.Transition, caller: Caller, version: IfMatch
) -> Response:
    wo = services(request).work_orders.transition_work_order(caller, work_order_id, body, version)
    return entity_response(request, wo)


@router.put(
    "/{work_order_id}/checklist/{step_id}",
    responses={
        200: model_response(
            WorkOrder,
            "The work order with the step answered; a deviating answer names its follow-up work order in the "
            "step's `follow_up_work_order_id`",
        ),
        **problem_responses(
            409,
            reason="The work order is closed or cancelled (or completed, and the answer would leave a required "
            "step undone), or too many writers changed it at once.",
        ),
    },
)
def answer_step(
    request: Request, work_order_id: str, step_id: str, body: cmd.ChecklistAnswer, caller: Caller, version: IfMatch
) -> Response:
    """Answer one checklist step: true/false for a check, a number, a string for text, "pass" or "fail" (null
    clears the answer). An answer the step's kind does not take is a 422 naming `answer`. A reading outside the
    step's limits, or a "fail", raises one follow-up corrective work order (high priority) per step."""
    wo = services(request).work_orders.answer_step(caller, work_order_id, step_id, body, version)
    return entity_response(request, wo)
