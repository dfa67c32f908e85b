"""A psycopg cursor that times each statement and COPY for the recording API (and X-Ray when tracing).

Handed to a pool as ``cursor_factory``; ``connection.execute`` goes through it as well. The figure's
``query_type`` is the statement's first keyword (the spec's label), from a closed list.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from time import perf_counter
from typing import Any

import psycopg
from psycopg import sql

from dcmms.observability import TRACING, record, tracer

KEYWORDS = frozenset(
    [
        "SELECT",
        "INSERT",
        "UPDATE",
        "DELETE",
        "WITH",
        "COPY",
        "CREATE",
        "DROP",
        "ALTER",
        "SET",
        "SHOW",
        "BEGIN",
        "COMMIT",
        "ROLLBACK",
        "VACUUM",
        "ANALYZE",
    ]
)


def statement_kind(query: Any) -> str:
    """``SELECT``, ``INSERT``, ``WITH``... of a query (str, bytes or psycopg.sql); ``OTHER`` if not a known one."""
    if isinstance(query, sql.Composed):
        query = next((part for part in query if isinstance(part, sql.SQL)), None)
    if isinstance(query, sql.SQL):
        query = query.as_string(None)
    if isinstance(query, bytes):
        query = query[:32].decode("ascii", "replace")
    if not isinstance(query, str):
        return "OTHER"
    words = query[:64].split(None, 1)
    kind = words[0].upper() if words else ""
    return kind if kind in KEYWORDS else "OTHER"


class TimedCursor(psycopg.Cursor[Any]):
    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> TimedCursor:
        with _timed(statement_kind(query)):
            return super().execute(query, params, **kwargs)

    def executemany(self, query: Any, params_seq: Iterable[Any], **kwargs: Any) -> None:
        with _timed(statement_kind(query)):
            return super().executemany(query, params_seq, **kwargs)

    @contextmanager
    def copy(self, statement: Any, params: Any = None, **kwargs: Any) -> Iterator[psycopg.Copy]:
        """The whole COPY block is one figure: the rows stream to the server while the block runs."""
        with _timed("COPY"), super().copy(statement, params, **kwargs) as copy:
            yield copy


@contextmanager
def _timed(operation: str) -> Iterator[None]:
    started = perf_counter()
    try:
        if TRACING:
            with tracer.provider.in_subsegment(name=f"## postgresql {operation}"):
                yield
        else:
            yield
    finally:
        record.db_query("postgresql", operation, perf_counter() - started)
