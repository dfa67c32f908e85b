"""Response shaping shared by the routers: JSON bodies, ETags, conditional requests, paging."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import orjson
from fastapi import Depends, Header, Query, Request
from pydantic import BaseModel
from starlette.responses import Response

from dcmms.cache import Doc
from dcmms.domain.model import Entity, Principal

from .auth import current_principal

if TYPE_CHECKING:
    from dcmms.services import Maintenance

JSON = "application/json"
# API data is edited by users: browsers and CDNs must revalidate (ETag) instead of serving it blind.
CACHE_CONTROL = "private, no-cache"

Caller = Annotated[Principal, Depends(current_principal)]


def services(request: Request) -> Maintenance:
    """The services the app was created with (``create_app(maintenance=...)``)."""
    maintenance: Maintenance = request.app.state.maintenance
    return maintenance


class Paging(BaseModel):
    limit: int
    cursor: str | None


async def paging(
    limit: Annotated[int, Query(ge=1, le=1000, description="Page size, 1-1000.")] = 50,
    cursor: Annotated[str | None, Query(max_length=2048, description="next_cursor of the previous page.")] = None,
) -> Paging:
    return Paging(limit=limit, cursor=cursor)


PageParams = Annotated[Paging, Depends(paging)]


def etag(version: int) -> str:
    return f'"v{version}"'


def _tags(header: str) -> list[str]:
    return [t.strip().removeprefix("W/") for t in header.split(",") if t.strip()]


async def if_match(
    request: Request,
    _documented: Annotated[
        str | None,
        Header(
            alias="If-Match",
            description='The ETag of the version this change applies to, e.g. "v3"; another version is 412.',
        ),
    ] = None,
) -> int | None:
    """The version pinned by ``If-Match`` (None when absent or ``*``); unparseable pins match nothing.

    The header parameter puts If-Match in the OpenAPI document of every operation that takes it (and so
    412 among its answers); the value is read from the request, like every other conditional header.
    """
    header = request.headers.get("if-match")
    if header is None:
        return None
    tags = _tags(header)
    if "*" in tags:
        return None
    for tag in tags:
        value = tag.strip('"')
        if value.startswith("v") and value[1:].isdigit():
            return int(value[1:])
    return -1


IfMatch = Annotated[int | None, Depends(if_match)]


def entity_response(request: Request, entity: Entity | Doc, status: int = 200, location: str | None = None) -> Response:
    """The representation with its ``ETag``; ``If-None-Match`` on a GET answers 304 without a body."""
    doc = entity if isinstance(entity, Doc) else Doc(entity.version, entity.model_dump_json().encode())
    tag = etag(doc.version)
    headers = {"ETag": tag, "Cache-Control": CACHE_CONTROL}
    if location:
        headers["Location"] = location
    if status == 200 and request.method == "GET" and tag in _tags(request.headers.get("if-none-match", "")):
        return Response(status_code=304, headers=headers)
    return Response(doc.body, status_code=status, media_type=JSON, headers=headers)


def body_response(request: Request, body: bytes, cache_control: str = CACHE_CONTROL) -> Response:
    """JSON with a weak ETag that digests the body, so an unchanged answer revalidates to 304."""
    tag = 'W/"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
    headers = {"ETag": tag, "Cache-Control": cache_control}
    if tag.removeprefix("W/") in _tags(request.headers.get("if-none-match", "")):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=JSON, headers=headers)


def list_response(request: Request, body: bytes) -> Response:
    """A page of a listing: ``{"items": [...], "next_cursor": ...}``."""
    return body_response(request, body)


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type=JSON, headers=headers)


# What the OpenAPI document refers to but import never builds: response models and plain JSON Schemas,
# added as components when /openapi.json is first generated (see openapi.py), which keeps pydantic schema
# building out of the cold start.
DOCUMENTED_MODELS: dict[str, type[BaseModel]] = {}
DOCUMENTED_SCHEMAS: dict[str, dict[str, Any] | Callable[[], dict[str, Any]]] = {}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def model_response(model: type[BaseModel], description: str = "The resource") -> dict[str, Any]:
    DOCUMENTED_MODELS[model.__name__] = model
    return {"description": description, "content": {JSON: {"schema": _ref(model.__name__)}}}


def page_response(model: type[BaseModel], description: str) -> dict[str, Any]:
    """A page of a listing (``list_response``): ``{"items": [<model>...], "next_cursor": ...}``."""
    DOCUMENTED_MODELS[model.__name__] = model
    page = {
        "type": "object",
        "required": ["items", "next_cursor"],
        "properties": {
            "items": {"type": "array", "items": _ref(model.__name__)},
            "next_cursor": {
                "anyOf": [{"type": "string"}, {"type": "null"}],
                "description": "Pass as ?cursor= for the next page; null on the last page.",
            },
        },
    }
    return {"description": description, "content": {JSON: {"schema": page}}}


def document_schema(name: str, schema: dict[str, Any] | Callable[[], dict[str, Any]]) -> dict[str, str]:
    """Document a plain JSON Schema as the component ``name`` (a callable is called when the document is
    built, for schemas that need modules the cold start does not load); returns a reference to it."""
    DOCUMENTED_SCHEMAS[name] = schema
    return _ref(name)


def schema_response(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    """A JSON body described by a plain JSON Schema, documented as the component ``name``."""
    return {"description": description, "content": {JSON: {"schema": document_schema(name, schema)}}}


def problem_responses(*statuses: int, reason: str | None = None) -> dict[int | str, dict[str, Any]]:
    """Statuses a route answers beyond those its shape implies (openapi.py derives those: 401 for a key,
    404 for a path id, 412 for If-Match, ...), e.g. a 409 from a reference check. ``reason`` replaces the
    generic description. The problem+json content is filled in with the rest of the document."""
    return {s: {"description": reason} if reason else {} for s in statuses}
