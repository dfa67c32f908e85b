"""RFC 9457 problem details: every error the API returns is ``application/problem+json``.

This is the one place where exceptions become HTTP statuses.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from dcmms.domain.errors import DomainError, ValidationFailed
from dcmms.observability import logger

from .shapes import problem_errors

MEDIA_TYPE = "application/problem+json"

# The JSON Schema of every problem body, as the OpenAPI document's "Problem" component. Members beyond these
# are the problem's extensions (e.g. ``current_version`` on a 412, ``allowed`` on an invalid transition).
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details. Further members are extensions particular to the problem.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "pattern": "^urn:dcmms:problem:", "description": "urn:dcmms:problem:<slug>"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "instance": {"type": "string", "description": "The request path."},
        "errors": {
            "type": "array",
            "description": "Validation problems (422): one per field, e.g. body.name or query.limit.",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}, "code": {"type": "string"}},
            },
        },
    },
}


def problem_type(slug: str) -> str:
    return f"urn:dcmms:problem:{slug}"


def problem_response(
    status: int,
    title: str,
    detail: str,
    slug: str,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    body = {"type": problem_type(slug), "title": title, "status": status, "detail": detail}
    if instance:
        body["instance"] = instance
    body.update(extra)
    return Response(orjson.dumps(body), status_code=status, media_type=MEDIA_TYPE, headers=headers)


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(part) for part in loc)


async def _validation(request: Request, exc: RequestValidationError) -> Response:
    if isinstance(exc.body, bytes | bytearray) and exc.body:
        # FastAPI parses a body only when its Content-Type is JSON; any other body, or one without a
        # Content-Type, reaches validation as raw bytes, which no body model accepts: the media type is
        # the problem (415), not the fields.
        return problem_response(
            415,
            "Unsupported media type",
            "Send the body as JSON, with Content-Type: application/json.",
            "unsupported-media-type",
            request.url.path,
        )
    errors = [{"field": _field(e["loc"]), "message": e["msg"], "code": e["type"]} for e in exc.errors()]
    fields = ", ".join(sorted({e["field"] for e in errors}))
    return problem_response(
        422,
        "Validation failed",
        f"Invalid request: {fields}.",
        "validation-failed",
        request.url.path,
        errors=errors,
    )


async def _domain(request: Request, exc: DomainError) -> Response:
    extra = exc.extra
    if isinstance(exc, ValidationFailed):
        extra = extra | {"errors": problem_errors(extra["errors"])}
    return problem_response(exc.status, exc.title, exc.detail, exc.type_slug, request.url.path, **extra)


async def _http(request: Request, exc: StarletteHTTPException) -> Response:
    title = HTTPStatus(exc.status_code).phrase
    detail = exc.detail if isinstance(exc.detail, str) else title
    slug = title.lower().replace(" ", "-")
    headers = dict(exc.headers) if exc.headers else None
    return problem_response(exc.status_code, title, detail, slug, request.url.path, headers=headers)


async def _unexpected(request: Request, exc: Exception) -> Response:
    logger.exception("unhandled error", extra={"path": request.url.path})
    return problem_response(500, "Internal server error", "An unexpected error occurred.", "internal", request.url.path)


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)  # type: ignore[arg-type]
    app.add_exception_handler(DomainError, _domain)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected)
