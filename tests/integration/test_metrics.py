"""GET /metrics after real traffic: the spec's names, counts per route template and status, store calls."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from dcmms.config import get_settings
from dcmms.observability import record
from dcmms_dev.events import FakeLambdaContext, api_gateway_event, kinesis_event
from tests.support.handlers import import_handler, telemetry_record

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
WO = "/api/v1/work-orders/{work_order_id}"


def scrape(http) -> Samples:
    response = http.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of ``name`` over the series whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


def test_metrics_count_requests_by_route_template_and_status(http, api) -> None:
    # given a tenant's fleet created through the API
    before = scrape(http)
    site = api.site()
    wo = api.work_order(site["id"])
    # when it reads a work order three times, misses one, and makes an unauthenticated and an unrouted call
    for _ in range(3):
        assert api.get(f"/api/v1/work-orders/{wo['id']}").status_code == 200
    assert api.get("/api/v1/work-orders/wo_missing").status_code == 404
    assert http.get("/api/v1/sites").status_code == 401
    assert api.get("/api/v1/no-such-thing").status_code == 404
    after = scrape(http)

    def delta(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    # then each request is counted once under its route template (never its raw path) and status
    assert delta("http_requests_total", method="GET", route=WO, status_code="200") == 3
    assert delta("http_requests_total", method="GET", route=WO, status_code="404") == 1
    assert delta("http_requests_total", method="POST", route="/api/v1/sites", status_code="201") == 1
    assert delta("http_requests_total", method="POST", route="/api/v1/work-orders", status_code="201") == 1
    assert delta("http_requests_total", method="GET", route="/api/v1/sites", status_code="401") == 1
    assert delta("http_requests_total", method="GET", route="unmatched", status_code="404") == 1
    assert delta("http_requests_total") == 8
    assert not any(wo["id"] in dict(labels).get("route", "") for _, labels in after)
    # and the duration histogram agrees with the counter, in the spec's buckets
    assert delta("http_request_duration_seconds_count", route=WO, status_code="200") == 3
    assert delta("http_request_duration_seconds_bucket", route=WO, status_code="200", le="+Inf") == 3
    les = {dict(labels)["le"] for name, labels in after if name == "http_request_duration_seconds_bucket"}
    assert les == {"0.01", "0.05", "0.1", "0.5", "1.0", "2.0", "5.0", "+Inf"}
    # and the stores behind those requests were timed: DynamoDB writes, Redis reads and scripts
    assert delta("database_query_duration_seconds_count", system="dynamodb") >= 2
    dynamodb_ops = {
        dict(ls)["query_type"] for n, ls in after if n.startswith("database_") and ("system", "dynamodb") in ls
    }
    assert dynamodb_ops & {"PutItem", "TransactWriteItems", "UpdateItem"}
    assert delta("database_query_duration_seconds_count", system="redis", query_type="EVALSHA") >= 6
    assert delta("database_query_duration_seconds_count", system="redis") >= 8
    db_les = {dict(ls)["le"] for n, ls in after if n == "database_query_duration_seconds_bucket"}
    assert db_les == {"0.001", "0.01", "0.05", "0.1", "0.5", "1.0", "5.0", "+Inf"}
    # and the repeated reads were cache hits; nothing is in flight between requests
    assert delta("cache_hits_total") >= 2
    assert after[("active_connections", frozenset())] == 0
    assert ("process_resident_memory_bytes", frozenset()) in after


def test_metrics_is_not_in_the_openapi_document(http) -> None:
    assert "/metrics" not in http.get("/openapi.json").json()["paths"]


def test_ingest_batches_and_their_postgresql_writes_are_counted(http, ingest_handler, api, tenant) -> None:
    # given a batch with two good records and a malformed one
    site = api.site()
    inv = api.asset(site["id"], type="inverter")
    now = datetime.now(UTC).replace(microsecond=0)
    good = [
        telemetry_record(
            tenant.tenant.id, site["id"], inv["id"], now - timedelta(seconds=s), ac_power_kw=5.0, heatsink_temp_c=40.0
        )
        for s in (30, 20)
    ]
    event = kinesis_event([(inv["id"], good[0]), (inv["id"], b"{not json"), (inv["id"], good[1])], first_sequence=7000)
    before = scrape(http)
    # when the ingest function handles it
    ingest_handler(event, FakeLambdaContext())
    after = scrape(http)

    def delta(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    # then the batch's figures are counted (the malformed record is dead-lettered, not reported for a
    # retry), and the PostgreSQL statements of the write were timed
    assert delta("ingest_records_total") == 2
    assert delta("ingest_events_total") == 4
    assert delta("ingest_failed_records_total") == 0
    assert delta("ingest_dead_letters_total") == 1
    assert 0 <= after[("ingest_batch_age_seconds", frozenset())] < 120
    assert delta("database_query_duration_seconds_count", system="postgresql", query_type="COPY") >= 1
    assert delta("database_query_duration_seconds_count", system="postgresql") >= 2


@pytest.fixture
def lambda_handler(stack) -> Iterator:
    """functions.api.handler as Lambda imports it."""
    env = pytest.MonkeyPatch()
    yield import_handler("functions.api.handler", stack[1], env)
    env.undo()
    get_settings.cache_clear()


def test_the_lambda_handler_writes_request_and_store_figures_as_emf(lambda_handler, api, capsys) -> None:
    # given a work order
    site = api.site()
    wo = api.work_order(site["id"])
    capsys.readouterr()
    # when the Lambda handler, with the recording API in Lambda (EMF) mode, serves a GET of it
    previous = record.configure(emf=True, prometheus=False)
    try:
        event = api_gateway_event("GET", f"/api/v1/work-orders/{wo['id']}", {"x-api-key": api.key})
        result = lambda_handler(event, FakeLambdaContext())
    finally:
        record.configure(emf=previous[0], prometheus=previous[1])
    assert result["statusCode"] == 200
    docs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    # then one EMF document has the request by route template and status class
    request_doc = next(d for d in docs if "RequestLatency" in d)
    assert request_doc["route"] == f"GET {WO}" and request_doc["status_class"] == "2xx"
    assert request_doc["Requests"] == 1 and request_doc["RequestLatency"] > 0
    # and the invocation's Redis calls are there as latencies, beside Powertools' own cache counts
    assert any("RedisLatency" in d for d in docs)
    assert any("CacheHits" in d or "CacheMisses" in d for d in docs)
