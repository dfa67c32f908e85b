"""Search over the read model: PostgreSQL full-text search with weighted fields plus ``pg_trgm`` word
similarity, ranked, tenant-scoped, on a read replica (``router`` purpose ``search``).

A row matches when its ``search_vector`` matches the query (English-stemmed words, or words as typed) or
when the query is word-similar to its ``search_text`` (``<%``: partial identifiers and typos, e.g.
``INV-03``, ``invertr``). Each predicate is answered by its own GIN index: a word match ranks 1 + ``ts_rank``
(weights A 1.0, B 0.4, C 0.2, D 0.1), a near miss (no word match) its word similarity (0.6..1), so every
word match outranks every near miss and a title match outranks one in a description. Near misses are
looked for only when the word matches do not fill the page, so a broad query never computes trigram
similarity. Results page by keyset on (rank desc, type, id).

Snippets: ``ts_headline`` over the page's rows only (it re-parses the text), with control characters as
markers that are turned into ``<mark>`` after the text is HTML-escaped, so a snippet is safe to render.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any, Literal

import psycopg
from psycopg import sql

from dcmms.domain.errors import ServiceUnavailable
from dcmms.domain.search import SearchAfter, SearchHit
from dcmms.readmodel.router import DatabaseRouter
from dcmms.readmodel.schema import SCHEMA, SEARCH_TYPES

_START, _STOP = "\x02", "\x03"
SEARCH_TIMEOUT = "5s"  # a search that runs longer is cancelled (503), so it cannot hold a replica hostage
_HEADLINE_OPTIONS = f"StartSel={_START}, StopSel={_STOP}, MaxWords=24, MinWords=8, MaxFragments=2"

# Per type: the label column, the text the snippet is cut from, and the column a site filter reads.
_BRANCHES: dict[str, dict[str, str]] = {
    "site": {
        "label": "name",
        "text": "coalesce(name, '')",
        "site": "id",
    },
    "asset": {
        "label": "name",
        "text": "concat_ws(' · ', name, serial, manufacturer, model)",
        "site": "site_id",
    },
    "work_order": {
        "label": "title",
        "text": "concat_ws(' — ', title, description)",
        "site": "site_id",
    },
    "alert": {"label": "message", "text": "coalesce(message, '')", "site": "site_id"},
}
_STATUS = {"site": None, "asset": "status", "work_order": "status", "alert": "status"}
_QUERY = "(websearch_to_tsquery('english', %(q)s) || websearch_to_tsquery('simple', %(q)s))"


Part = Literal["words", "near"]


def _branch(kind: str, part: Part, sites: bool, statuses: bool, after: bool) -> sql.Composable:
    """One type's hits of one part: its word matches (rank 1 + ts_rank, answered by the search_vector index) or
    its near misses that are no word match (rank = word similarity, below 1, by the trigram index)."""
    spec = _BRANCHES[kind]
    table = sql.Identifier(SCHEMA, SEARCH_TYPES[kind])
    filters = [sql.SQL("tenant_id = %(tenant)s"), sql.SQL("NOT deleted")]
    if sites:
        filters.append(sql.SQL(f"{spec['site']} = ANY(%(sites)s)"))
    if statuses:
        column = _STATUS[kind]
        filters.append(sql.SQL(f"{column} = ANY(%(statuses)s)") if column else sql.SQL("false"))
    columns = sql.SQL("{kind}::text AS type, id, {label} AS label, {site} AS site_id, {status} AS status").format(
        kind=sql.Literal(kind),
        label=sql.SQL(spec["label"]),
        site=sql.SQL(spec["site"]),
        status=sql.SQL(_STATUS[kind] or "NULL::text"),
    )
    if part == "words":
        rank = sql.SQL(f"(1 + ts_rank(search_vector, {_QUERY}))::float8")
        filters.append(sql.SQL(f"search_vector @@ {_QUERY}"))
    else:
        rank = sql.SQL("word_similarity(%(qt)s, search_text)::float8")
        filters += [sql.SQL("%(qt)s <%% search_text"), sql.SQL(f"NOT (search_vector @@ {_QUERY})")]
    where = sql.SQL(" AND ").join(filters)
    if after:
        where = sql.SQL(
            "{where} AND ({rank} < %(after_rank)s OR ({rank} = %(after_rank)s AND ({kind}, id) > (%(after_type)s, %(after_id)s)))"
        ).format(where=where, rank=rank, kind=sql.Literal(kind))
    return sql.SQL("SELECT {columns}, {rank} AS rank FROM {table} WHERE {where}").format(
        columns=columns, rank=rank, table=table, where=where
    )


def _body(kind: str) -> sql.Composable:
    """The snippet's source text of a page row of ``kind``, read by key: computed for the page only."""
    return sql.SQL("(SELECT {text} FROM {table} t WHERE t.tenant_id = %(tenant)s AND t.id = page.id)").format(
        text=sql.SQL(_BRANCHES[kind]["text"]), table=sql.Identifier(SCHEMA, SEARCH_TYPES[kind])
    )


def search_statement(kinds: Sequence[str], part: Part, sites: bool, statuses: bool, after: bool) -> sql.Composed:
    """One part's page (``%(limit)s`` rows, best first) with each row's snippet."""
    union = sql.SQL(" UNION ALL ").join(sql.SQL("({})").format(_branch(k, part, sites, statuses, after)) for k in kinds)
    body = sql.SQL("CASE page.type {cases} END").format(
        cases=sql.SQL(" ").join(
            sql.SQL("WHEN {kind} THEN {body}").format(kind=sql.Literal(k), body=_body(k)) for k in kinds
        )
    )
    return sql.SQL(
        "WITH page AS (SELECT * FROM ({union}) u ORDER BY rank DESC, type, id LIMIT %(limit)s) "
        "SELECT type, id, label, site_id, status, rank, "
        "ts_headline('english', coalesce({body}, ''), {query}, %(headline)s) AS snippet "
        "FROM page ORDER BY rank DESC, type, id"
    ).format(union=union, body=body, query=sql.SQL(_QUERY))


def _snippet(marked: str) -> str:
    return html.escape(marked).replace(_START, "<mark>").replace(_STOP, "</mark>")


class PostgresSearch:
    """The search index the API's search service uses."""

    def __init__(self, router: DatabaseRouter) -> None:
        self._router = router

    def search(
        self,
        tenant_id: str,
        query: str,
        kinds: Sequence[str],
        site_ids: Sequence[str],
        statuses: Sequence[str],
        limit: int,
        after: SearchAfter | None,
    ) -> tuple[list[SearchHit], SearchAfter | None]:
        """Up to ``limit`` hits after ``after``, best first, and where the next page starts (None: no more)."""
        params: dict[str, Any] = {
            "tenant": tenant_id,
            "q": query,
            "qt": query.lower(),
            "sites": list(site_ids),
            "statuses": list(statuses),
            "limit": limit + 1,
            "headline": _HEADLINE_OPTIONS,
        }
        if after is not None:
            params |= {"after_rank": after.rank, "after_type": after.type, "after_id": after.id}
        kinds = [k for k in _BRANCHES if k in kinds]

        def run(conn: Any) -> list[tuple[Any, ...]]:
            # Every predicate has a GIN index, but the planner cannot estimate `<%` and would scan the table
            # computing word similarity per row (~250 ms at 110,000 work orders); this transaction only.
            conn.execute("SET LOCAL enable_seqscan = off")
            conn.execute(f"SET LOCAL statement_timeout = '{SEARCH_TIMEOUT}'")
            rows: list[tuple[Any, ...]] = []
            # Every word match ranks above every near miss, so near misses are looked for only when the word
            # matches do not fill the page: a broad query never pays for trigram similarity.
            if after is None or after.rank >= 1:
                words = search_statement(kinds, "words", bool(site_ids), bool(statuses), after is not None)
                rows = conn.execute(words, params).fetchall()
            if len(rows) <= limit:
                near_after = after is not None and after.rank < 1
                near = search_statement(kinds, "near", bool(site_ids), bool(statuses), near_after)
                rows += conn.execute(near, params | {"limit": limit + 1 - len(rows)}).fetchall()
            return rows

        try:
            rows = self._router.read("search", run)
        except psycopg.errors.UndefinedTable:
            raise ServiceUnavailable(
                "The search index is not built yet: the projector creates it with its first batch."
            ) from None
        except psycopg.errors.QueryCanceled:
            raise ServiceUnavailable(
                f"The search took longer than {SEARCH_TIMEOUT} and was stopped; narrow it (type, site_id, status)."
            ) from None
        hits = [
            SearchHit(t, i, label or "", s, st, float(r), _snippet(snip or "")) for t, i, label, s, st, r, snip in rows
        ]
        more = len(hits) > limit
        hits = hits[:limit]
        return hits, SearchAfter(hits[-1].rank, hits[-1].type, hits[-1].id) if more and hits else None
