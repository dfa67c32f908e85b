"""The recording API (Prometheus and EMF from the same calls), the request middleware, log redaction."""

from __future__ import annotations

import io
import json
import logging
import re
import subprocess
import sys
import warnings
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from aws_lambda_powertools.metrics import MetricUnitError
from fastapi import FastAPI
from fastapi.testclient import TestClient

from dcmms.api import observability as api_observability
from dcmms.api import problems
from dcmms.clients.postgres_timed import statement_kind
from dcmms.config import Settings
from dcmms.observability import MetricUnit, logger, metrics, record
from dcmms.observability.logs import REDACTED, correlation_id, redact, serialize_log
from dcmms.observability.prometheus import DB_BUCKETS, HTTP_BUCKETS
from dcmms.telemetry.alerting import EvaluationReport
from dcmms.telemetry.ingest import BatchOutcome
from dcmms_dev.events import api_gateway_event

API_KEY = "dcmms_" + "k" * 43
ROUTE = "/api/v1/work-orders/{work_order_id}"


@pytest.fixture
def emf() -> Iterator[None]:
    """Lambda mode: EMF only, no Prometheus."""
    previous = record.configure(emf=True, prometheus=False)
    yield
    metrics.provider.clear_metrics()
    record.configure(emf=previous[0], prometheus=previous[1])


def _emf_documents(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.startswith('{"_aws"')]


# -- Prometheus ----------------------------------------------------------------------------------------


def test_requests_are_counted_by_route_template_method_and_status_in_the_spec_buckets(sink) -> None:
    for seconds in (0.003, 0.03, 1.5):
        record.request("GET", ROUTE, 200, seconds)
    record.request("GET", ROUTE, 404, 0.002)
    record.request("POST", "/api/v1/sites", 429, 0.001)
    value = sink.registry.get_sample_value
    labels = {"method": "GET", "route": ROUTE, "status_code": "200"}
    assert value("http_requests_total", labels) == 3
    assert value("http_requests_total", {**labels, "status_code": "404"}) == 1
    assert value("http_request_duration_seconds_bucket", {**labels, "le": "0.01"}) == 1
    assert value("http_request_duration_seconds_bucket", {**labels, "le": "0.05"}) == 2
    assert value("http_request_duration_seconds_bucket", {**labels, "le": "2.0"}) == 3
    assert value("rate_limit_refusals_total", {"route": "/api/v1/sites"}) == 1
    buckets = {
        s.labels["le"]
        for m in sink.registry.collect()
        if m.name == "http_request_duration_seconds"
        for s in m.samples
        if s.name.endswith("_bucket")
    }
    assert buckets == {str(float(b)) for b in HTTP_BUCKETS} | {"+Inf"}


def test_database_calls_are_a_histogram_by_system_and_query_type(sink) -> None:
    record.db_query("dynamodb", "GetItem", 0.004)
    record.db_query("dynamodb", "GetItem", 0.02)
    record.db_query("redis", "EVALSHA", 0.0004)
    value = sink.registry.get_sample_value
    get_item = {"system": "dynamodb", "query_type": "GetItem"}
    assert value("database_query_duration_seconds_count", get_item) == 2
    assert value("database_query_duration_seconds_bucket", {**get_item, "le": "0.01"}) == 1
    assert value("database_query_duration_seconds_bucket", {"system": "redis", "query_type": "EVALSHA", "le": "0.001"})
    assert DB_BUCKETS == (0.001, 0.01, 0.05, 0.1, 0.5, 1, 5)


def test_cache_hits_and_misses_are_read_from_the_cache_counters(sink) -> None:
    from dcmms.cache import CacheStats

    stats = CacheStats()
    sink.cache.watch(stats)
    for _ in range(3):
        stats.hit("wo")
    stats.miss("wo")
    stats.drain()  # the Lambda handler's per-invocation drain does not reset the cumulative counts
    stats.hit("wo")
    assert sink.registry.get_sample_value("cache_hits_total", {"keyspace": "wo"}) == 4
    assert sink.registry.get_sample_value("cache_misses_total", {"keyspace": "wo"}) == 1


def test_an_ingest_batch_is_counted_with_its_age(sink) -> None:
    import time

    outcome = BatchOutcome(["s1", "s2"], 10, 8, 1, 40, EvaluationReport(raised=2, resolved=1))
    record.ingest_batch(outcome, time.time() - 30)
    value = sink.registry.get_sample_value
    assert value("ingest_records_total") == 8 and value("ingest_events_total") == 40
    assert value("ingest_failed_records_total") == 2 and value("ingest_dead_letters_total") == 1
    assert value("alerts_raised_total") == 2 and value("alerts_resolved_total") == 1
    assert 29 <= value("ingest_batch_age_seconds") < 40


# -- EMF (Lambda) --------------------------------------------------------------------------------------


def test_in_lambda_figures_are_written_as_emf_when_the_handler_flushes(emf, capsys) -> None:
    # given one request with three Redis calls and a DynamoDB call, recorded in Lambda mode
    record.request("GET", ROUTE, 503, 0.25)
    for seconds in (0.0002, 0.0003, 0.0004):
        record.db_query("redis", "GET", seconds)
    record.db_query("dynamodb", "Query", 0.012)
    assert capsys.readouterr().out == ""  # nothing before the flush
    # when @metrics.log_metrics flushes at the end of the invocation
    metrics.flush_metrics()
    docs = _emf_documents(capsys.readouterr().out)
    # then the request is one document, with route and status class as dimensions
    request_doc = next(d for d in docs if "RequestLatency" in d)
    directive = request_doc["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "dCMMS"
    assert directive["Dimensions"] == [["service", "route", "status_class"], ["service", "status_class"], ["service"]]
    assert request_doc["route"] == f"GET {ROUTE}" and request_doc["status_class"] == "5xx"
    assert request_doc["RequestLatency"] == pytest.approx(250) and request_doc["Requests"] == 1
    # and the call latencies are lists of milliseconds under the service dimension only
    latency_doc = next(d for d in docs if "RedisLatency" in d)
    assert latency_doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service"]]
    assert latency_doc["RedisLatency"] == pytest.approx([0.2, 0.3, 0.4])
    assert latency_doc["DynamoDBLatency"] == pytest.approx([12.0])
    units = {m["Name"]: m["Unit"] for m in latency_doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert units == {"RedisLatency": "Milliseconds", "DynamoDBLatency": "Milliseconds"}
    # and a second flush writes nothing again, without Powertools' empty-metrics warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        metrics.flush_metrics()
    assert _emf_documents(capsys.readouterr().out) == []


def test_in_lambda_an_ingest_batch_goes_into_the_invocation_metrics(emf, capsys) -> None:
    import time

    record.ingest_batch(BatchOutcome(["s9"], 3, 3, 1, 12, None), time.time() - 2)
    metrics.flush_metrics()
    doc = next(d for d in _emf_documents(capsys.readouterr().out) if "IngestRecords" in d)
    assert (doc["IngestRecords"], doc["IngestEvents"], doc["IngestFailedRecords"], doc["IngestDeadLettered"]) == (
        [3.0],
        [12.0],
        [1.0],
        [1.0],
    )
    assert 1500 <= doc["IngestBatchAge"][0] < 10_000


def test_outside_lambda_powertools_metrics_are_checked_and_dropped_never_printed(sink, capsys) -> None:
    # given Powertools metrics added outside Lambda, as the API does for each request in a Redis outage
    for _ in range(250):  # Powertools alone would print an EMF document at every 100th value
        metrics.add_metric(name="RateLimitFailOpen", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="Warmed_sites", unit=MetricUnit.Count, value=3)
    # when the handler's @metrics.log_metrics flushes
    metrics.flush_metrics()
    # then nothing was printed and nothing is kept
    assert capsys.readouterr().out == ""
    assert not metrics.provider.metric_set
    # and a mistake still shows before deployment
    with pytest.raises(MetricUnitError):
        metrics.add_metric(name="RateLimitFailOpen", unit="Parsecs", value=1)


def test_in_lambda_powertools_metrics_are_emf_when_the_handler_flushes(emf, capsys) -> None:
    metrics.add_metric(name="RateLimitFailOpen", unit=MetricUnit.Count, value=1)
    assert capsys.readouterr().out == ""
    metrics.flush_metrics()
    (doc,) = [d for d in _emf_documents(capsys.readouterr().out) if "RateLimitFailOpen" in d]
    assert doc["RateLimitFailOpen"] == [1.0] and doc["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "dCMMS"


def test_the_runtime_variable_alone_decides_emf_and_logs_stay_json_either_way() -> None:
    code = (
        "from dcmms.observability import MetricUnit, logger, metrics;"
        "metrics.add_metric(name='RateLimitFailOpen', unit=MetricUnit.Count, value=1);"
        "metrics.flush_metrics();"
        "logger.warning('redis unavailable', extra={'error': 'ConnectionError'})"
    )
    env = {"PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": "us-east-1"}
    for in_lambda in (True, False):
        extra = {"AWS_LAMBDA_FUNCTION_NAME": "dcmms-api"} if in_lambda else {}
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env | extra
        ).stdout
        lines = [json.loads(line) for line in out.splitlines()]
        assert [line["RateLimitFailOpen"] for line in lines if "_aws" in line] == ([[1.0]] if in_lambda else [])
        assert [(line["message"], line["error"]) for line in lines if "message" in line] == [
            ("redis unavailable", "ConnectionError")
        ]


def test_in_lambda_prometheus_client_is_not_imported_and_metrics_is_not_served() -> None:
    code = (
        "import sys, functions.api.handler as h;"
        "print('prometheus_client' in sys.modules, any(getattr(r, 'path', '') == '/metrics' for r in h.app.routes))"
    )
    env = {"PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": "us-east-1", "AWS_LAMBDA_FUNCTION_NAME": "dcmms-api"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.split()[-2:] == ["False", "False"]


# -- the request middleware ----------------------------------------------------------------------------


def _tiny_app(settings: Settings) -> FastAPI:
    app = FastAPI()
    app.state.maintenance = SimpleNamespace(cache=None)
    problems.install(app)

    @app.get("/things/{thing_id}")
    def thing(thing_id: str) -> dict[str, str]:
        if thing_id == "boom":
            raise RuntimeError("boom")
        return {"id": thing_id}

    api_observability.install(app, settings)
    return app


def test_the_middleware_counts_by_route_template_and_returns_the_correlation_id(sink) -> None:
    with TestClient(_tiny_app(Settings(environment="test")), raise_server_exceptions=False) as client:
        ok = client.get("/things/1", headers={"x-correlation-id": "req-42"})
        failed = client.get("/things/boom", headers={"x-request-id": "proxy-7"})
        unmatched = client.get("/nothing/here")
        odd = client.request("BREW", "/things/1")
        generated = client.get("/things/2", headers={"x-correlation-id": "bad id\twith spaces"})
        scrape = client.get("/metrics")
    assert ok.headers["x-correlation-id"] == "req-42"
    # a 500 from an unhandled exception is counted as 500 and still carries the id
    assert failed.status_code == 500 and failed.headers["x-correlation-id"] == "proxy-7"
    assert re.fullmatch(r"[0-9a-f-]{36}", unmatched.headers["x-correlation-id"])
    assert re.fullmatch(r"[0-9a-f-]{36}", generated.headers["x-correlation-id"])
    value = sink.registry.get_sample_value
    assert value("http_requests_total", {"method": "GET", "route": "/things/{thing_id}", "status_code": "200"}) == 2
    assert value("http_requests_total", {"method": "GET", "route": "/things/{thing_id}", "status_code": "500"}) == 1
    assert value("http_requests_total", {"method": "GET", "route": "unmatched", "status_code": "404"}) == 1
    assert value("http_requests_total", {"method": "OTHER", "route": "/things/{thing_id}", "status_code": "405"}) == 1
    assert odd.status_code == 405
    assert value("active_connections") == 0
    # the scrape itself is not counted, and it renders this registry in the text format
    assert scrape.status_code == 200 and scrape.headers["content-type"].startswith("text/plain")
    assert 'http_requests_total{method="GET",route="unmatched",status_code="404"} 1.0' in scrape.text
    assert "/metrics" not in scrape.text


def test_metrics_needs_the_token_when_one_is_set_and_is_off_in_deployed_environments(sink) -> None:
    with TestClient(_tiny_app(Settings(environment="prod", metrics_token="s3cret"))) as client:
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"authorization": "Bearer wrong"}).status_code == 401
        assert client.get("/metrics", headers={"authorization": "Bearer s3cret"}).status_code == 200
    with TestClient(_tiny_app(Settings(environment="prod"))) as client:
        assert client.get("/metrics").status_code == 404
    assert "/metrics" not in json.dumps(_tiny_app(Settings(environment="test")).openapi())


def test_correlation_id_comes_from_the_request_else_the_fallback_else_a_new_one() -> None:
    assert correlation_id([(b"x-request-id", b"r-1"), (b"x-correlation-id", b"c-1")]) == "c-1"
    assert correlation_id([(b"x-request-id", b"r-1")]) == "r-1"
    assert correlation_id([(b"x-correlation-id", b"x" * 129)], fallback="apigw-1") == "apigw-1"
    assert correlation_id([(b"x-correlation-id", b'a"b')], fallback="apigw-1") == "apigw-1"
    assert re.fullmatch(r"[0-9a-f-]{36}", correlation_id([]))


# -- logs ----------------------------------------------------------------------------------------------


def test_redaction_masks_secret_keys_at_any_depth_and_keys_in_text() -> None:
    event = api_gateway_event("GET", "/api/v1/sites", {"x-api-key": API_KEY, "Authorization": "Bearer tok-123"})
    event["requestContext"]["identity"]["apiKey"] = "gw-usage-plan-key"
    out = json.dumps(redact({"message": event, "note": f"client sent {API_KEY}", "password": "hunter2"}))
    for secret in (API_KEY, "tok-123", "gw-usage-plan-key", "hunter2"):
        assert secret not in out
    assert out.count(REDACTED) >= 6  # header and multi-value header of each, identity.apiKey, note, password
    assert redact({"key_hash": "abc", "route": "/x", "n": 3}) == {"key_hash": "abc", "route": "/x", "n": 3}


def test_the_logger_writes_json_without_secrets() -> None:
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logger.registered_formatter)
    logger.addHandler(handler)
    try:
        logger.info("headers seen", extra={"headers": {"x-api-key": API_KEY, "authorization": "Basic dXNlcjpwYXNz"}})
        try:
            raise ValueError(f"bad key {API_KEY}")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    lines = [json.loads(line) for line in buffer.getvalue().splitlines()]
    assert [line["message"] for line in lines] == ["headers seen", "failed"]
    assert lines[0]["headers"] == {"x-api-key": REDACTED, "authorization": REDACTED}
    assert API_KEY not in buffer.getvalue() and "dXNlcjpwYXNz" not in buffer.getvalue()
    assert serialize_log({"n": 1}) == '{"n":1}'


# -- database call timing ------------------------------------------------------------------------------


def test_statement_kind_is_the_first_keyword_from_a_closed_list() -> None:
    from psycopg import sql

    assert statement_kind("  select 1") == "SELECT"
    assert statement_kind(b"COPY t FROM STDIN") == "COPY"
    assert statement_kind(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier("t"))) == "DROP"
    assert statement_kind("EXPLAIN SELECT 1") == "OTHER"
    assert statement_kind("") == "OTHER"


def test_dynamodb_calls_are_timed_through_botocore_events_including_failures(sink) -> None:
    import botocore.session
    from botocore.stub import Stubber

    from dcmms.store.timing import instrument_client

    client = botocore.session.get_session().create_client(
        "dynamodb", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y"
    )
    instrument_client(client)  # before the stubber, whose before-call answers the call
    with Stubber(client) as stub:
        stub.add_response("get_item", {"Item": {"id": {"S": "1"}}})
        stub.add_client_error("put_item", "ConditionalCheckFailedException")
        client.get_item(TableName="t", Key={"id": {"S": "1"}})
        with pytest.raises(client.exceptions.ConditionalCheckFailedException):
            client.put_item(TableName="t", Item={"id": {"S": "1"}})
    value = sink.registry.get_sample_value
    assert value("database_query_duration_seconds_count", {"system": "dynamodb", "query_type": "GetItem"}) == 1
    assert value("database_query_duration_seconds_count", {"system": "dynamodb", "query_type": "PutItem"}) == 1
