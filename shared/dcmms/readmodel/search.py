"""Search over the read model: PostgreSQL full-text search with weighted fields plus ``pg_trgm`` word
similarity, ranked, tenant-scoped, on a read replica (``router`` purpose ``search``).

Every type is searched in one narrow table, ``ops.search_documents`` (see ``schema``), in up to three parts,
each read only when the ones before it do not fill the page, so a broad query stops at the first:

1. **live** word matches (assets, sites, unfinished work, unresolved alerts): rank 2 + ``ts_rank``;
2. **finished** word matches (completed, closed or cancelled work, resolved alerts): rank 1 + ``ts_rank``;
3. **near** misses, no word match but word-similar to the short fields (``<%``: partial identifiers such as
   ``INV-03``): rank = word similarity, below 1.

``ts_rank`` weighs title/name A 1.0, identifiers B 0.4, description C 0.2, custom fields D 0.1, so within a
part a title match outranks one in a description. Before searching, a word of letters that the tenant's
vocabulary (``ops.search_terms``) does not hold is replaced by its most similar term (``invertr`` ->
``invert``), so a misspelt word is searched as words, not by a trigram scan of every document sharing
letters with it. Results page by keyset on (rank desc, type, id).

Snippets: ``ts_headline`` over the page's rows only (it re-parses the text), with control characters as
markers that are turned into ``<mark>`` after the text is HTML-escaped, so a snippet is safe to render.
"""

from __future__ import annotations

import html
import re
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

# Per type: the text the snippet is cut from (read by key for the page's rows only).
_BODIES: dict[str, str] = {
    "site": "coalesce(name, '')",
    "asset": "concat_ws(' · ', name, serial, manufacturer, model)",
    "work_order": "concat_ws(' — ', title, description)",
    "alert": "coalesce(message, '')",
}
_QUERY = "(websearch_to_tsquery('english', %(q)s) || websearch_to_tsquery('simple', %(q)s))"
_DOCUMENTS = sql.Identifier(SCHEMA, "search_documents")

Part = Literal["live", "finished", "near"]
PARTS: tuple[Part, ...] = ("live", "finished", "near")
_FLOOR: dict[Part, float] = {"live": 2.0, "finished": 1.0, "near": 0.0}  # a part's ranks: [floor, floor + 1)

# A word of letters only (identifiers with digits are left to the near part), long enough to be misspelt.
_WORD = re.compile(r"[^\W\d_]{4,}")
MIN_SIMILARITY = 0.45  # a correction at least this trigram-similar to the word typed ("trackr" ~ "tracker" 0.5)
_CORRECTIONS = f"""
SELECT w.word, (
    SELECT t.term FROM {SCHEMA}.search_terms t
    WHERE t.tenant_id = %(tenant)s AND t.term %% w.word
    ORDER BY similarity(t.term, w.word) DESC, t.term LIMIT 1
)
FROM unnest(%(words)s::text[]) AS w (word)
WHERE NOT EXISTS (
    SELECT 1 FROM {SCHEMA}.search_terms t
    WHERE t.tenant_id = %(tenant)s
      AND t.term = ANY (tsvector_to_array(to_tsvector('english', w.word) || to_tsvector('simple', w.word)))
) AND to_tsvector('english', w.word) <> ''::tsvector
"""


def part_of(rank: float) -> Part:
    return "live" if rank >= _FLOOR["live"] else "finished" if rank >= _FLOOR["finished"] else "near"


def search_statement(part: Part, sites: bool, statuses: bool, after: bool) -> sql.Composed:
    """One part's page (``%(limit)s`` rows, best first) with each row's snippet."""
    filters = [sql.SQL("tenant_id = %(tenant)s"), sql.SQL("type = ANY(%(types)s)")]
    if sites:
        filters.append(sql.SQL("site_id = ANY(%(sites)s)"))
    if statuses:
        filters.append(sql.SQL("status = ANY(%(statuses)s)"))
    if part == "near":
        rank = sql.SQL("least(word_similarity(%(qt)s, search_text), 0.999)::float8")
        filters += [sql.SQL("%(qt)s <%% search_text"), sql.SQL(f"NOT (search_vector @@ {_QUERY})")]
    else:
        rank = sql.SQL(f"({_FLOOR[part]} + least(ts_rank(search_vector, {_QUERY}), 0.999))::float8")
        filters += [sql.SQL("live" if part == "live" else "NOT live"), sql.SQL(f"search_vector @@ {_QUERY}")]
    where = sql.SQL(" AND ").join(filters)
    if after:
        where = sql.SQL(
            "{where} AND ({rank} < %(after_rank)s OR ({rank} = %(after_rank)s AND (type, id) > (%(after_type)s, %(after_id)s)))"
        ).format(where=where, rank=rank)
    body = sql.SQL("CASE page.type {cases} END").format(
        cases=sql.SQL(" ").join(
            sql.SQL(
                "WHEN {kind} THEN (SELECT {text} FROM {table} t WHERE t.tenant_id = %(tenant)s AND t.id = page.id)"
            ).format(kind=sql.Literal(kind), text=sql.SQL(text), table=sql.Identifier(SCHEMA, SEARCH_TYPES[kind]))
            for kind, text in _BODIES.items()
        )
    )
    return sql.SQL(
        "WITH page AS (SELECT type, id, label, site_id, status, {rank} AS rank FROM {documents} WHERE {where} "
        "ORDER BY rank DESC, type, id LIMIT %(limit)s) "
        "SELECT type, id, label, site_id, status, rank, "
        "ts_headline('english', coalesce({body}, ''), {query}, %(headline)s) AS snippet "
        "FROM page ORDER BY rank DESC, type, id"
    ).format(rank=rank, documents=_DOCUMENTS, where=where, body=body, query=sql.SQL(_QUERY))


def corrected(conn: Any, tenant_id: str, query: str) -> str:
    """``query`` with each word of letters that the tenant's vocabulary lacks replaced by its most similar
    term (unchanged when every word is known or nothing is similar enough)."""
    words = sorted({w.lower() for w in _WORD.findall(query)})
    if not words:
        return query
    conn.execute(f"SET LOCAL pg_trgm.similarity_threshold = {MIN_SIMILARITY}")
    rows = conn.execute(_CORRECTIONS, {"tenant": tenant_id, "words": words}).fetchall()
    fixes = {word: term for word, term in rows if term}
    if not fixes:
        return query
    return _WORD.sub(lambda m: fixes.get(m.group(0).lower(), m.group(0)), query)


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
            "types": [k for k in _BODIES if k in kinds],
            "sites": list(site_ids),
            "statuses": list(statuses),
            "headline": _HEADLINE_OPTIONS,
        }
        if after is not None:
            params |= {"after_rank": after.rank, "after_type": after.type, "after_id": after.id}
        first = PARTS.index(part_of(after.rank)) if after is not None else 0

        def run(conn: Any) -> list[tuple[Any, ...]]:
            # Every predicate has a GIN index, but the planner cannot estimate `<%` and would scan the table
            # computing word similarity per row (~250 ms at 110,000 work orders); this transaction only.
            conn.execute("SET LOCAL enable_seqscan = off")
            conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")
            conn.execute(f"SET LOCAL statement_timeout = '{SEARCH_TIMEOUT}'")
            params["q"] = corrected(conn, tenant_id, query)
            rows: list[tuple[Any, ...]] = []
            for n, part in enumerate(PARTS[first:], start=first):
                statement = search_statement(part, bool(site_ids), bool(statuses), after is not None and n == first)
                rows += conn.execute(statement, params | {"limit": limit + 1 - len(rows)}).fetchall()
                if len(rows) > limit:  # the page is full: later parts rank below every row of it
                    break
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
