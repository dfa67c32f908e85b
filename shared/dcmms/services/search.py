"""Search across the tenant's sites, assets, work orders and alerts, answered by the read model.

The service checks the request (query length, types, limit, cursor) and shapes the page; the index (a
``SearchIndex``: ``readmodel.search.PostgresSearch`` in production) ranks. Results reflect writes within the
projection lag (DynamoDB Streams -> the projector -> PostgreSQL), and a deleted object leaves them.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import Protocol

import orjson

from dcmms.domain.errors import ValidationFailed
from dcmms.domain.model import Principal
from dcmms.domain.search import MAX_QUERY_LENGTH, MAX_RESULTS, SearchAfter, SearchHit, SearchType

from .common import field_error

_CURSOR_VERSION = 1


class SearchIndex(Protocol):
    def search(
        self,
        tenant_id: str,
        query: str,
        kinds: Sequence[str],
        site_ids: Sequence[str],
        statuses: Sequence[str],
        limit: int,
        after: SearchAfter | None,
    ) -> tuple[list[SearchHit], SearchAfter | None]: ...


def _invalid(field: str, message: str) -> ValidationFailed:
    return field_error(field, message, "query", detail=f"query.{field}: {message}")


def encode_cursor(after: SearchAfter, query: str) -> str:
    """Opaque; bound to the query text, so a cursor cannot be replayed against another search."""
    raw = orjson.dumps([_CURSOR_VERSION, after.rank, after.type, after.id, query])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str, query: str) -> SearchAfter:
    try:
        version, rank, kind, item, bound = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if version != _CURSOR_VERSION or bound != query or not isinstance(rank, int | float):
            raise ValueError
        return SearchAfter(float(rank), str(kind), str(item))
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError):
        raise _invalid("cursor", "not a cursor this search returned; start again without it") from None


def hit_json(hit: SearchHit) -> dict[str, object]:
    name = "title" if hit.type in (SearchType.work_order, SearchType.alert) else "name"
    return {
        "type": hit.type,
        "id": hit.id,
        name: hit.label,
        "site_id": hit.site_id,
        "status": hit.status,
        "snippet": hit.snippet,
        "rank": round(hit.rank, 6),
        "href": hit.href,
    }


class SearchService:
    def __init__(self, index: Callable[[], SearchIndex]) -> None:
        self._index_factory = index

    def search(
        self,
        p: Principal,
        query: str,
        types: Sequence[SearchType],
        site_ids: Sequence[str],
        statuses: Sequence[str],
        limit: int,
        cursor: str | None,
    ) -> bytes:
        """One page, ``{"items": [...], "next_cursor": ...}``, best match first."""
        text = " ".join(query.split())
        if not text:
            raise _invalid("q", "must contain something to search for")
        if len(text) > MAX_QUERY_LENGTH:
            raise _invalid("q", f"at most {MAX_QUERY_LENGTH} characters")
        if not 1 <= limit <= MAX_RESULTS:
            raise _invalid("limit", f"between 1 and {MAX_RESULTS}")
        after = decode_cursor(cursor, text) if cursor else None
        kinds = [t.value for t in (types or list(SearchType))]
        hits, following = self._index_factory().search(
            p.tenant_id, text, kinds, list(site_ids), list(statuses), limit, after
        )
        next_cursor = encode_cursor(following, text) if following else None
        return orjson.dumps({"items": [hit_json(h) for h in hits], "next_cursor": next_cursor})
