"""Response shaping shared by the routers: JSON bodies, ETags, conditional requests, paging."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import Depends, Query, Request
from pydantic import BaseModel
from starlette.responses import Response

from dcmms.domain.model import Entity, Principal
from dcmms.store.repositories import ListResult

from .auth import current_principal

JSON = "application/json"
# API data is edited by users: browsers and CDNs must revalidate (ETag) instead of serving it blind.
CACHE_CONTROL = "private, no-cache"

Caller = Annotated[Principal, Depends(current_principal)]


class Paging(BaseModel):
    limit: int
    cursor: str | None


def paging(
    limit: Annotated[int, Query(ge=1, le=1000, description="Page size, 1-1000.")] = 50,
    cursor: Annotated[str | None, Query(max_length=2048, description="next_cursor of the previous page.")] = None,
) -> Paging:
    return Paging(limit=limit, cursor=cursor)


PageParams = Annotated[Paging, Depends(paging)]


def etag(version: int) -> str:
    return f'"v{version}"'


def _tags(header: str) -> list[str]:
    return [t.strip().removeprefix("W/") for t in header.split(",") if t.strip()]


def if_match(request: Request) -> int | None:
    """The version pinned by ``If-Match`` (None when absent or ``*``); unparseable pins match nothing."""
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


def entity_response(request: Request, entity: Entity, status: int = 200, location: str | None = None) -> Response:
    tag = etag(entity.version)
    headers = {"ETag": tag, "Cache-Control": CACHE_CONTROL}
    if location:
        headers["Location"] = location
    if status == 200 and request.method == "GET" and tag in _tags(request.headers.get("if-none-match", "")):
        return Response(status_code=304, headers=headers)
    return Response(entity.model_dump_json().encode(), status_code=status, media_type=JSON, headers=headers)


def list_response(result: ListResult[Any]) -> Response:
    body = b"".join(
        [
            b'{"items":[',
            b",".join(item.model_dump_json().encode() for item in result.items),
            b'],"next_cursor":',
            orjson.dumps(result.next_cursor),
            b"}",
        ]
    )
    return Response(body, media_type=JSON, headers={"Cache-Control": CACHE_CONTROL})


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type=JSON, headers=headers)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for error statuses, all problem+json."""
    from .problems import MEDIA_TYPE

    return {s: {"content": {MEDIA_TYPE: {}}, "description": "Problem details (RFC 9457)"} for s in statuses}
