"""Structured logs through the real app and the Lambda handler: correlation ids, and no secrets."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from dcmms.api.app import create_app
from dcmms.config import get_settings
from dcmms.observability import logger
from dcmms_dev.events import FakeLambdaContext, api_gateway_event
from tests.support.api import assert_problem
from tests.support.handlers import import_handler

BEARER = "Bearer eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXBheWxvYWQ.c2lnbmF0dXJl"
# A well-formed key that no tenant has: a 401 must not echo it into the logs either.
UNKNOWN_KEY = "dcmms_" + "Zz9-" * 10 + "abc"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Every line the dcmms logger writes during the test, at DEBUG, as the Powertools formatter writes it."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logger.registered_formatter)
    level = logger.log_level
    logger.addHandler(handler)
    logger.setLevel("DEBUG")
    yield buffer
    logger.setLevel(level)
    logger.removeHandler(handler)


def _lines(buffer: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_requests_log_the_correlation_id_and_never_the_api_key_or_credentials(http, api, captured) -> None:
    # given requests carrying an API key, an Authorization header and a token in the query string
    secrets = {"authorization": BEARER, "x-correlation-id": "cid-logs-1"}
    ok = api.get("/api/v1/sites", headers=secrets, token="query-secret-123")
    refused = http.get("/api/v1/sites", headers={"x-api-key": UNKNOWN_KEY, "authorization": BEARER})
    # then each response carries its correlation id, the client's when it sent one
    assert ok.status_code == 200 and ok.headers["x-correlation-id"] == "cid-logs-1"
    assert_problem(refused, 401)
    assert refused.headers["x-correlation-id"]
    # and the request lines carry route, status and the same id
    lines = _lines(captured)
    mine = [line for line in lines if line.get("correlation_id") == "cid-logs-1"]
    assert any(
        line["message"] == "request" and line["route"] == "/api/v1/sites" and line["status"] == 200 for line in mine
    )
    assert any(line.get("correlation_id") == refused.headers["x-correlation-id"] for line in lines)
    # and no secret appears anywhere in what was logged
    text = captured.getvalue()
    for secret in (api.key, UNKNOWN_KEY, "c2VjcmV0LXBheWxvYWQ", "query-secret-123"):
        assert secret not in text


def test_problem_responses_and_429s_carry_the_correlation_id(settings, tenant) -> None:
    policy = {"tiers": {t: {"limit": 1, "period_s": 3600, "burst": 1} for t in ("free", "pro", "enterprise")}}
    app = create_app(settings.model_copy(update={"rate_limits": json.dumps(policy)}))
    with TestClient(app) as client:
        headers = {"x-api-key": tenant.keys["admin"], "x-correlation-id": "cid-429"}
        assert client.get("/api/v1/sites", headers=headers).status_code == 200
        refused = client.get("/api/v1/sites", headers=headers)
        assert_problem(refused, 429)
        assert refused.headers["x-correlation-id"] == "cid-429"
        invalid = client.get("/api/v1/work-orders?limit=5000", headers={"x-correlation-id": "cid-401"})
        assert_problem(invalid, 401)
        assert invalid.headers["x-correlation-id"] == "cid-401"


@pytest.fixture
def handler_logging_events(stack) -> Iterator:
    """The API Lambda handler imported with POWERTOOLS_LOGGER_LOG_EVENT on: it logs every whole event."""
    env = pytest.MonkeyPatch()
    env.setenv("POWERTOOLS_LOGGER_LOG_EVENT", "true")
    yield import_handler("functions.api.handler", stack[1], env)
    env.undo()
    get_settings.cache_clear()


def test_lambda_events_are_logged_without_secrets_and_correlated_by_the_api_gateway_request_id(
    handler_logging_events, tenant, captured
) -> None:
    # given an API Gateway event with an API key, credentials and API Gateway's own usage-plan key
    event = api_gateway_event("GET", "/api/v1/sites", {"x-api-key": tenant.keys["viewer"], "Authorization": BEARER})
    event["requestContext"]["identity"]["apiKey"] = "usage-plan-key-42"
    request_id = event["requestContext"]["requestId"]
    # when the handler serves it (no correlation header: API Gateway's request id is the correlation id)
    result = handler_logging_events(event, FakeLambdaContext())
    # then the response and the log lines carry that id
    assert result["statusCode"] == 200
    assert {k.lower(): v for k, v in result["headers"].items()}["x-correlation-id"] == request_id
    lines = _lines(captured)
    logged_event = next(line for line in lines if isinstance(line["message"], dict))
    assert logged_event["message"]["requestContext"]["requestId"] == request_id
    assert logged_event["message"]["headers"]["x-api-key"] == "[REDACTED]"
    request_line = next(line for line in lines if line["message"] == "request")
    assert request_line["correlation_id"] == request_id and request_line["apigw_request_id"] == request_id
    # and the event was logged without the key, the credentials or the usage-plan key
    text = captured.getvalue()
    for secret in (tenant.keys["viewer"], "c2VjcmV0LXBheWxvYWQ", "usage-plan-key-42"):
        assert secret not in text
