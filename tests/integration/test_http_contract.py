"""The HTTP contract shared by every route: problem+json, body limits, docs, health."""

from __future__ import annotations

from dcmms.api.app import create_app
from dcmms.health import HealthChecker
from dcmms.local.servers import free_port, start_redis
from tests.support.api import assert_problem


def test_malformed_json_is_422_naming_the_body(api) -> None:
    response = api.http.post(
        "/api/v1/sites", content=b"{not json", headers={"x-api-key": api.key, "content-type": "application/json"}
    )
    body = assert_problem(response, 422)
    assert body["errors"][0]["field"].startswith("body")


def test_body_over_one_mebibyte_is_413(api) -> None:
    big = {"site_id": "s", "title": "x", "type": "inspection", "description": "a" * (1024 * 1024)}
    assert_problem(api.post("/api/v1/work-orders", big), 413)


def test_unknown_route_and_method_are_problems(api) -> None:
    assert_problem(api.get("/api/v1/nothing-here"), 404)
    assert_problem(api.http.put("/api/v1/sites", headers={"x-api-key": api.key}), 405)


def test_openapi_and_docs(http) -> None:
    spec = http.get("/openapi.json").json()
    assert "/api/v1/work-orders/{work_order_id}/transitions" in spec["paths"]
    assert {"WorkOrder", "Site", "Asset", "Alert", "ChecklistItem"} <= set(spec["components"]["schemas"])
    assert spec["components"]["schemas"]["WorkOrder"]["properties"]["checklist"]["items"]["$ref"].endswith(
        "ChecklistItem"
    )
    assert spec["components"]["securitySchemes"]["APIKeyHeader"]["name"] == "x-api-key"
    assert "swagger" in http.get("/docs").text.lower()


def test_health_is_healthy_with_every_dependency(http) -> None:
    response = http.get("/health")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "healthy"
    assert {k: body["checks"][k] for k in ("dynamodb", "redis", "postgres", "kinesis")} == dict.fromkeys(
        ("dynamodb", "redis", "postgres", "kinesis"), "healthy"
    )
    assert body["checks"]["memory"]["status"] == "healthy" and body["uptime"] >= 0 and body["timestamp"]
    assert http.get("/ready").json() == {"status": "ready"}


def test_redis_down_is_degraded_but_200(settings, tmp_path) -> None:
    from fastapi.testclient import TestClient

    # given a Redis that was up and then crashed
    redis = start_redis(tmp_path)
    degraded_settings = settings.model_copy(update={"redis_url": redis.url})
    app = create_app(settings, health_checker=HealthChecker(degraded_settings))
    with TestClient(app) as client:
        assert client.get("/health").json()["status"] == "healthy"
        redis.kill()
        # when health is asked, then it answers 200 degraded, and readiness still holds
        response = client.get("/health")
        assert response.status_code == 200
        assert response.json()["status"] == "degraded" and response.json()["checks"]["redis"] == "unhealthy"
        assert client.get("/ready").status_code == 200
    redis.stop()


def test_dynamodb_down_is_unhealthy_503_and_not_ready(settings) -> None:
    from fastapi.testclient import TestClient

    dead = settings.model_copy(update={"aws_endpoint_url": f"http://127.0.0.1:{free_port()}"})
    app = create_app(settings, health_checker=HealthChecker(dead))
    with TestClient(app) as client:
        response = client.get("/health")
        assert response.status_code == 503 and response.json()["status"] == "unhealthy"
        assert response.json()["checks"]["dynamodb"] == "unhealthy"
        ready = client.get("/ready")
        assert ready.status_code == 503 and ready.json() == {"status": "not_ready"}
