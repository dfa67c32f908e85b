"""The HTTP contract shared by every route: problem+json, body limits, docs (the whole truth), health."""

from __future__ import annotations

import subprocess
import sys
import uuid

import jsonschema
import pytest

from dcmms.api.app import create_app
from dcmms.health import HealthChecker
from dcmms.telemetry.postgres import TelemetryStore
from dcmms_dev.seed import provision_tenant
from dcmms_dev.servers import free_port, start_redis
from tests.support.api import PROBLEM, ApiClient, assert_problem
from tests.support.waiting import projected

JSON = "application/json"


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
    assert body["status"] == "healthy", body
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

    nowhere = f"http://127.0.0.1:{free_port()}"
    dead = settings.model_copy(update={"aws_endpoint_url": nowhere, "dynamodb_endpoint_url": nowhere})
    app = create_app(settings, health_checker=HealthChecker(dead))
    with TestClient(app) as client:
        response = client.get("/health")
        assert response.status_code == 503 and response.json()["status"] == "unhealthy"
        assert response.json()["checks"]["dynamodb"] == "unhealthy"
        ready = client.get("/ready")
        assert ready.status_code == 503 and ready.json() == {"status": "not_ready"}


# -- the OpenAPI document tells the whole truth -----------------------------------------------------------

PROBLEM_CONTENT = {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}
BODY_STATUSES = {"400", "413", "415", "422"}
KEY_STATUSES = {"401", "429", "503"}


@pytest.fixture(scope="module")
def spec(http) -> dict:
    return http.get("/openapi.json").json()


def assert_documented(spec: dict, method: str, path: str, response) -> None:
    """The answer is one the document lists for the operation: its status, its media type and, for a
    problem, the Problem schema."""
    documented = spec["paths"][path][method.lower()]["responses"]
    status = str(response.status_code)
    assert status in documented, f"{method} {path} answered {status}; documented: {sorted(documented)}"
    media_type = response.headers["content-type"].split(";")[0]
    assert media_type in documented[status].get("content", {}), (media_type, documented[status])
    if media_type == PROBLEM:
        jsonschema.validate(response.json(), spec["components"]["schemas"]["Problem"])


ADMIN_READS = ("/api/v1/users", "/api/v1/users/{user_id}", "/api/v1/api-keys", "/api/v1/audit")


def test_every_error_is_documented_as_a_problem_from_what_the_operation_does(spec) -> None:
    assert {"type", "title", "status", "detail"} <= set(spec["components"]["schemas"]["Problem"]["required"])
    assert "HTTPValidationError" not in spec["components"]["schemas"]  # FastAPI's 422 is not this API's
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            responses = set(op["responses"])
            headers = {p["name"] for p in op.get("parameters", []) if p["in"] == "header"}
            for status in responses - {"200", "201", "202", "204", "304"}:
                if path not in ("/health", "/ready"):  # their 503 is the health report itself
                    assert op["responses"][status]["content"] == PROBLEM_CONTENT, (method, path, status)
            # a JSON body: unreadable, too large, not JSON, invalid
            assert (responses >= BODY_STATUSES) == ("requestBody" in op), (method, path)
            if "requestBody" not in op:
                assert not {"400", "413", "415"} & responses, (method, path)
            if "security" in op:  # the key, then rate limits that may fail closed; writes check the role, and
                # so do the reads of who may call the API (admins only)
                checked = method != "get" or path in ADMIN_READS
                assert responses >= KEY_STATUSES and (("403" in responses) == checked), (method, path)
            elif path.startswith("/api/v1/"):
                assert not (KEY_STATUSES | {"403"}) & responses, (method, path)
            by_query_id = ("/api/v1/telemetry", "/api/v1/energy", "/api/v1/pm-overdue")  # an object named in the query
            assert ("404" in responses) == ("{" in path or path in by_query_id), (method, path)
            assert {"409", "412"} <= responses if "If-Match" in headers else "412" not in responses, (method, path)
            if method == "get" and path.startswith("/api/v1/"):
                assert "304" in responses and "If-None-Match" in headers, path
            if "429" in responses:
                assert "Retry-After" in op["responses"]["429"]["headers"]
    # and nothing more than it can answer
    assert set(spec["paths"]["/api/v1/sites/{site_id}"]["get"]["responses"]) == {
        "200",
        "304",
        "401",
        "404",
        "429",
        "503",
    }
    assert set(spec["paths"]["/api/v1/sites"]["post"]["responses"]) == {"201"} | BODY_STATUSES | KEY_STATUSES | {"403"}


def test_request_schemas_carry_the_validators_constraints(spec) -> None:
    schemas = spec["components"]["schemas"]
    timezone = schemas["SiteCreate"]["properties"]["timezone"]
    assert "Europe/Madrid" in timezone["enum"] and "Mars/Olympus_Mons" not in timezone["enum"]
    assert schemas["SitePatch"]["properties"]["timezone"]["enum"] == timezone["enum"]
    assert schemas["SiteCreate"]["properties"]["name"]["pattern"] == r"\S"  # whitespace is stripped first
    assert schemas["SitePatch"]["properties"]["name"]["type"] == "string"  # null would be refused
    assert schemas["WorkOrderCreate"]["properties"]["status"]["enum"] == ["draft", "open"]
    assert schemas["AlertRuleCreate"]["anyOf"]  # 'in' takes values, the other conditions a threshold
    params = {p["name"]: p for p in spec["paths"]["/api/v1/sites"]["get"]["parameters"]}
    assert params["limit"]["schema"]["minimum"] == 1 and params["limit"]["schema"]["maximum"] == 1000
    telemetry = {p["name"]: p for p in spec["paths"]["/api/v1/telemetry"]["get"]["parameters"]}
    assert "heatsink_temp_c" in telemetry["metric"]["schema"]["enum"]
    assert schemas["StatusChange"]["required"][0] == "from_status"  # what a work order's history holds


def test_the_statuses_fuzzing_rarely_meets_are_documented_answers(api, http, spec) -> None:
    site_id = api.site()["id"]
    headers = {"x-api-key": api.key}
    # a body that is not UTF-8: 400; JSON that does not parse: 422
    not_utf8 = http.post("/api/v1/sites", content=b'{"name": "\xff"}', headers=headers | {"content-type": JSON})
    assert_problem(not_utf8, 400)
    assert_documented(spec, "POST", "/api/v1/sites", not_utf8)
    broken = http.post("/api/v1/sites", content=b"{not json", headers=headers | {"content-type": JSON})
    assert_documented(spec, "POST", "/api/v1/sites", broken)
    # a body that is not JSON, or says nothing of its type: 415
    as_text = http.post("/api/v1/sites", content=b'{"name": "x"}', headers=headers | {"content-type": "text/plain"})
    assert_problem(as_text, 415)
    assert_documented(spec, "POST", "/api/v1/sites", as_text)
    untyped = http.patch(f"/api/v1/sites/{site_id}", content=b'{"name": "x"}', headers=headers)
    assert_problem(untyped, 415)
    assert_documented(spec, "PATCH", "/api/v1/sites/{site_id}", untyped)
    # while a JSON merge patch is JSON
    merge_patch = {"content-type": "application/merge-patch+json"}
    renamed = http.patch(f"/api/v1/sites/{site_id}", content=b'{"name": "Renamed"}', headers=headers | merge_patch)
    assert renamed.status_code == 200 and renamed.json()["name"] == "Renamed"
    # too large: 413
    too_large = api.post("/api/v1/alerts", {"asset_id": "a", "severity": "minor", "message": "m" * (1024 * 1024)})
    assert_problem(too_large, 413)
    assert_documented(spec, "POST", "/api/v1/alerts", too_large)


def test_a_rate_limit_refusal_is_a_documented_answer(http, spec) -> None:
    key = provision_tenant(f"t-429-{uuid.uuid4().hex[:8]}", "Busy operator", tier_keys=True).tier_keys["free"]
    client = ApiClient(http, key)
    assert all(client.get("/api/v1/sites").status_code == 200 for _ in range(100))  # the free burst
    refused = client.post("/api/v1/work-orders", {"site_id": "s", "title": "t", "type": "inspection"})
    assert_problem(refused, 429)
    assert_documented(spec, "POST", "/api/v1/work-orders", refused)
    assert int(refused.headers["retry-after"]) >= 1


def test_every_get_documented_as_conditional_revalidates_to_304(api, settings, spec, streams_poller) -> None:
    store = TelemetryStore(settings.database_url)
    store.migrate()
    store.close()
    site = api.site()
    asset = api.asset(site["id"])
    ids = {
        "site_id": site["id"],
        "asset_id": asset["id"],
        "work_order_id": api.work_order(site["id"])["id"],
        "alert_id": api.alert(asset["id"])["id"],
        "rule_id": api.post(
            "/api/v1/alert-rules",
            {"name": "Hot", "asset_type": "inverter", "metric": "heatsink_temp_c", "condition": ">", "threshold": 80}
            | {"severity": "minor"},
        ).json()["id"],
        # no reports function runs here: the report stays queued, so its answer is stable (once ready, each
        # answer carries a freshly signed link and never revalidates)
        "report_id": api.post("/api/v1/reports", {"type": "work-order-backlog"}).json()["id"],
        "subscription_id": api.post(
            "/api/v1/report-subscriptions", {"type": "fleet-monthly", "recipients": ["a@example.com"]}
        ).json()["id"],
        "procedure_id": api.post(
            "/api/v1/procedures", {"name": "Check", "steps": [{"title": "Tick"}], "estimated_duration_min": 5}
        ).json()["id"],
        "user_id": api.post(
            "/api/v1/users",
            {"email": f"{site['tenant_id']}@example.com", "role": "viewer", "temporary_password": "Tmp-password-123"},
        ).json()["id"],
    }
    ids["schedule_id"] = api.post(
        "/api/v1/pm-schedules",
        {"name": "Monthly check", "procedure_id": ids["procedure_id"], "site_id": site["id"]}
        | {"trigger": {"kind": "calendar", "every": 1, "unit": "months", "anchor": "2027-01-04"}},
    ).json()["id"]
    # searched and dashboards read the read model: wait until the stream has brought these, or the second
    # answer may differ from the first
    rows = {"sites": [site["id"]], "assets": [asset["id"]], "work_orders": [ids["work_order_id"]]}
    assert projected(settings.database_url, site["tenant_id"], rows | {"alerts": [ids["alert_id"]]})
    # (a series that ends "now" changes with every second; one with both ends given does not)
    span = {"from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z"}
    query = {
        "/api/v1/telemetry": {"asset_id": asset["id"], "metric": "heatsink_temp_c"} | span,
        "/api/v1/search": {"q": "inverter"},
        "/api/v1/assets/{asset_id}/reliability": span,
    }
    conditional = [p for p, ops in spec["paths"].items() if "304" in ops.get("get", {}).get("responses", {})]
    assert "/api/v1/assets/{asset_id}/latest" in conditional and "/health" not in conditional
    for template in conditional:
        path = template.format(**ids)
        first = api.get(path, **query.get(template, {}))
        assert first.status_code == 200 and first.headers["etag"], (path, first.text)
        again = api.get(path, headers={"if-none-match": first.headers["etag"]}, **query.get(template, {}))
        assert again.status_code == 304 and not again.content, path
        assert_documented(spec, "GET", template, first)


def test_the_document_is_built_on_request_not_at_cold_start() -> None:
    code = (
        "import sys, functions.api.handler as h; "
        "print(h.app.openapi_schema is None, "
        "[m for m in ('dcmms.api.openapi', 'dcmms.telemetry.metric_names') if m in sys.modules])"
    )
    env = {"DCMMS_TRACING": "false", "PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": "us-east-1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip().endswith("True []"), out.stdout + out.stderr
