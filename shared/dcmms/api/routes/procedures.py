"""Procedures: versioned checklist templates that work orders copy (``procedure_id`` on a new work order)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from dcmms.domain import commands as cmd
from dcmms.domain.procedures import Procedure

from ..http import Caller, IfMatch, PageParams, entity_response, list_response, model_response, page_response, services

router = APIRouter(prefix="/api/v1/procedures", tags=["procedures"])


@router.post("", status_code=201, responses={201: model_response(Procedure, "The new procedure, at version 1")})
def create_procedure(request: Request, body: cmd.ProcedureCreate, caller: Caller) -> Response:
    procedure = services(request).procedures.create_procedure(caller, body)
    return entity_response(request, procedure, 201, f"/api/v1/procedures/{procedure.id}")


@router.get("", responses={200: page_response(Procedure, "A page of procedures")})
def list_procedures(request: Request, caller: Caller, page: PageParams) -> Response:
    return list_response(request, services(request).procedures.list_procedures(caller, page.limit, page.cursor))


@router.get("/{procedure_id}", responses={200: model_response(Procedure)})
def get_procedure(request: Request, procedure_id: str, caller: Caller) -> Response:
    return entity_response(request, services(request).procedures.read_procedure(caller, procedure_id))


@router.patch(
    "/{procedure_id}", responses={200: model_response(Procedure, "The procedure as changed, at its next version")}
)
def update_procedure(
    request: Request, procedure_id: str, body: cmd.ProcedurePatch, caller: Caller, version: IfMatch
) -> Response:
    procedure = services(request).procedures.update_procedure(caller, procedure_id, body, version)
    return entity_response(request, procedure)


@router.delete("/{procedure_id}", status_code=204)
def delete_procedure(request: Request, procedure_id: str, caller: Caller, version: IfMatch) -> Response:
    """Work orders made from the procedure keep their copy of its steps."""
    services(request).procedures.delete_procedure(caller, procedure_id, version)
    return Response(status_code=204)
