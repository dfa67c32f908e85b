from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from dcmms.domain import commands as cmd
from dcmms.domain.rules import AlertRule

from ..http import Caller, IfMatch, PageParams, entity_response, list_response, model_response, page_response, services

router = APIRouter(prefix="/api/v1/alert-rules", tags=["alert rules"])


@router.post("", status_code=201, responses={201: model_response(AlertRule, "The new alert rule")})
def create_rule(request: Request, body: cmd.AlertRuleCreate, caller: Caller) -> Response:
    rule = services(request).alerts.create_rule(caller, body)
    return entity_response(request, rule, 201, f"/api/v1/alert-rules/{rule.id}")


@router.get("", responses={200: page_response(AlertRule, "A page of alert rules")})
def list_rules(request: Request, caller: Caller, page: PageParams) -> Response:
    return list_response(request, services(request).alerts.list_rules(caller, page.limit, page.cursor))


@router.get("/{rule_id}", responses={200: model_response(AlertRule)})
def get_rule(request: Request, rule_id: str, caller: Caller) -> Response:
    return entity_response(request, services(request).alerts.read_rule(caller, rule_id))


@router.patch("/{rule_id}", responses={200: model_response(AlertRule, "The alert rule as changed")})
def update_rule(request: Request, rule_id: str, body: cmd.AlertRulePatch, caller: Caller, version: IfMatch) -> Response:
    return entity_response(request, services(request).alerts.update_rule(caller, rule_id, body, version))


@router.delete("/{rule_id}", status_code=204)
def delete_rule(request: Request, rule_id: str, caller: Caller, version: IfMatch) -> Response:
    services(request).alerts.delete_rule(caller, rule_id, version)
    return Response(status_code=204)
