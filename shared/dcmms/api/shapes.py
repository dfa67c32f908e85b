"""The API's JSON shapes that the services' results are written into: list pages and the field paths of
validation problems. orjson only, no FastAPI: the composition root (runtime.py) hands ``page_body`` to the
services, whose cache keeps pages as these bytes, and the warmer loads it without the web framework.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from dcmms.domain.errors import FieldIssue
from dcmms.store.results import ListResult


def page_body(result: ListResult[Any]) -> bytes:
    """``{"items": [...], "next_cursor": ...}`` assembled from each entity's own JSON."""
    items = b",".join(item.model_dump_json().encode() for item in result.items)
    return b'{"items":[' + items + b'],"next_cursor":' + orjson.dumps(result.next_cursor) + b"}"


def field_path(issue: FieldIssue) -> str:
    """Where a problem's field is in the request, as clients see it: ``body.parent_id``, ``query.metric``."""
    return f"{issue.location}.{issue.field}"


def problem_errors(errors: Iterable[FieldIssue | dict[str, str]]) -> list[dict[str, str]]:
    """The ``errors`` member of a validation problem: ``[{"field": <path>, "message": ...}]``."""
    return [{"field": field_path(e), "message": e.message} if isinstance(e, FieldIssue) else e for e in errors]
