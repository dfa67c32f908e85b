"""API Gateway: the request authorizer and an API key on every method, usage plans and the people usage keys from
limits.json, problem+json gateway responses, stage throttles and logs, concurrency."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from dcmms.catalogue import by_name
from tests.infra.conftest import Synthesis, acknowledgments, function_by_name, only, render, resources

LIMITS = Path(__file__).resolve().parents[2] / "shared" / "dcmms" / "ratelimit" / "limits.json"
ACCOUNT_BURST = 5000


def _tiers() -> dict[str, dict]:
    """The tiers straight from the file the application enforces (not through the CDK's own reading)."""
    return json.loads(LIMITS.read_text())["tiers"]


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_usage_plan_per_tier_with_throttle_and_daily_quota_derived_from_limits(synthesis: Synthesis, env: str) -> None:
    plans = {
        p["Properties"]["UsagePlanName"]: p["Properties"]
        for p in resources(synthesis.template(env, "service"), "AWS::ApiGateway::UsagePlan").values()
    }
    tiers = ("free", "pro", "enterprise")
    assert set(plans) == {f"dcmms-{env}-{tier}" for tier in tiers} | {f"dcmms-{env}-people-{tier}" for tier in tiers}
    for tier, rule in _tiers().items():
        plan = plans[f"dcmms-{env}-{tier}"]
        hourly = rule["limit"] * 3600 / rule["period_s"]
        assert plan["Throttle"]["RateLimit"] == pytest.approx(hourly / 3600, abs=1e-4)
        assert plan["Throttle"]["BurstLimit"] == rule["burst"]
        assert plan["Quota"] == {"Limit": math.ceil(hourly * 24), "Period": "DAY"}
        assert len(plan["ApiStages"]) == 1
    # the spec's numbers, as a cross-check of the derivation
    assert plans[f"dcmms-{env}-free"]["Quota"]["Limit"] == 24_000
    assert plans[f"dcmms-{env}-enterprise"]["Throttle"]["BurstLimit"] == 10_000


def test_enterprise_burst_above_the_account_burst_is_flagged(synthesis: Synthesis) -> None:
    warnings = [
        str(a["data"]) for a in synthesis.annotations["dcmms-prod-us-west-2-service"] if a["type"] == "aws:cdk:warning"
    ]
    over = [tier for tier, rule in _tiers().items() if rule["burst"] > ACCOUNT_BURST]
    assert over == ["enterprise"]
    assert any("enterprise tier's burst (10000) exceeds the account's API Gateway burst (5000)" in w for w in warnings)
    assert not any("free tier's burst" in w or "pro tier's burst" in w for w in warnings)


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_every_method_needs_the_authorizer_and_an_api_key_and_proxies_to_the_live_alias(
    synthesis: Synthesis, env: str
) -> None:
    template = synthesis.template(env, "service")
    methods = resources(template, "AWS::ApiGateway::Method")
    assert methods
    (authorizer_id,) = resources(template, "AWS::ApiGateway::Authorizer")
    (alias_id,) = resources(template, "AWS::Lambda::Alias")
    live = f"function:dcmms-{env}-api:live"
    for method in methods.values():
        p = method["Properties"]
        assert p["ApiKeyRequired"] is True
        assert p["AuthorizationType"] == "CUSTOM" and p["AuthorizerId"] == {"Ref": authorizer_id}
        assert p["Integration"]["Type"] == "AWS_PROXY"
        # the alias by name (a reference would close a dependency circle through the usage plans)
        assert render(p["Integration"]["Uri"]).endswith(f"{live}/invocations")
        assert "RequestValidatorId" in p
    # the usage-plan key comes from the authorizer
    assert only(template, "AWS::ApiGateway::RestApi")["Properties"]["ApiKeySourceType"] == "AUTHORIZER"
    # API Gateway may invoke exactly the live alias, and is granted it once the alias exists
    invokes = [
        r
        for r in resources(template, "AWS::Lambda::Permission").values()
        if render(r["Properties"]["FunctionName"]).endswith(live)
    ]
    assert len(invokes) == 2 * len(methods)  # the stage's and the console's test invocations, per method
    for permission in invokes:
        assert permission["Properties"]["Principal"] == "apigateway.amazonaws.com"
        assert alias_id in permission["DependsOn"]
    paths = {render(r["Properties"]["PathPart"]) for r in resources(template, "AWS::ApiGateway::Resource").values()}
    assert paths == {"api", "v1", "{proxy+}"}


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_the_request_authorizer_is_uncached_and_runs_the_catalogue_authorizer(synthesis: Synthesis, env: str) -> None:
    template = synthesis.template(env, "service")
    authorizer = only(template, "AWS::ApiGateway::Authorizer")["Properties"]
    fn_id, fn = function_by_name(template, "authorizer")
    assert authorizer["Type"] == "REQUEST"
    # no cache, so no identity source (a REQUEST authorizer's sources must all be present; a request has one)
    assert authorizer["AuthorizerResultTtlInSeconds"] == 0 and "IdentitySource" not in authorizer
    assert f"<{fn_id}.Arn>" in render(authorizer["AuthorizerUri"])
    assert fn["Properties"]["Handler"] == by_name("authorizer").handler
    (permission,) = [
        r["Properties"]
        for r in resources(template, "AWS::Lambda::Permission").values()
        if r["Properties"]["FunctionName"] == {"Fn::GetAtt": [fn_id, "Arn"]}
    ]
    assert permission["Principal"] == "apigateway.amazonaws.com" and "/authorizers/" in render(permission["SourceArn"])


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_a_people_usage_key_per_tier_in_a_people_plan_of_its_own(synthesis: Synthesis, env: str) -> None:
    template = synthesis.template(env, "service")
    plans = {k: p["Properties"]["UsagePlanName"] for k, p in resources(template, "AWS::ApiGateway::UsagePlan").items()}
    keys = {k: p["Properties"] for k, p in resources(template, "AWS::ApiGateway::ApiKey").items()}
    assert {k["Name"] for k in keys.values()} == {f"dcmms-{env}-people-{tier}" for tier in _tiers()}
    for key in keys.values():
        assert key["Enabled"] is True and "Value" not in key  # API Gateway generates the value; none in the template
    members = {
        (plans[m["Properties"]["UsagePlanId"]["Ref"]], keys[m["Properties"]["KeyId"]["Ref"]]["Name"])
        for m in resources(template, "AWS::ApiGateway::UsagePlanKey").values()
    }
    assert members == {(f"dcmms-{env}-people-{tier}", f"dcmms-{env}-people-{tier}") for tier in _tiers()}
    # every person of a tier shares the key: its plan is a ceiling on them together (the stage's throttle, no
    # quota), never one caller's allowance (the per-person limit is the application's)
    stage = next(iter(resources(template, "AWS::ApiGateway::Stage").values()))["Properties"]["MethodSettings"][0]
    for plan in resources(template, "AWS::ApiGateway::UsagePlan").values():
        if "-people-" in plan["Properties"]["UsagePlanName"]:
            assert "Quota" not in plan["Properties"]
            assert plan["Properties"]["Throttle"] == {
                "RateLimit": stage["ThrottlingRateLimit"],
                "BurstLimit": stage["ThrottlingBurstLimit"],
            }
    # the authorizer is told which key is which tier's (and the API which plan)
    authorizer_env = function_by_name(template, "authorizer")[1]["Properties"]["Environment"]["Variables"]
    people = render(authorizer_env["DCMMS_PEOPLE_USAGE_KEY_IDS"])
    for tier in _tiers():
        (key_id,) = [k for k, v in keys.items() if v["Name"] == f"dcmms-{env}-people-{tier}"]
        assert f'"{tier}":"<{key_id}>"' in people
    api_env = function_by_name(template, "api")[1]["Properties"]["Environment"]["Variables"]
    plan_ids = render(api_env["DCMMS_USAGE_PLAN_IDS"])
    for plan_id, name in plans.items():  # the tier plans only: people's keys are never issued into
        assert (f'"{name.rsplit("-", 1)[1]}":"<{plan_id}>"' in plan_ids) is ("-people-" not in name)


def test_gateway_errors_are_problem_details(synthesis: Synthesis) -> None:
    template = synthesis.template("prod", "service")
    responses = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in resources(template, "AWS::ApiGateway::GatewayResponse").values()
    }
    assert {"UNAUTHORIZED", "ACCESS_DENIED", "DEFAULT_4XX", "DEFAULT_5XX", "THROTTLED", "QUOTA_EXCEEDED"} <= set(
        responses
    )
    expected = {"UNAUTHORIZED": 401, "ACCESS_DENIED": 403, "THROTTLED": 429, "MISSING_AUTHENTICATION_TOKEN": 404}
    for kind, response in responses.items():
        assert response["ResponseParameters"]["gatewayresponse.header.Content-Type"] == "'application/problem+json'"
        # API Gateway substitutes its variables; the message variable is a quoted JSON string
        body = json.loads(
            response["ResponseTemplates"]["application/json"]
            .replace("$context.error.messageString", '"Unauthorized"')
            .replace("$context.requestId", "req-1")
        )
        assert body["type"].startswith("urn:dcmms:problem:") and body["title"] and body["detail"], kind
        if kind.startswith("DEFAULT_"):
            assert "StatusCode" not in response and "status" not in body  # kept as API Gateway chose it
        else:
            assert body["status"] == int(response["StatusCode"]), kind
        if kind in expected:
            assert body["status"] == expected[kind], kind
    assert responses["UNAUTHORIZED"]["ResponseParameters"]["gatewayresponse.header.WWW-Authenticate"] == "'Bearer'"
    assert (
        json.loads(
            responses["UNAUTHORIZED"]["ResponseTemplates"]["application/json"].replace("$context.requestId", "r")
        )["type"]
        == "urn:dcmms:problem:unauthorized"
    )


def test_api_authorization_acknowledgments_tell_the_truth(synthesis: Synthesis) -> None:
    """APIG4 (no authorization) no longer applies to the REST API, so it is not acknowledged there (the WebSocket API's
    routes are another matter: tests/infra/test_live.py); COG4 (not a Cognito authorizer) is, for the reason that
    holds now that people do sign in with Cognito."""
    for env in ("dev", "prod"):
        acks = acknowledgments(synthesis, f"dcmms-{env}-us-west-2-service")
        assert not [path for path, _ in acks.get("AwsSolutions-APIG4", []) if "/Live/WebSocketApi/" not in path]
        ((path, reason),) = acks["AwsSolutions-COG4"]
        assert path.endswith("/Api/RestApi")
        assert "request authorizer" in reason and "not Cognito users" not in reason


def test_stage_throttles_logs_and_traces(synthesis: Synthesis) -> None:
    template = synthesis.template("prod", "service")
    stage = only(template, "AWS::ApiGateway::Stage")["Properties"]
    (settings,) = stage["MethodSettings"]
    assert settings["ThrottlingRateLimit"] == 3000 and settings["ThrottlingBurstLimit"] == 5000
    assert settings["LoggingLevel"] == "ERROR" and settings["MetricsEnabled"] is True
    assert settings["DataTraceEnabled"] is False
    assert stage["TracingEnabled"] is True
    log_format = json.loads(stage["AccessLogSetting"]["Format"])
    assert {"requestId", "apiKeyId", "status", "responseLatency", "integrationLatency"} <= set(log_format)
    assert log_format["tenantId"] == "$context.authorizer.tenant_id"  # the authorizer's principal, in every line
    assert "Fn::GetAtt" in stage["AccessLogSetting"]["DestinationArn"]
    # the regional WAF sits on the stage
    association = only(template, "AWS::WAFv2::WebACLAssociation")["Properties"]
    assert "Stage" in render(association["ResourceArn"]) or "restapis" in render(association["ResourceArn"])


def test_dev_api_restores_from_snapstart_snapshots_without_provisioned_concurrency(synthesis: Synthesis) -> None:
    template = synthesis.template("dev", "service")
    fn_id, fn = function_by_name(template, "api")
    assert fn["Properties"]["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    assert fn["Properties"]["ReservedConcurrentExecutions"] == 50
    # API Gateway invokes the alias of a published version: what SnapStart snapshots ($LATEST never is)
    alias = only(template, "AWS::Lambda::Alias")["Properties"]
    assert alias["FunctionName"] == {"Ref": fn_id} and "ProvisionedConcurrencyConfig" not in alias
    assert "Fn::GetAtt" in render(alias["FunctionVersion"]) or "Version" in render(alias["FunctionVersion"])
    assert not resources(template, "AWS::ApplicationAutoScaling::ScalableTarget")
    # only the HTTP function: the stream and schedule functions start rarely and are not latency-bound
    for name in ("ingest", "warmer", "telemetry-partitions"):
        assert "SnapStart" not in function_by_name(template, name)[1]["Properties"], name


@pytest.mark.parametrize(("env", "minimum", "maximum", "reserved"), [("prod", 5, 50, 1000)])
def test_api_concurrency_reserved_provisioned_and_scaled_at_70_percent(
    synthesis: Synthesis, env: str, minimum: int, maximum: int, reserved: int
) -> None:
    template = synthesis.template(env, "service")
    fn_id, fn = function_by_name(template, "api")
    assert fn["Properties"]["ReservedConcurrentExecutions"] == reserved
    assert "SnapStart" not in fn["Properties"]  # Lambda allows SnapStart or provisioned concurrency, not both
    alias = only(template, "AWS::Lambda::Alias")["Properties"]
    assert alias["FunctionName"] == {"Ref": fn_id}
    assert alias["ProvisionedConcurrencyConfig"] == {"ProvisionedConcurrentExecutions": minimum}
    target = only(template, "AWS::ApplicationAutoScaling::ScalableTarget")["Properties"]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (minimum, maximum)
    assert target["ScalableDimension"] == "lambda:function:ProvisionedConcurrency"
    assert render(target["ResourceId"]).endswith(":live")
    policy = only(template, "AWS::ApplicationAutoScaling::ScalingPolicy")["Properties"]
    tracking = policy["TargetTrackingScalingPolicyConfiguration"]
    assert policy["PolicyType"] == "TargetTrackingScaling"
    assert tracking["TargetValue"] == 0.7
    assert (
        tracking["PredefinedMetricSpecification"]["PredefinedMetricType"] == "LambdaProvisionedConcurrencyUtilization"
    )
