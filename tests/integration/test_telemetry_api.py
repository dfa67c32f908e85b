"""The telemetry API on real PostgreSQL and moto Kinesis: aggregations from the rollups, latest values,
records submitted over HTTP, tenant scoping and problem+json for bad queries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from dcmms import clients
from dcmms.domain.model import Role
from dcmms.telemetry.postgres import Reading, TelemetryStore
from tests.support.api import ApiClient, assert_problem

# A fixed, minute-aligned window well inside the raw retention.
START = (datetime.now(UTC) - timedelta(days=2)).replace(hour=10, minute=0, second=0, microsecond=0)


@pytest.fixture(scope="module")
def store(settings):
    store = TelemetryStore(settings.database_url)
    store.migrate(now=START)
    store.migrate()
    yield store
    store.close()


@pytest.fixture
def inverter(api):
    site = api.site()
    return api.asset(site["id"], type="inverter")


def _load(store: TelemetryStore, tenant_id: str, asset_id: str) -> list[tuple[datetime, float]]:
    """Two hours of ac_power_kw every 10 s with an uneven shape, so every aggregate differs."""
    points = [(START + timedelta(seconds=10 * k), float((k * 37) % 101) + k / 1000) for k in range(720)]
    store.write([Reading(tenant_id, asset_id, "ac_power_kw", ts, v) for ts, v in points])
    store.write([Reading(tenant_id, asset_id, "heatsink_temp_c", START + timedelta(minutes=5), 61.5)])
    return points


def _expected(points, width: timedelta, agg: str) -> list[tuple[str, float]]:
    buckets: dict[datetime, list[tuple[datetime, float]]] = {}
    for ts, v in points:
        epoch = int(ts.timestamp())
        start = datetime.fromtimestamp(epoch - epoch % int(width.total_seconds()), UTC)
        buckets.setdefault(start, []).append((ts, v))
    combine = {
        "avg": lambda xs: sum(v for _, v in xs) / len(xs),
        "min": lambda xs: min(v for _, v in xs),
        "max": lambda xs: max(v for _, v in xs),
        "sum": lambda xs: sum(v for _, v in xs),
        "count": lambda xs: float(len(xs)),
        "last": lambda xs: max(xs)[1],
    }[agg]
    return [(b.isoformat().replace("+00:00", "Z"), combine(xs)) for b, xs in sorted(buckets.items())]


@pytest.mark.parametrize("agg", ["avg", "min", "max", "sum", "count", "last"])
@pytest.mark.parametrize(("interval", "width"), [("5m", timedelta(minutes=5)), ("1h", timedelta(hours=1))])
def test_aggregations_from_rollups_match_raw(api, tenant, inverter, store, agg, interval, width) -> None:
    points = _load(store, tenant.tenant.id, inverter["id"])
    response = api.get(
        "/api/v1/telemetry",
        asset_id=inverter["id"],
        metric="ac_power_kw",
        **{"from": START.isoformat(), "to": (START + timedelta(hours=2)).isoformat()},
        interval=interval,
        agg=agg,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["asset_id"], body["metric"], body["interval"], body["agg"]) == (
        inverter["id"],
        "ac_power_kw",
        interval,
        agg,
    )
    got = [(p["ts"], p["value"]) for p in body["points"]]
    expected = _expected(points, width, agg)
    assert [ts for ts, _ in got] == [ts for ts, _ in expected]
    assert [v for _, v in got] == pytest.approx([v for _, v in expected], rel=1e-9)


def test_from_is_rounded_down_to_the_interval(api, tenant, inverter, store) -> None:
    _load(store, tenant.tenant.id, inverter["id"])
    body = api.get(
        "/api/v1/telemetry",
        asset_id=inverter["id"],
        metric="ac_power_kw",
        **{"from": (START + timedelta(minutes=7)).isoformat(), "to": (START + timedelta(minutes=30)).isoformat()},
        interval="15m",
        agg="count",
    ).json()
    assert body["from"] == (START).isoformat().replace("+00:00", "Z")
    assert [p["value"] for p in body["points"]] == [90.0, 90.0]


def test_latest_value_per_metric(api, tenant, inverter, store) -> None:
    points = _load(store, tenant.tenant.id, inverter["id"])
    response = api.get(f"/api/v1/assets/{inverter['id']}/latest")
    assert response.status_code == 200, response.text
    metrics = response.json()["metrics"]
    assert set(metrics) == {"ac_power_kw", "heatsink_temp_c"}
    assert metrics["ac_power_kw"]["value"] == points[-1][1]
    assert metrics["ac_power_kw"]["ts"] == points[-1][0].isoformat().replace("+00:00", "Z")
    assert metrics["heatsink_temp_c"]["value"] == 61.5


def test_other_tenants_telemetry_is_not_found(http, api, other_tenant, inverter) -> None:
    stranger = ApiClient(http, other_tenant.keys[Role.admin.value])
    assert_problem(stranger.get("/api/v1/telemetry", asset_id=inverter["id"], metric="ac_power_kw"), 404)
    assert_problem(stranger.get(f"/api/v1/assets/{inverter['id']}/latest"), 404)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"metric": "rotor_rpm"}, "query.metric"),  # a turbine metric, not an inverter's
        ({"interval": "2m"}, "query.interval"),
        ({"agg": "median"}, "query.agg"),
        ({"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "query.from"),
        ({"from": "2026-01-01T00:00:00Z", "to": "2026-01-08T00:00:01Z", "interval": "1m"}, "query.interval"),
        ({"to": "yesterday"}, "query.to"),
    ],
)
def test_bad_queries_are_problems_naming_the_field(api, inverter, params, field) -> None:
    query = {"asset_id": inverter["id"], "metric": "ac_power_kw"} | params
    assert_problem(api.get("/api/v1/telemetry", **query), 422, field)


def test_at_most_ten_thousand_points(api, inverter) -> None:
    ok = {"from": "2026-01-01T00:00:00Z", "to": "2026-01-07T22:40:00Z", "interval": "1m"}  # exactly 10,000
    assert api.get("/api/v1/telemetry", asset_id=inverter["id"], metric="ac_power_kw", **ok).status_code == 200


def _stream_records_of(settings, tenant_id: str) -> list[dict]:
    kinesis = clients.aws_client("kinesis", settings)
    found = []
    for shard in kinesis.list_shards(StreamName=settings.kinesis_stream)["Shards"]:
        iterator = kinesis.get_shard_iterator(
            StreamName=settings.kinesis_stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            page = kinesis.get_records(ShardIterator=iterator, Limit=10_000)
            for r in page["Records"]:
                try:  # other tests put malformed records on the shared stream on purpose
                    doc = orjson.loads(r["Data"])
                except orjson.JSONDecodeError:
                    continue
                if isinstance(doc, dict) and doc.get("tenant_id") == tenant_id:
                    found.append({"key": r["PartitionKey"], **doc})
            iterator = page.get("NextShardIterator") if page["Records"] else None
    return found


def _record(site_id: str, asset_id: str, **extra) -> dict:
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    return {"v": 1, "site_id": site_id, "asset_id": asset_id, "readings": [{"ts": now_ms, "metrics": extra}]}


def test_submitted_records_go_to_the_stream_with_the_keys_tenant(api, tenant, inverter, settings) -> None:
    records = [
        _record(inverter["site_id"], inverter["id"], ac_power_kw=512.5),
        _record(inverter["site_id"], inverter["id"], heatsink_temp_c=48.0) | {"tenant_id": tenant.tenant.id},
    ]
    response = api.post("/api/v1/telemetry/ingest", {"records": records})
    assert response.status_code == 202, response.text
    assert response.json() == {"accepted": 2}
    on_stream = _stream_records_of(settings, tenant.tenant.id)
    assert [r["key"] for r in on_stream] == [inverter["id"], inverter["id"]]
    assert [r["readings"][0]["metrics"] for r in on_stream] == [{"ac_power_kw": 512.5}, {"heatsink_temp_c": 48.0}]
    # a single bare record is accepted too
    single = api.post("/api/v1/telemetry/ingest", _record(inverter["site_id"], inverter["id"], ac_power_kw=1.0))
    assert single.status_code == 202 and single.json() == {"accepted": 1}


def test_a_bad_record_refuses_the_whole_request(http, api, tenant, other_tenant, inverter, settings) -> None:
    good = _record(inverter["site_id"], inverter["id"], ac_power_kw=1.0)
    cases = [
        ([good, _record(inverter["site_id"], inverter["id"], rotor_rpm=12.0)], "body.records.1"),
        ([good | {"tenant_id": other_tenant.tenant.id}], "body.records.0.tenant_id"),
        ([_record(inverter["site_id"], "ast_nope", ac_power_kw=1.0)], "body.records.0"),
        ([good | {"readings": [{"ts": "tomorrow", "metrics": {"ac_power_kw": 1}}]}], "body.records.0"),
        ([], "body.records"),
        ([good] * 501, "body.records"),
    ]
    for records, field in cases:
        problem = assert_problem(api.post("/api/v1/telemetry/ingest", {"records": records}), 422, field)
        assert problem["detail"]
    # another tenant cannot post readings for this tenant's asset: it reads as unknown
    stranger = ApiClient(http, other_tenant.keys[Role.admin.value])
    assert_problem(stranger.post("/api/v1/telemetry/ingest", {"records": [good]}), 422, "body.records.0")
    # viewers read, they do not write
    viewer = ApiClient(http, tenant.keys[Role.viewer.value])
    assert_problem(viewer.post("/api/v1/telemetry/ingest", {"records": [good]}), 403)
    assert _stream_records_of(settings, tenant.tenant.id) == []
    assert _stream_records_of(settings, other_tenant.tenant.id) == []
