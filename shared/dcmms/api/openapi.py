"""The OpenAPI document: FastAPI's, completed with every status each operation can answer.

Built once, when ``/openapi.json`` is first asked for; nothing here runs at cold start (app.py imports this
module inside its ``openapi`` hook). The error statuses of an operation are derived from what it is: a JSON
body, query parameters, a path id, ``If-Match``, the API key; a route adds only the statuses its shape does
not imply (``http.problem_responses``, e.g. a 404 for an id in the query). Every one of them is documented as
``application/problem+json`` with the ``Problem`` schema.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import orjson
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from .auth import current_principal
from .http import DOCUMENTED_MODELS, DOCUMENTED_SCHEMAS, if_match
from .problems import MEDIA_TYPE, PROBLEM_SCHEMA

# Why an operation answers each status; a route's own ``problem_responses(..., reason=)`` replaces these.
REASONS: dict[int, str] = {
    400: "The body could not be read as JSON text (e.g. it is not UTF-8).",
    401: "No API key in x-api-key, or one that is not valid.",
    403: "The key's role may not do this: viewers only read; sites, assets and alert rules need an admin or a "
    "supervisor.",
    404: "No such resource in the key's tenant (another tenant's resources are 404 too).",
    409: "The resource's state does not allow the change (e.g. it is still referenced, or already finished), or "
    "too many writers changed it at once; `detail` says which.",
    412: "If-Match names a version that is no longer the current one; fetch the resource again.",
    413: "The body is over the size limit ({max_body_bytes:,} bytes).",
    415: "The body is not JSON: send it with Content-Type: application/json.",
    422: "Validation failed: `errors` names each field (body.<name>, query.<name>); malformed JSON is body.<offset>.",
    429: "A rate limit refused the request; Retry-After says when to try again.",
    503: "A dependency the request needs is unavailable (e.g. rate limiting, on an endpoint that fails closed); "
    "retry shortly.",
}
NOT_MODIFIED = "Not modified: If-None-Match names the current ETag."
# Every GET of the API answers with an ETag and revalidates to 304 (http.entity_response, body_response).
CONDITIONAL_PREFIX = "/api/v1/"
_UNUSED_COMPONENTS = ("HTTPValidationError", "ValidationError")


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _calls(sub)


def _params(dependant: Dependant, kind: str) -> Iterator[Any]:
    yield from getattr(dependant, kind)
    for sub in dependant.dependencies:
        yield from _params(sub, kind)


def derived_statuses(route: APIRoute, method: str) -> set[int]:
    """The error statuses the operation's shape implies."""
    dependant = route.dependant
    calls = set(_calls(dependant))
    statuses: set[int] = set()
    if route.body_field is not None:
        statuses |= {400, 413, 415, 422}  # unreadable, too large, not JSON, invalid
    if any(True for _ in _params(dependant, "query_params")):
        statuses.add(422)
    if dependant.path_params:
        statuses.add(404)
    if if_match in calls:
        statuses |= {409, 412}  # a write that re-reads and retries under optimistic concurrency
    if current_principal in calls:
        statuses |= {401, 429, 503}  # the key, then the rate limits (which may fail closed)
        if method != "GET":
            statuses.add(403)  # every write checks the role
    return statuses


def _problem(status: int, declared: dict[str, Any], reasons: dict[int, str]) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": declared.get("description") or reasons[status],
        "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    if status == 429:
        response["headers"] = {
            "Retry-After": {"description": "Seconds until the request may succeed.", "schema": {"type": "integer"}}
        }
    return response


def _complete(operation: dict[str, Any], route: APIRoute, method: str, reasons: dict[int, str]) -> None:
    responses: dict[str, Any] = operation["responses"]
    declared = {int(k): v for k, v in (route.responses or {}).items()}
    # problem_responses() entries carry no content; an error a route documents with a body of its own (the
    # 503 of /health) is left as it is.
    problems = {s: v for s, v in declared.items() if s >= 400 and "content" not in v}
    statuses = (derived_statuses(route, method) - set(declared)) | set(problems)
    # FastAPI documents a 422 of its own (HTTPValidationError) wherever there are parameters; this API's
    # 422 is a problem, and only where something is validated.
    if 422 not in declared:
        responses.pop("422", None)
    for status in statuses:
        responses[str(status)] = _problem(status, problems.get(status, {}), reasons)
    if method == "GET" and route.path.startswith(CONDITIONAL_PREFIX):
        responses["304"] = {"description": NOT_MODIFIED}
        responses["200"].setdefault("headers", {})["ETag"] = {
            "description": "The representation's version, for If-None-Match (a resource's \"v<version>\" is also "
            "what If-Match takes).",
            "schema": {"type": "string"},
        }
        operation.setdefault("parameters", []).append(
            {
                "name": "If-None-Match",
                "in": "header",
                "required": False,
                "description": "An ETag of an earlier answer: 304 without a body while it is still current.",
                "schema": {"type": "string"},
            }
        )
    if "201" in responses:
        responses["201"].setdefault("headers", {})["Location"] = {
            "description": "The new resource's URL.",
            "schema": {"type": "string"},
        }
    operation["responses"] = dict(sorted(responses.items()))


def build(app: FastAPI) -> dict[str, Any]:
    """The whole document: paths from the routes, every answer documented, every component included."""
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    reasons = REASONS | {413: REASONS[413].format(max_body_bytes=app.state.settings.max_body_bytes)}
    for route in app.routes:
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        for method in route.methods or ():
            _complete(schema["paths"][route.path_format][method.lower()], route, method, reasons)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for name in _UNUSED_COMPONENTS:
        components.pop(name, None)
    components["Problem"] = PROBLEM_SCHEMA
    components.update(_response_models(components))
    components.update({name: s() if callable(s) else s for name, s in DOCUMENTED_SCHEMAS.items()})
    return schema


_ANNOTATIONS = frozenset({"title", "default", "description", "examples"})


def _shape(schema: Any) -> Any:
    """A schema without its annotations: what it accepts."""
    if isinstance(schema, list):
        return [_shape(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    shape = {k: _shape(v) for k, v in schema.items() if k not in _ANNOTATIONS and k != "properties"}
    if "properties" in schema:  # names of properties, not keywords
        shape["properties"] = {name: _shape(s) for name, s in schema["properties"].items()}
    return shape


def _response_models(components: dict[str, Any]) -> dict[str, Any]:
    """The response models as served: ``model_dump_json()``, by field name (e.g. a status change's
    ``from_status``, whose alias ``from`` is for input). A nested model that requests use too (Location)
    keeps its request schema; were its response schema to accept something else, that would be documented
    as ``<name>-Output``."""
    from pydantic.json_schema import models_json_schema

    _, document = models_json_schema(
        [(model, "serialization") for model in DOCUMENTED_MODELS.values()],
        by_alias=False,
        ref_template="#/components/schemas/{model}",
    )
    defs: dict[str, Any] = document.get("$defs", {})
    renamed = {n: f"{n}-Output" for n, d in defs.items() if n in components and _shape(components[n]) != _shape(d)}
    text = orjson.dumps(defs).decode()
    for old, new in renamed.items():
        text = text.replace(f'"#/components/schemas/{old}"', f'"#/components/schemas/{new}"')
    return {renamed.get(n, n): d for n, d in orjson.loads(text).items() if n in renamed or n not in components}


__all__ = ["build", "derived_statuses"]
