"""Keyset pagination over one or more index partitions that share a sort key.

A list request becomes a *plan*: an index, the partitions (hash-key values) to read, and the sort key
they share. Each partition is queried past the cursor, the results are merged in sort order and cut at
``limit``; the cursor is the last sort-key value returned. A filter over several statuses is therefore a
merge of key queries, never a scan, and a page costs at most ``partitions x (limit + 1)`` items read.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from pynamodb.expressions.condition import Condition

from dcmms.domain.errors import ValidationFailed


@dataclass(frozen=True)
class Plan:
    name: str  # stable name, bound into the cursor so a cursor cannot be replayed against another plan
    query: Callable[..., Any]  # Model.query or Index.query
    sort_attr: Any  # the pynamodb attribute that is the range key of `query`
    partitions: Sequence[str]
    descending: bool = True
    filter: Condition | None = None


@dataclass(frozen=True)
class Page:
    items: list[Any]
    next_key: str | None


def read_page(plan: Plan, limit: int, after: str | None) -> Page:
    """Up to ``limit`` rows strictly after ``after`` in the plan's order, and the key to resume from."""
    name = plan.sort_attr.attr_name
    rows: list[Any] = []
    for partition in plan.partitions:
        condition = None
        if after is not None:
            condition = plan.sort_attr < after if plan.descending else plan.sort_attr > after
        rows.extend(
            plan.query(
                partition,
                condition,
                filter_condition=plan.filter,
                scan_index_forward=not plan.descending,
                limit=limit + 1,
            )
        )
    if len(plan.partitions) > 1:
        rows.sort(key=lambda r: getattr(r, name), reverse=plan.descending)
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, getattr(rows[-1], name) if more and rows else None)


def encode_cursor(plan_name: str, key: str) -> str:
    """Opaque to clients: which plan the key belongs to, and the last sort key returned."""
    raw = orjson.dumps({"p": plan_name, "k": key})
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(token: str, plan_name: str) -> str:
    """The sort key inside ``token``; ValidationFailed when it is malformed or from another listing."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = orjson.loads(raw)
        if data["p"] == plan_name and isinstance(data["k"], str):
            return data["k"]
    except (ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        pass
    raise ValidationFailed(
        "The cursor is not one this listing returned; start again without it.",
        errors=[{"field": "query.cursor", "message": "invalid cursor for this listing"}],
    )
