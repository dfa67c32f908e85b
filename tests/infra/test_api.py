"""API Gateway: API keys everywhere, usage plans from limits.json, stage throttles and logs, concurrency."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from tests.infra.conftest import Synthesis, function_by_name, only, render, resources

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
    assert set(plans) == {f"dcmms-{env}-{tier}" for tier in ("free", "pro", "enterprise")}
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
def test_every_method_requires_an_api_key_and_proxies_to_the_live_alias(synthesis: Synthesis, env: str) -> None:
    template = synthesis.template(env, "service")
    methods = resources(template, "AWS::ApiGateway::Method")
    assert methods
    (alias_id,) = resources(template, "AWS::Lambda::Alias")
    for method in methods.values():
        p = method["Properties"]
        assert p["ApiKeyRequired"] is True
        assert p["Integration"]["Type"] == "AWS_PROXY"
        assert f"<{alias_id}>" in render(p["Integration"]["Uri"])
        assert "RequestValidatorId" in p
    paths = {render(r["Properties"]["PathPart"]) for r in resources(template, "AWS::ApiGateway::Resource").values()}
    assert paths == {"api", "v1", "{proxy+}"}


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
