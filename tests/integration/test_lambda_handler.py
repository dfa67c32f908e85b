"""The API through the real Lambda entry point, with canonical API Gateway REST events."""

from __future__ import annotations

import json

import pytest

from dcmms.config import get_settings
from dcmms_dev.events import FakeLambdaContext, api_gateway_event
from tests.support.handlers import import_handler


@pytest.fixture(scope="module")
def handler(stack):
    """Import functions.api.handler as Lambda would: settings from the environment at cold start."""
    env = pytest.MonkeyPatch()
    yield import_handler("functions.api.handler", stack[1], env)
    env.undo()
    get_settings.cache_clear()


def _invoke(handler, method, url, key=None, body=None, headers=None):
    hdrs = {"x-api-key": key} if key else {}
    hdrs.update(headers or {})
    result = handler(api_gateway_event(method, url, hdrs, body), FakeLambdaContext())
    assert result["isBase64Encoded"] is False  # JSON and problem+json bodies travel as text
    return result["statusCode"], {k.lower(): v for k, v in result["headers"].items()}, result["body"]


def test_crud_through_the_lambda_handler(handler, tenant) -> None:
    key = tenant.keys["admin"]
    status, headers, body = _invoke(
        handler,
        "POST",
        "/api/v1/sites",
        key,
        {"name": "Lambda PV", "kind": "solar", "capacity_mw": 10, "timezone": "UTC"},
    )
    assert status == 201, body
    site = json.loads(body)
    assert headers["location"] == f"/api/v1/sites/{site['id']}"
    status, _, body = _invoke(
        handler,
        "POST",
        "/api/v1/work-orders",
        key,
        {"site_id": site["id"], "title": "Check", "type": "inspection", "priority": "high"},
    )
    wo = json.loads(body)
    status, headers, body = _invoke(handler, "GET", f"/api/v1/work-orders/{wo['id']}", key)
    assert status == 200 and headers["etag"] == '"v1"' and json.loads(body)["title"] == "Check"
    status, _, body = _invoke(handler, "GET", f"/api/v1/work-orders?site_id={site['id']}&status=draft&limit=5", key)
    assert status == 200 and [i["id"] for i in json.loads(body)["items"]] == [wo["id"]]
    status, _, body = _invoke(handler, "POST", f"/api/v1/work-orders/{wo['id']}/transitions", key, {"to": "closed"})
    assert status == 409 and json.loads(body)["allowed"] == ["open", "cancelled"]


def test_errors_through_the_lambda_handler(handler, tenant) -> None:
    status, headers, body = _invoke(handler, "GET", "/api/v1/sites")
    assert status == 401 and headers["content-type"] == "application/problem+json"
    status, _, body = _invoke(handler, "GET", "/api/v1/work-orders?limit=5000", tenant.keys["viewer"])
    assert status == 422 and json.loads(body)["errors"][0]["field"] == "query.limit"
    status, _, _ = _invoke(
        handler,
        "POST",
        "/api/v1/sites",
        tenant.keys["viewer"],
        {"name": "x", "kind": "solar", "capacity_mw": 1, "timezone": "UTC"},
    )
    assert status == 403
    status, _, _ = _invoke(handler, "POST", "/api/v1/sites", tenant.keys["admin"], "x" * (1024 * 1024 + 1))
    assert status == 413


def test_health_through_the_lambda_handler(handler) -> None:
    status, _, body = _invoke(handler, "GET", "/health")
    assert status == 200 and json.loads(body)["status"] == "healthy", body
