"""Search: ranked full-text and fuzzy matches across sites, assets, work orders and alerts (the read model)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from dcmms.domain.search import MAX_QUERY_LENGTH, MAX_RESULTS, SearchType

from ..http import Caller, body_response, problem_responses, schema_response

router = APIRouter(tags=["search"])

HIT = {
    "type": "object",
    "required": ["type", "id", "snippet", "rank", "href"],
    "properties": {
        "type": {"enum": [t.value for t in SearchType]},
        "id": {"type": "string"},
        "title": {"type": "string", "description": "Work orders and alerts (an alert's message)."},
        "name": {"type": "string", "description": "Sites and assets."},
        "site_id": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "status": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "snippet": {
            "type": "string",
            "description": "The matching text, HTML-escaped, the matched words in <mark>...</mark>.",
        },
        "rank": {"type": "number", "description": "Higher is better; hits come best first."},
        "href": {"type": "string", "description": "The object in the API, e.g. /api/v1/work-orders/{id}."},
    },
}
RESULTS = {
    "type": "object",
    "required": ["items", "next_cursor"],
    "properties": {
        "items": {"type": "array", "items": HIT},
        "next_cursor": {
            "anyOf": [{"type": "string"}, {"type": "null"}],
            "description": "Pass as ?cursor= (with the same q) for the next page; null on the last page.",
        },
    },
}


@router.get(
    "/api/v1/search",
    summary="Search the tenant's sites, assets, work orders and alerts",
    description="Words match in any form (`faults` finds *fault*), identifiers as typed or in part (`INV-03`), and "
    "near-misses by similarity (`invertr` finds *inverter*); title and name weigh most, then serial, "
    "manufacturer and model, then descriptions, then custom fields. Results reflect a write within the "
    "projection lag (`GET /health`, `read_model`). Rate limit: `search`, 100 per minute per user.",
    responses={
        200: schema_response("SearchResults", RESULTS, "A page of hits, best first"),
        **problem_responses(503, reason="The read model cannot be reached."),
    },
)
def search(
    request: Request,
    caller: Caller,
    q: Annotated[str, Query(min_length=1, max_length=MAX_QUERY_LENGTH, description="What to look for.")],
    type: Annotated[list[SearchType] | None, Query(description="Repeatable; default: every type.")] = None,
    site_id: Annotated[list[str] | None, Query(max_length=64, description="Repeatable: only these sites.")] = None,
    status: Annotated[list[str] | None, Query(max_length=32, description="Repeatable: only these statuses.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_RESULTS, description=f"Page size, 1-{MAX_RESULTS}.")] = 50,
    cursor: Annotated[str | None, Query(max_length=2048, description="next_cursor of the previous page.")] = None,
) -> Response:
    body = request.app.state.search.search(caller, q, type or [], site_id or [], status or [], limit, cursor)
    return body_response(request, body)
