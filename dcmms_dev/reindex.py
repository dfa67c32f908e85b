"""``dcmms reindex``: rebuild the read model from the DynamoDB tables, for one tenant or all, while writes go on.

Each item read is projected exactly as a stream record would be (``Projector.project``, as a MODIFY with the
item as its new image), so the version guard decides: a row the projector wrote meanwhile from a newer
version is kept, an item read before a concurrent change is overwritten by that change's record when it
arrives. Rows of the read model whose item no longer exists become tombstones, unless the projector
touched them after the reindex began (an item created or removed meanwhile is the stream's to decide).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from dcmms.clients import aws_client
from dcmms.config import Settings
from dcmms.readmodel.projector import Projector
from dcmms.readmodel.router import DatabaseRouter
from dcmms.readmodel.schema import SCHEMA, TABLES, migrate

PAGE = 500  # items projected per transaction
Progress = Callable[[str, int, int], None]


def _pages(client: Any, table: str, tenant: str | None, **extra: Any) -> Iterator[dict[str, Any]]:
    kwargs: dict[str, Any] = {"TableName": table, **extra}
    if tenant is not None:
        kwargs |= {"KeyConditionExpression": "tenant_id = :t", "ExpressionAttributeValues": {":t": {"S": tenant}}}
    call = client.query if tenant is not None else client.scan
    while True:
        page = call(**kwargs)
        yield page
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _as_record(arn: str, item: dict[str, Any], n: int) -> dict[str, Any]:
    return {
        "eventName": "MODIFY",
        "eventSourceARN": arn,
        "dynamodb": {
            "Keys": {"tenant_id": item["tenant_id"], "id": item["id"]},
            "NewImage": item,
            "SequenceNumber": f"reindex-{n}",
        },
    }


def reindex(
    settings: Settings, router: DatabaseRouter, tenant: str | None = None, progress: Progress | None = None
) -> dict[str, dict[str, int]]:
    """Project every item of the projected tables (of ``tenant``, or all); per table: items read, rows
    written, rows that became tombstones."""
    dynamodb = aws_client("dynamodb", settings)
    projector = Projector(router, settings.table_prefix)
    with router.primary() as conn:
        migrate(conn)
        started = conn.execute("SELECT now()").fetchone()[0]
    out: dict[str, dict[str, int]] = {}
    for base, table in TABLES.items():
        name = settings.table_prefix + base
        arn = f"arn:aws:dynamodb:{settings.aws_region}:000000000000:table/{name}"
        total = sum(p["Count"] for p in _pages(dynamodb, name, tenant, Select="COUNT"))
        seen: set[tuple[str, str]] = set()
        read = written = 0
        for page in _pages(dynamodb, name, tenant):
            items = page["Items"]
            for start in range(0, len(items), PAGE):
                chunk = items[start : start + PAGE]
                outcome = projector.project([_as_record(arn, item, read + k) for k, item in enumerate(chunk)])
                if outcome.failed:
                    raise RuntimeError(f"{name}: {len(outcome.failed)} item(s) could not be projected")
                written += outcome.applied
                read += len(chunk)
                seen.update((i["tenant_id"]["S"], i["id"]["S"]) for i in chunk)
                if progress is not None:
                    progress(base, min(read, max(total, read)), max(total, read))
        if progress is not None and read == 0:
            progress(base, 0, 0)
        out[base] = {
            "items": read,
            "written": written,
            "removed": _tombstone_missing(router, table, tenant, seen, started),
        }
    return out


def _tombstone_missing(
    router: DatabaseRouter, table: str, tenant: str | None, seen: set[tuple[str, str]], started: datetime
) -> int:
    """Mark removed the rows whose item the reading did not find and that nobody projected since ``started``."""
    where = "NOT deleted AND projected_at < %(started)s" + (" AND tenant_id = %(tenant)s" if tenant else "")
    params = {"started": started, "tenant": tenant}
    with router.primary() as conn:
        rows = conn.execute(f"SELECT tenant_id, id FROM {SCHEMA}.{table} WHERE {where}", params).fetchall()
        gone = [(t, i) for t, i in rows if (t, i) not in seen]
        if gone:
            conn.execute(
                f"UPDATE {SCHEMA}.{table} AS r SET deleted = true, doc = NULL, projected_at = now() "
                f"FROM unnest(%(tenants)s::text[], %(ids)s::text[]) AS g (tenant_id, id) "
                f"WHERE r.tenant_id = g.tenant_id AND r.id = g.id AND NOT r.deleted AND r.projected_at < %(started)s",
                {"tenants": [t for t, _ in gone], "ids": [i for _, i in gone], "started": started},
            )
    return len(gone)


def print_progress(what: str, done: int, total: int) -> None:
    """A one-line progress bar per table on stderr."""
    width = 30
    filled = width if total == 0 else width * done // total
    percent = 100 if total == 0 else 100 * done // total
    bar = "#" * filled + "-" * (width - filled)
    end = "\n" if done >= total else ""
    print(f"\r  {what:<12} [{bar}] {done:>7}/{total} ({percent:3d}%)", end=end, file=sys.stderr, flush=True)
