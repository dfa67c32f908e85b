"""The read model: the projector against real PostgreSQL (duplicates, reordering, replays, removals,
unreadable records), fed through DynamoDB Local's streams by the local mapping, and rebuilt by reindex."""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson
import psycopg
import pytest

from dcmms.config import Settings
from dcmms.readmodel.projector import Projector
from dcmms.readmodel.router import DatabaseRouter
from dcmms.readmodel.schema import digest, migrate
from dcmms.readmodel.search import PostgresSearch, corrected
from dcmms_dev.reindex import reindex
from tests.support.waiting import eventually as _eventually

ARN = "arn:aws:dynamodb:us-east-1:000000000000:table/{table}/stream/2026-12-02T00:00:00.000"


@pytest.fixture
def projector(router: DatabaseRouter, settings: Settings) -> Projector:
    return Projector(router, settings.table_prefix)


def _work_order(tenant: str, wo_id: str, version: int, status: str = "open", **fields: Any) -> dict[str, Any]:
    history = [
        {"from_status": "draft", "to": s, "at": f"2026-12-02T10:00:0{n}Z", "by": "u1", "note": None}
        for n, s in enumerate(["open", "assigned", "in_progress"][: version - 1])
    ]
    return {
        "id": wo_id,
        "tenant_id": tenant,
        "created_at": "2026-12-02T09:00:00Z",
        "updated_at": f"2026-12-02T10:00:0{version}Z",
        "version": version,
        "site_id": "site-1",
        "title": f"Inverter fault v{version}",
        "type": "corrective",
        "priority": "high",
        "status": status,
        "history": history,
        "custom_fields": {},
        **fields,
    }


def _record(
    settings: Settings, table: str, doc: dict[str, Any] | None, seq: int, event: str = "MODIFY", old: dict | None = None
) -> dict[str, Any]:
    source = doc or old
    assert source is not None
    ddb: dict[str, Any] = {
        "Keys": {"tenant_id": {"S": source["tenant_id"]}, "id": {"S": source["id"]}},
        "SequenceNumber": f"{seq:021d}",
        "ApproximateCreationDateTime": time.time() - 1,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    image = lambda d: {  # noqa: E731
        "tenant_id": {"S": d["tenant_id"]},
        "id": {"S": d["id"]},
        "version": {"N": str(d["version"])},
        "doc": {"S": orjson.dumps(d).decode()},
    }
    if doc is not None:
        ddb["NewImage"] = image(doc)
    if old is not None:
        ddb["OldImage"] = image(old)
    return {
        "eventName": event,
        "eventSourceARN": ARN.format(table=settings.table_prefix + table),
        "dynamodb": ddb,
    }


def _row(settings: Settings, table: str, tenant: str, item: str) -> dict[str, Any] | None:
    with psycopg.connect(settings.database_url) as conn:
        conn.row_factory = psycopg.rows.dict_row
        return conn.execute(f"SELECT * FROM ops.{table} WHERE tenant_id = %s AND id = %s", (tenant, item)).fetchone()


def _document(settings: Settings, tenant: str, kind: str, item: str) -> dict[str, Any] | None:
    """The item's row in the search index, if it has one."""
    with psycopg.connect(settings.database_url) as conn:
        conn.row_factory = psycopg.rows.dict_row
        return conn.execute(
            "SELECT * FROM ops.search_documents WHERE tenant_id = %s AND type = %s AND id = %s", (tenant, kind, item)
        ).fetchone()


def _history(settings: Settings, tenant: str, item: str) -> list[tuple]:
    with psycopg.connect(settings.database_url) as conn:
        return conn.execute(
            "SELECT seq, from_status, to_status FROM ops.work_order_history WHERE tenant_id = %s AND work_order_id = %s "
            "ORDER BY seq",
            (tenant, item),
        ).fetchall()


def _ids() -> tuple[str, str]:
    return f"t-{uuid.uuid4().hex[:8]}", f"wo-{uuid.uuid4().hex[:8]}"


def test_newer_version_wins_whatever_the_order(projector: Projector, settings: Settings) -> None:
    tenant, wo = _ids()
    v1, v2, v3 = (_work_order(tenant, wo, v, s) for v, s in ((1, "open"), (2, "assigned"), (3, "in_progress")))
    records = [
        _record(settings, "work-orders", d, n, "INSERT" if n == 1 else "MODIFY") for n, d in enumerate((v1, v2, v3), 1)
    ]
    # reordered across batches: the newest first, then the older ones
    assert projector.project([records[2]]).applied == 1
    outcome = projector.project([records[0], records[1]])
    assert outcome.applied == 0 and not outcome.failed
    row = _row(settings, "work_orders", tenant, wo)
    assert row is not None and row["version"] == 3 and row["status"] == "in_progress" and not row["deleted"]
    assert row["title"] == "Inverter fault v3" and row["priority"] == "high"
    assert row["doc"]["status"] == "in_progress"


def test_duplicates_and_replays_change_nothing(projector: Projector, settings: Settings) -> None:
    tenant, wo = _ids()
    batch = [
        _record(settings, "work-orders", _work_order(tenant, wo, 1), 1, "INSERT"),
        _record(settings, "work-orders", _work_order(tenant, wo, 2, "assigned"), 2),
        _record(settings, "work-orders", _work_order(tenant, wo, 2, "assigned"), 2),  # duplicate in the batch
    ]
    assert projector.project(batch).applied == 1  # one row: the batch's newest of the item
    first = _row(settings, "work_orders", tenant, wo)
    assert _history(settings, tenant, wo) == [(0, "draft", "open")]
    for _ in range(2):  # the mapping redelivers the whole batch
        assert projector.project(batch).applied == 0
    again = _row(settings, "work_orders", tenant, wo)
    assert again is not None and first is not None
    assert again["projected_at"] == first["projected_at"] and again["version"] == 2
    assert _history(settings, tenant, wo) == [(0, "draft", "open")]


def test_history_grows_with_each_status_change(projector: Projector, settings: Settings) -> None:
    tenant, wo = _ids()
    for n, status in enumerate(("open", "assigned", "in_progress"), 1):
        projector.project([_record(settings, "work-orders", _work_order(tenant, wo, n, status), n)])
    assert [h[2] for h in _history(settings, tenant, wo)] == ["open", "assigned"]


def test_removal_is_a_tombstone_a_replayed_insert_cannot_undo(projector: Projector, settings: Settings) -> None:
    tenant, wo = _ids()
    v1, v2 = _work_order(tenant, wo, 1), _work_order(tenant, wo, 2, "assigned")
    insert, modify = _record(settings, "work-orders", v1, 1, "INSERT"), _record(settings, "work-orders", v2, 2)
    remove = _record(settings, "work-orders", None, 3, "REMOVE", old=v2)
    projector.project([insert, modify, remove])
    row = _row(settings, "work_orders", tenant, wo)
    assert row is not None and row["deleted"] and row["doc"] is None
    assert _history(settings, tenant, wo) == [] and _document(settings, tenant, "work_order", wo) is None
    projector.project([insert, modify])  # replayed after the removal
    row = _row(settings, "work_orders", tenant, wo)
    assert row is not None and row["deleted"]


def test_any_other_event_name_is_a_removal(projector: Projector, settings: Settings) -> None:
    """DynamoDB Local reports a TTL deletion as UNKNOWN_TO_SDK_VERSION."""
    tenant, wo = _ids()
    doc = _work_order(tenant, wo, 1)
    projector.project([_record(settings, "work-orders", doc, 1, "INSERT")])
    projector.project([_record(settings, "work-orders", None, 2, "UNKNOWN_TO_SDK_VERSION", old=doc)])
    row = _row(settings, "work_orders", tenant, wo)
    assert row is not None and row["deleted"]


def test_unreadable_records_are_reported_and_the_rest_projected(projector: Projector, settings: Settings) -> None:
    tenant, wo = _ids()
    good = _record(settings, "work-orders", _work_order(tenant, wo, 1), 7, "INSERT")
    no_doc = _record(settings, "work-orders", _work_order(tenant, "wo-x", 1), 5, "INSERT")
    del no_doc["dynamodb"]["NewImage"]["doc"]
    not_json = _record(settings, "work-orders", _work_order(tenant, "wo-y", 1), 6, "INSERT")
    not_json["dynamodb"]["NewImage"]["doc"] = {"S": "garbage"}
    other_table = _record(settings, "api-keys", _work_order(tenant, "k", 1), 8)
    outcome = projector.project([no_doc, not_json, good, other_table])
    assert outcome.failed == [f"{5:021d}", f"{6:021d}"]
    assert outcome.ignored == 1 and outcome.applied == 1
    assert _row(settings, "work_orders", tenant, wo) is not None
    assert projector.handle({"Records": [no_doc]}) == {"batchItemFailures": [{"itemIdentifier": f"{5:021d}"}]}


def test_every_projected_kind_fills_its_columns(projector: Projector, settings: Settings) -> None:
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    base = {
        "tenant_id": tenant,
        "created_at": "2026-12-01T00:00:00Z",
        "updated_at": "2026-12-01T00:00:00Z",
        "version": 1,
    }
    site = base | {
        "id": "s1",
        "name": "Sierra Solar",
        "kind": "solar",
        "capacity_mw": 80.5,
        "timezone": "Europe/Madrid",
    }
    asset = base | {
        "id": "a1",
        "site_id": "s1",
        "name": "INV-03-12",
        "type": "inverter",
        "status": "operational",
        "manufacturer": "SMA",
        "model": "Sunny Central 2500",
        "serial": "SC25-0042",
        "custom_fields": {"string": "B7"},
    }
    alert = base | {
        "id": "al1",
        "site_id": "s1",
        "asset_id": "a1",
        "severity": "major",
        "status": "active",
        "message": "Inverter over-temperature",
        "raised_at": "2026-12-01T01:00:00Z",
    }
    outcome = projector.project(
        [
            _record(settings, "sites", site, 1, "INSERT"),
            _record(settings, "assets", asset, 2, "INSERT"),
            _record(settings, "alerts", alert, 3, "INSERT"),
        ]
    )
    assert outcome.by_table == {"sites": 1, "assets": 1, "alerts": 1}
    assert _row(settings, "sites", tenant, "s1")["capacity_mw"] == 80.5  # type: ignore[index]
    row = _row(settings, "assets", tenant, "a1")
    assert row is not None and (row["serial"], row["model"], row["custom_fields"]) == (
        "SC25-0042",
        "Sunny Central 2500",
        {"string": "B7"},
    )
    assert "sc25-0042" in row["search_text"]
    assert _row(settings, "alerts", tenant, "al1")["severity"] == "major"  # type: ignore[index]


def test_the_search_index_follows_every_write(projector: Projector, settings: Settings) -> None:
    """Search documents and the vocabulary are kept by the entity tables' triggers: an insert, a change of
    status (live -> finished), a hard delete."""
    tenant, wo = _ids()
    projector.project([_record(settings, "work-orders", _work_order(tenant, wo, 1, description="Replace gasket"), 1)])
    doc = _document(settings, tenant, "work_order", wo)
    assert doc is not None and (doc["label"], doc["status"], doc["live"]) == ("Inverter fault v1", "open", True)
    with psycopg.connect(settings.database_url) as conn:
        terms = {t for (t,) in conn.execute("SELECT term FROM ops.search_terms WHERE tenant_id = %s", (tenant,))}
    assert {"invert", "fault", "gasket", "replac"} <= terms
    projector.project([_record(settings, "work-orders", _work_order(tenant, wo, 2, "closed"), 2)])
    assert _document(settings, tenant, "work_order", wo)["live"] is False  # type: ignore[index]
    with psycopg.connect(settings.database_url) as conn:
        conn.execute("DELETE FROM ops.work_orders WHERE tenant_id = %s AND id = %s", (tenant, wo))
    assert _document(settings, tenant, "work_order", wo) is None


def test_unfinished_work_outranks_finished_and_misspelt_words_are_corrected(
    projector: Projector, router: DatabaseRouter, settings: Settings
) -> None:
    tenant, open_wo = _ids()
    closed_wo = f"{open_wo}-closed"
    projector.project(
        [
            _record(
                settings, "work-orders", _work_order(tenant, closed_wo, 1, "closed", title="Gearbox bearing noise"), 1
            ),
            _record(settings, "work-orders", _work_order(tenant, open_wo, 1, title="Gearbox bearing noise"), 2),
        ]
    )
    index = PostgresSearch(router)
    hits, _ = index.search(tenant, "gearbox", ["work_order"], [], [], 10, None)
    assert [h.id for h in hits] == [open_wo, closed_wo]
    assert hits[0].rank >= 2 > hits[1].rank >= 1  # the live part, then the finished part
    first, after = index.search(tenant, "gearbox", ["work_order"], [], [], 1, None)
    second, end = index.search(tenant, "gearbox", ["work_order"], [], [], 1, after)
    assert [h.id for h in first + second] == [open_wo, closed_wo] and end is None  # the cursor crosses parts
    hits, _ = index.search(tenant, "gearbx bearng", ["work_order"], [], [], 10, None)
    assert [h.id for h in hits] == [open_wo, closed_wo] and "<mark>Gearbox</mark>" in hits[0].snippet
    with router.primary() as conn:  # identifiers (digits) and stop words are left as typed
        assert corrected(conn, tenant, "INV-03 the gearbx") == "INV-03 the gearbox"
        assert corrected(conn, tenant, "zzzzqqq") == "zzzzqqq"  # nothing similar enough


def test_migrate_backfills_rows_written_before_the_search_index(router: DatabaseRouter, settings: Settings) -> None:
    """A database whose rows predate the search tables (or a new version of them) gets them indexed once,
    and a migration already applied runs no DDL at all."""
    tenant, wo = _ids()
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO ops.work_orders (tenant_id, id, version, title, status) VALUES (%s, %s, 1, 'Yaw brake pads', 'open')",
            (tenant, wo),
        )
        conn.execute("DELETE FROM ops.search_documents WHERE tenant_id = %s", (tenant,))
        conn.execute("DELETE FROM ops.schema_migrations WHERE digest = %s", (digest(),))
    with router.primary() as conn:
        migrate(conn)
    assert _document(settings, tenant, "work_order", wo)["label"] == "Yaw brake pads"  # type: ignore[index]
    with router.primary() as conn:
        conn.execute("SET LOCAL lock_timeout = '1ms'")
        with psycopg.connect(settings.database_url) as holder:  # holds a lock every DDL statement would wait on
            holder.execute("LOCK TABLE ops.work_orders IN ACCESS EXCLUSIVE MODE")
            migrate(conn)  # applied already: returns without waiting


def test_lag_is_recorded_per_source(projector: Projector, settings: Settings) -> None:
    tenant, wo = _ids()
    record = _record(settings, "work-orders", _work_order(tenant, wo, 1), 1, "INSERT")
    record["dynamodb"]["ApproximateCreationDateTime"] = time.time() - 12
    projector.project([record])
    with psycopg.connect(settings.database_url) as conn:
        lag = conn.execute("SELECT lag_s FROM ops.projection_state WHERE source = 'work-orders'").fetchone()[0]
    assert 11 <= lag < 60


# -- through DynamoDB Local's streams, as the event-source mapping delivers ------------------------------


def test_writes_through_the_api_reach_the_read_model(api, tenant, settings: Settings, streams_poller) -> None:
    site = api.site(name="Guadalquivir Solar")
    asset = api.asset(site["id"], name="INV-07", serial="SN-7781")
    wo = api.work_order(site["id"], title="Replace IGBT module", asset_id=asset["id"])
    tid = tenant.tenant.id
    row = _eventually(lambda: _row(settings, "work_orders", tid, wo["id"]))
    assert row is not None and row["title"] == "Replace IGBT module" and row["asset_id"] == asset["id"]
    assert _eventually(lambda: _row(settings, "assets", tid, asset["id"]))["serial"] == "SN-7781"
    moved = api.post(f"/api/v1/work-orders/{wo['id']}/transitions", {"to": "open"}, headers={"If-Match": '"v1"'})
    assert moved.status_code == 200, moved.text
    row = _eventually(lambda: (r := _row(settings, "work_orders", tid, wo["id"])) and r["version"] == 2 and r)
    assert row and row["status"] == "open"
    assert _eventually(lambda: _history(settings, tid, wo["id"])) == [(0, "draft", "open")]


def test_a_deleted_asset_becomes_a_tombstone(api, tenant, settings: Settings, streams_poller) -> None:
    site = api.site()
    asset = api.asset(site["id"], name="MET-1", type="weather_station")
    tid = tenant.tenant.id
    assert _eventually(lambda: _row(settings, "assets", tid, asset["id"]))
    assert api.delete(f"/api/v1/assets/{asset['id']}", headers={"If-Match": '"v1"'}).status_code == 204
    assert _eventually(lambda: (r := _row(settings, "assets", tid, asset["id"])) and r["deleted"])


def test_reindex_rebuilds_a_tenant_and_removes_what_is_gone(api, tenant, settings, router, streams_poller) -> None:
    site = api.site(name="Reindexed")
    assets = [api.asset(site["id"], name=f"INV-{n}") for n in range(3)]
    tid = tenant.tenant.id
    assert _eventually(lambda: all(_row(settings, "assets", tid, a["id"]) for a in assets))
    with psycopg.connect(settings.database_url) as conn:
        conn.execute("DELETE FROM ops.assets WHERE tenant_id = %s AND id = %s", (tid, assets[0]["id"]))
        conn.execute(  # a row whose item does not exist (e.g. its removal record expired from the stream)
            "INSERT INTO ops.assets (tenant_id, id, version, name, projected_at) VALUES (%s, 'ghost', 1, 'ghost', now() - interval '1 hour')",
            (tid,),
        )
    counts = reindex(settings, router, tid)
    assert counts["assets"]["items"] == 3 and counts["assets"]["removed"] == 1 and counts["sites"]["items"] == 1
    assert _row(settings, "assets", tid, assets[0]["id"]) is not None
    assert _row(settings, "assets", tid, "ghost")["deleted"]  # type: ignore[index]
    assert _document(settings, tid, "asset", "ghost") is None  # the tombstone left the search index
    assert _document(settings, tid, "asset", assets[0]["id"])["label"] == "INV-0"  # type: ignore[index]
