"""Who may call the API: the caller (``/me``), and, for a tenant's admins, its people (Cognito sign-ins), its API
keys and the audit trail of changes to both (``dcmms.services.identity``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from pydantic import BaseModel
from starlette.responses import Response

from dcmms.api.shapes import page_body
from dcmms.domain.identity import ApiKey, ApiKeyCreate, AuditEntry, IssuedKey, Me, Person, UserInvite, UserPatch
from dcmms.domain.model import User

if TYPE_CHECKING:
    from dcmms.services.identity import IdentityAdmin

from ..http import Caller, PageParams, body_response, json_response, model_response, page_response, problem_responses

router = APIRouter(tags=["access"])
NO_STORE = "no-store"  # who may do what changes under an admin's hand: never served from a cache


def _admin(request: Request) -> IdentityAdmin:
    return request.app.state.identity


def _read(request: Request, model: BaseModel) -> Response:
    """A GET's answer: its ETag revalidates (304), nothing caches it."""
    return body_response(request, model.model_dump_json().encode(), NO_STORE)


def _created(model: BaseModel, location: str) -> Response:
    return json_response(model.model_dump(mode="json"), 201, {"Cache-Control": NO_STORE, "Location": location})


ADMINS_ONLY = problem_responses(403, reason="The caller is not an admin of the tenant.")


@router.get(
    "/api/v1/me",
    summary="The caller: tenant, user, role, tier and credential kind",
    responses={200: model_response(Me)},
)
def me(request: Request, caller: Caller) -> Response:
    return _read(request, _admin(request).me(caller))


@router.get(
    "/api/v1/people",
    summary="The tenant's people who sign in (anyone of the tenant): to assign work and name who did what",
    responses={200: page_response(Person, "A page of people")},
)
def list_people(request: Request, caller: Caller, page: PageParams) -> Response:
    return body_response(request, page_body(_admin(request).people(caller, page.limit, page.cursor)), NO_STORE)


@router.post(
    "/api/v1/users",
    status_code=201,
    summary="Invite a person by email with a role (admins): Cognito emails them a temporary password",
    responses={
        201: model_response(User, "The person, status FORCE_CHANGE_PASSWORD until their first sign-in"),
        **problem_responses(409, reason="The email already has a dCMMS sign-in."),
        **problem_responses(503, reason="This deployment has no user pool, or a dependency is unavailable."),
    },
)
def invite_user(request: Request, body: UserInvite, caller: Caller) -> Response:
    user = _admin(request).invite(caller, body)
    return _created(user, f"/api/v1/users/{user.id}")


@router.get(
    "/api/v1/users",
    summary="The tenant's people (admins)",
    responses={200: page_response(User, "A page of people"), **ADMINS_ONLY},
)
def list_users(request: Request, caller: Caller, page: PageParams) -> Response:
    return body_response(request, page_body(_admin(request).users(caller, page.limit, page.cursor)), NO_STORE)


@router.get(
    "/api/v1/users/{user_id}", summary="A person (admins)", responses={200: model_response(User), **ADMINS_ONLY}
)
def get_user(request: Request, user_id: str, caller: Caller) -> Response:
    return _read(request, _admin(request).user(caller, user_id))


@router.patch(
    "/api/v1/users/{user_id}",
    summary="Change a person's role or name, or disable/enable their sign-in (admins)",
    description="A disabled person, or one whose role changed, is refused with the tokens they already hold "
    "(within 30 s everywhere) and signs in again for a token with the new role. Admins cannot disable or demote "
    "themselves (409).",
    responses={
        200: model_response(User, "The person as changed"),
        **problem_responses(409, reason="An admin cannot disable or demote themselves."),
    },
)
def update_user(request: Request, user_id: str, body: UserPatch, caller: Caller) -> Response:
    user = _admin(request).update(caller, user_id, body)
    return json_response(user.model_dump(mode="json"), 200, {"Cache-Control": NO_STORE})


@router.delete(
    "/api/v1/users/{user_id}",
    status_code=204,
    summary="Delete a person's sign-in (admins); tokens they hold are refused",
    responses=problem_responses(409, reason="An admin cannot delete themselves."),
)
def delete_user(request: Request, user_id: str, caller: Caller) -> Response:
    _admin(request).delete(caller, user_id)
    return Response(status_code=204)


@router.post(
    "/api/v1/api-keys",
    status_code=201,
    summary="Issue an API key (admins): the secret is in this answer only",
    responses={201: model_response(IssuedKey, "The key and its secret (`key`), shown once")},
)
def create_api_key(request: Request, body: ApiKeyCreate, caller: Caller) -> Response:
    issued = _admin(request).create_key(caller, body)
    return _created(issued, f"/api/v1/api-keys/{issued.id}")


@router.get(
    "/api/v1/api-keys",
    summary="The tenant's API keys, revoked ones included (admins); never the secret",
    responses={200: page_response(ApiKey, "A page of keys"), **ADMINS_ONLY},
)
def list_api_keys(request: Request, caller: Caller, page: PageParams) -> Response:
    return body_response(request, page_body(_admin(request).keys(caller, page.limit, page.cursor)), NO_STORE)


@router.delete(
    "/api/v1/api-keys/{key_id}",
    status_code=204,
    summary="Revoke an API key (admins): refused everywhere within 60 s, at once where Redis is reachable",
)
def revoke_api_key(request: Request, key_id: str, caller: Caller) -> Response:
    _admin(request).revoke_key(caller, key_id)
    return Response(status_code=204)


@router.get(
    "/api/v1/audit",
    summary="Changes to people and API keys, newest first (admins): who, with which credential, when",
    responses={200: page_response(AuditEntry, "A page of audit entries"), **ADMINS_ONLY},
)
def audit(request: Request, caller: Caller, page: PageParams) -> Response:
    return body_response(request, page_body(_admin(request).audit(caller, page.limit, page.cursor)), NO_STORE)
