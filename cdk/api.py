"""API: API Gateway REST API -> the api function's ``live`` alias, with usage plans per tier.

The usage plans are the coarse outer guard: API Gateway quotas exist only per day/week/month and its
throttles are best-effort token buckets, so the spec's hourly tiers are enforced by the application in
Redis (GCRA). Each plan's numbers are derived from ``dcmms/ratelimit/limits.json`` (never copied):
steady rate = limit / period (the hourly quota / 3600), burst = the tier's burst, quota = the same
allowance per day. Keys issued by dCMMS must also be imported into API Gateway under the tier's plan
(docs/deploy.md): ``x-api-key`` is both the usage-plan key and the application's credential.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from aws_cdk import Annotations, CfnOutput, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from cdk import nag
from cdk.config import DeploymentConfig
from cdk.network import retention
from dcmms.ratelimit import load_policy

API_PREFIX = ("api", "v1")
DAY_S = 86_400


@dataclass(frozen=True)
class TierPlan:
    tier: str
    rate_limit: float  # requests per second, steady
    burst_limit: int
    daily_quota: int


def tier_plans() -> list[TierPlan]:
    """Usage-plan figures for every tier of the shipped rate-limit policy (limits.json)."""
    plans = []
    for tier, rule in load_policy(None).tiers.items():
        plans.append(
            TierPlan(
                tier=tier.value,
                rate_limit=round(rule.limit / rule.period_s, 4),
                burst_limit=rule.burst,
                daily_quota=math.ceil(rule.limit * DAY_S / rule.period_s),
            )
        )
    return plans


# API Gateway access-log fields: who (key), what, how it went, and how long the integration took.
ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "ip": "$context.identity.sourceIp",
        "apiKeyId": "$context.identity.apiKeyId",
        "requestTime": "$context.requestTime",
        "httpMethod": "$context.httpMethod",
        "path": "$context.path",
        "status": "$context.status",
        "protocol": "$context.protocol",
        "responseLength": "$context.responseLength",
        "responseLatency": "$context.responseLatency",
        "integrationLatency": "$context.integrationLatency",
        "integrationStatus": "$context.integrationStatus",
        "errorMessage": "$context.error.message",
        "wafStatus": "$context.waf.status",
        "xrayTraceId": "$context.xrayTraceId",
    },
    separators=(",", ":"),
)


class Api(Construct):
    def __init__(self, scope: Construct, id: str, *, cfg: DeploymentConfig, function: lambda_.Function) -> None:
        super().__init__(scope, id)
        self.cfg = cfg
        self.function = function
        self.alias = self._build_alias()
        self.rest_api = self._build_rest_api()
        self.plans = self._build_usage_plans()
        if cfg.api.waf:
            self.web_acl = self._build_waf()
        else:
            nag.acknowledge(
                self.rest_api.deployment_stage,
                "AwsSolutions-APIG3",
                f"The regional WAF is turned off for {cfg.env_name} by configuration (api.waf); API keys, usage "
                "plans, stage throttles and the application's rate limits still apply.",
            )

    def _build_alias(self) -> lambda_.Alias:
        """The alias API Gateway invokes: with SnapStart, a published version (what SnapStart snapshots);
        else provisioned concurrency on it, kept at the utilisation target by target tracking."""
        a = self.cfg.api
        if a.cold_start == "snapstart":
            return lambda_.Alias(self, "Live", alias_name="live", version=self.function.current_version)
        alias = lambda_.Alias(
            self,
            "Live",
            alias_name="live",
            version=self.function.current_version,
            provisioned_concurrent_executions=a.provisioned_min,
        )
        scaling = alias.add_auto_scaling(min_capacity=a.provisioned_min, max_capacity=a.provisioned_max)
        scaling.scale_on_utilization(utilization_target=a.utilization_target)
        return alias

    def _build_rest_api(self) -> apigw.RestApi:
        a = self.cfg.api
        access_logs = logs.LogGroup(
            self,
            "AccessLogs",
            retention=retention(self.cfg.log_retention_days),
            removal_policy=RemovalPolicy.RETAIN if self.cfg.production else RemovalPolicy.DESTROY,
        )
        api = apigw.RestApi(
            self,
            "RestApi",
            rest_api_name=f"{self.cfg.prefix}-api",
            description="dCMMS REST API (/api/v1), served by the api function",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            api_key_source_type=apigw.ApiKeySourceType.HEADER,
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=RemovalPolicy.RETAIN,
            deploy_options=apigw.StageOptions(
                stage_name=a.stage_name,
                throttling_rate_limit=a.stage_rate_limit,
                throttling_burst_limit=a.stage_burst_limit,
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=apigw.AccessLogFormat.custom(ACCESS_LOG_FORMAT),
                logging_level=apigw.MethodLoggingLevel.ERROR,
                metrics_enabled=True,
                tracing_enabled=True,
                data_trace_enabled=False,
            ),
            default_method_options=apigw.MethodOptions(api_key_required=True),
        )
        # Body validation applies only where a request model exists (none: the app validates bodies itself).
        validator = api.add_request_validator("Requests", validate_request_parameters=True, validate_request_body=True)
        integration = apigw.LambdaIntegration(self.alias, proxy=True)
        resource = api.root
        for part in API_PREFIX:
            resource = resource.add_resource(part)
        proxy = resource.add_resource("{proxy+}")
        for target in (resource, proxy):
            target.add_method("ANY", integration, api_key_required=True, request_validator=validator)
        nag.acknowledge(
            api,
            "AwsSolutions-APIG4",
            "Every method requires an API key; the application authenticates that key (hashed, in DynamoDB) and "
            "authorises by role and tenant on every request. There are no end-user identities for an authorizer.",
        )
        nag.acknowledge(
            api,
            "AwsSolutions-COG4",
            "Clients are integrations and devices holding API keys, not Cognito users (see AwsSolutions-APIG4).",
        )
        cw_role = api.node.try_find_child("CloudWatchRole")
        if cw_role is not None:
            nag.acknowledge(
                cw_role,
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]",
                "The account-level role API Gateway uses to write execution logs; AWS maintains its policy.",
            )
        CfnOutput(self, "ApiUrl", value=api.url, description="API Gateway stage URL (clients use CloudFront)")
        return api

    def _build_usage_plans(self) -> dict[str, apigw.UsagePlan]:
        plans = {}
        for t in tier_plans():
            if t.burst_limit > self.cfg.api.account_burst_limit:
                Annotations.of(self).add_warning_v2(
                    f"dcmms:burst-{t.tier}",
                    f"The {t.tier} tier's burst ({t.burst_limit}) exceeds the account's API Gateway burst "
                    f"({self.cfg.api.account_burst_limit}); API Gateway caps it there unless the quota is raised. "
                    "The application's Redis limiter still grants the full burst.",
                )
            plan = self.rest_api.add_usage_plan(
                f"Plan-{t.tier}",
                name=f"{self.cfg.prefix}-{t.tier}",
                description=f"{t.tier} tier: derived from dcmms/ratelimit/limits.json",
                throttle=apigw.ThrottleSettings(rate_limit=t.rate_limit, burst_limit=t.burst_limit),
                quota=apigw.QuotaSettings(limit=t.daily_quota, period=apigw.Period.DAY),
                api_stages=[apigw.UsagePlanPerApiStage(api=self.rest_api, stage=self.rest_api.deployment_stage)],
            )
            CfnOutput(self, f"UsagePlan-{t.tier}", value=plan.usage_plan_id, description=f"{t.tier} usage plan id")
            plans[t.tier] = plan
        return plans

    def _build_waf(self) -> wafv2.CfnWebACL:
        """Regional WAF on the stage: AWS managed rule groups plus a per-IP rate rule."""

        def managed(name: str, priority: int) -> wafv2.CfnWebACL.RuleProperty:
            return wafv2.CfnWebACL.RuleProperty(
                name=name,
                priority=priority,
                override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
                statement=wafv2.CfnWebACL.StatementProperty(
                    managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                        vendor_name="AWS", name=name
                    )
                ),
                visibility_config=_visibility(name),
            )

        rate = wafv2.CfnWebACL.RuleProperty(
            name="PerIpRate",
            priority=0,
            action=wafv2.CfnWebACL.RuleActionProperty(block={}),
            statement=wafv2.CfnWebACL.StatementProperty(
                rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                    limit=self.cfg.api.waf_rate_limit_per_5min, aggregate_key_type="IP"
                )
            ),
            visibility_config=_visibility("PerIpRate"),
        )
        acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            scope="REGIONAL",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=_visibility(f"{self.cfg.prefix}-api"),
            rules=[
                rate,
                managed("AWSManagedRulesAmazonIpReputationList", 1),
                managed("AWSManagedRulesCommonRuleSet", 2),
                managed("AWSManagedRulesKnownBadInputsRuleSet", 3),
            ],
        )
        wafv2.CfnWebACLAssociation(
            self, "WebAclAssociation", resource_arn=self.rest_api.deployment_stage.stage_arn, web_acl_arn=acl.attr_arn
        )
        return acl


def _visibility(name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    return wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True, metric_name=name, sampled_requests_enabled=True
    )
