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

from dcmms.domain.errors import DomainError
from dcmms.observability import logger

MEDIA_TYPE = "application/problem+json"


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
    return problem_response(exc.status, exc.title, exc.detail, exc.type_slug, request.url.path, **exc.extra)


async def _http(request: Request, exc: StarletteHTTPException) -> Response:
    title = HTTPStatus(exc.status_code).phrase
    detail = exc.detail if isinstance(exc.detail, str) else title
    slug = title.lower().replace(" ", "-")
    return problem_response(exc.status_code, title, detail, slug, request.url.path, headers=exc.headers)


async def _unexpected(request: Request, exc: Exception) -> Response:
    logger.exception("unhandled error", extra={"path": request.url.path})
    return problem_response(500, "Internal server error", "An unexpected error occurred.", "internal", request.url.path)


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)  # type: ignore[arg-type]
    app.add_exception_handler(DomainError, _domain)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected)
