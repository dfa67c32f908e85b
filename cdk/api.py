"""API: API Gateway REST API -> the api function's ``live`` alias, behind a request authorizer, with usage plans
per tier.

Every method needs the request authorizer (catalogue function ``authorizer``, ``dcmms.gateway.authorizer``) and
an API key, and the key comes from the authorizer (key source AUTHORIZER): a request with a valid ``x-api-key`` is
metered under that key, one with a valid ``Authorization: Bearer`` person's token under its tier's *people usage
key* (a gateway key per tier, created here in the tier's plan, whose value only the authorizer reads). Anything
else is answered by API Gateway with 401 before the function is invoked. Results are not cached (TTL 0, and so no
identity source): a REQUEST authorizer's cache key needs all its identity sources present, and a request carries
one header or the other (docs/decisions.md, 2026-12-07). API Gateway's own errors are problem+json (RFC 9457), as
the application's are.

The usage plans are the coarse outer guard: API Gateway quotas exist only per day/week/month and its
throttles are best-effort token buckets, so the spec's hourly tiers are enforced by the application in
Redis (GCRA). Each plan's numbers are derived from ``dcmms/ratelimit/limits.json`` (never copied):
steady rate = limit / period (the hourly quota / 3600), burst = the tier's burst, quota = the same
allowance per day. The keys dCMMS issues are imported into their tier's plan by the management API.

The integration names the ``live`` alias by its ARN, built from the function's name, not by a reference: the api
function's settings name the usage plans (the management API imports keys into them), a plan references the
stage, the stage the deployment and the deployment the methods; a method referencing the alias (and so the
function) would close that circle. The alias's invoke permission waits for the alias instead.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from aws_cdk import Annotations, ArnFormat, CfnOutput, Duration, RemovalPolicy, Stack
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
PROBLEM_MEDIA_TYPE = "application/problem+json"

# API Gateway's response types -> (status, problem slug, title, detail; None: API Gateway's own message), slugs and
# titles as the application writes them (dcmms.api.problems). The statuses are API Gateway's defaults except
# MISSING_AUTHENTICATION_TOKEN, which for this API (no IAM auth) means a path outside /api/v1: 404, and
# AUTHORIZER_FAILURE (the authorizer failed, e.g. DynamoDB unreachable, not a refused credential): 503. DEFAULT_4XX/5XX catch any type not listed, whose status a gateway response template
# cannot know (templates substitute variables, and none holds the status): RFC 9457 makes ``status`` optional.
GATEWAY_PROBLEMS: dict[str, tuple[int | None, str, str, str | None]] = {
    "UNAUTHORIZED": (
        401,
        "unauthorized",
        "Unauthorized",
        "Send a valid API key in x-api-key, or a signed-in person's token as Authorization: Bearer.",
    ),
    "ACCESS_DENIED": (403, "forbidden", "Forbidden", None),
    "INVALID_API_KEY": (
        403,
        "forbidden",
        "Forbidden",
        "The credential is valid but its usage plan key is not enabled on the gateway; ask an admin of your tenant.",
    ),
    "EXPIRED_TOKEN": (403, "forbidden", "Forbidden", None),
    "INVALID_SIGNATURE": (403, "forbidden", "Forbidden", None),
    "WAF_FILTERED": (403, "forbidden", "Forbidden", "The request was refused by the web application firewall."),
    "MISSING_AUTHENTICATION_TOKEN": (404, "not-found", "Not found", "No such resource: the API is under /api/v1."),
    "RESOURCE_NOT_FOUND": (404, "not-found", "Not found", None),
    "BAD_REQUEST_PARAMETERS": (400, "bad-request", "Bad request", None),
    "BAD_REQUEST_BODY": (400, "bad-request", "Bad request", None),
    "REQUEST_TOO_LARGE": (413, "content-too-large", "Content too large", None),
    "UNSUPPORTED_MEDIA_TYPE": (415, "unsupported-media-type", "Unsupported media type", None),
    "THROTTLED": (429, "rate-limited", "Too many requests", "The usage plan's or the stage's rate is exceeded."),
    "QUOTA_EXCEEDED": (429, "rate-limited", "Too many requests", "The usage plan's daily quota is used up."),
    "AUTHORIZER_FAILURE": (
        503,
        "service-unavailable",
        "Service unavailable",
        "The credential could not be checked just now; retry shortly.",
    ),
    "AUTHORIZER_CONFIGURATION_ERROR": (500, "internal", "Internal server error", None),
    "API_CONFIGURATION_ERROR": (500, "internal", "Internal server error", None),
    "INTEGRATION_FAILURE": (502, "bad-gateway", "Bad gateway", None),
    "INTEGRATION_TIMEOUT": (504, "gateway-timeout", "Gateway timeout", None),
    "DEFAULT_4_XX": (None, "client-error", "Request refused", None),
    "DEFAULT_5_XX": (None, "server-error", "Server error", None),
}


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


# API Gateway access-log fields: who (key, and the authorizer's principal), what, how it went, and how long the
# authorizer and the integration took.
ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "ip": "$context.identity.sourceIp",
        "apiKeyId": "$context.identity.apiKeyId",
        "tenantId": "$context.authorizer.tenant_id",
        "credential": "$context.authorizer.credential",
        "principalId": "$context.authorizer.principalId",
        "requestTime": "$context.requestTime",
        "httpMethod": "$context.httpMethod",
        "path": "$context.path",
        "status": "$context.status",
        "protocol": "$context.protocol",
        "responseLength": "$context.responseLength",
        "responseLatency": "$context.responseLatency",
        "integrationLatency": "$context.integrationLatency",
        "authorizerLatency": "$context.authorizer.integrationLatency",
        "integrationStatus": "$context.integrationStatus",
        "errorMessage": "$context.error.message",
        "wafStatus": "$context.waf.status",
        "xrayTraceId": "$context.xrayTraceId",
    },
    separators=(",", ":"),
)


class Api(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        cfg: DeploymentConfig,
        function: lambda_.Function,
        function_name: str,
        authorizer: lambda_.IFunction,
    ) -> None:
        super().__init__(scope, id)
        self.cfg = cfg
        self.function = function
        self.function_name = function_name  # the literal deployed name of ``function``
        self.alias = self._build_alias()
        self.authorizer = self._build_authorizer(authorizer)
        self.rest_api = self._build_rest_api()
        self._build_gateway_responses()
        self.plans = self._build_usage_plans()
        self.people_keys = self._build_people_keys()
        if cfg.api.waf:
            self.web_acl = self._build_waf()
        else:
            nag.acknowledge(
                self.rest_api.deployment_stage,
                "AwsSolutions-APIG3",
                f"The regional WAF is turned off for {cfg.env_name} by configuration (api.waf); the request "
                "authorizer, usage plans, stage throttles and the application's rate limits still apply.",
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

    def _build_authorizer(self, handler: lambda_.IFunction) -> apigw.RequestAuthorizer:
        authorizer = apigw.RequestAuthorizer(
            self,
            "Authorizer",
            authorizer_name=f"{self.cfg.prefix}-keys-and-tokens",
            handler=handler,
            # No cache, so no identity source: a cached REQUEST authorizer needs every identity source present
            # (else 401 without a call), and a request carries x-api-key or Authorization, not both. Every request
            # invokes the authorizer (~10 ms warm; its own caches keep it off DynamoDB).
            identity_sources=[],
            results_cache_ttl=Duration.seconds(0),
        )
        cfn = authorizer.node.default_child
        assert isinstance(cfn, apigw.CfnAuthorizer)
        cfn.add_property_deletion_override("IdentitySource")  # CDK writes "" for an empty list
        return authorizer

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
            # The usage-plan key is the authorizer's usageIdentifierKey: the caller's API key, or the people key
            # of the signed-in person's tier.
            api_key_source_type=apigw.ApiKeySourceType.AUTHORIZER,
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
            default_method_options=apigw.MethodOptions(
                api_key_required=True, authorizer=self.authorizer, authorization_type=apigw.AuthorizationType.CUSTOM
            ),
        )
        # Body validation applies only where a request model exists (none: the app validates bodies itself).
        validator = api.add_request_validator("Requests", validate_request_parameters=True, validate_request_body=True)
        live = lambda_.Function.from_function_attributes(
            self,
            "LiveByName",
            function_arn=Stack.of(self).format_arn(
                service="lambda",
                resource="function",
                resource_name=f"{self.function_name}:{self.alias.alias_name}",
                arn_format=ArnFormat.COLON_RESOURCE_NAME,
            ),
            same_environment=True,
        )
        integration = apigw.LambdaIntegration(live, proxy=True)
        resource = api.root
        for part in API_PREFIX:
            resource = resource.add_resource(part)
        proxy = resource.add_resource("{proxy+}")
        for target in (resource, proxy):
            target.add_method(
                "ANY",
                integration,
                api_key_required=True,
                authorizer=self.authorizer,
                authorization_type=apigw.AuthorizationType.CUSTOM,
                request_validator=validator,
            )
        for permission in api.node.find_all():  # the methods' invoke permissions (the authorizer's is its own)
            if isinstance(permission, lambda_.CfnPermission):
                permission.node.add_dependency(self.alias)  # granted on the alias once it exists
        nag.acknowledge(
            api,
            "AwsSolutions-COG4",
            "People's Cognito tokens are verified by the request authorizer (and again by the application), which "
            "also admits API keys: a Cognito user pool authorizer cannot admit a request that carries a key "
            "instead of a token, and integrations and devices hold keys, not pool users (docs/decisions.md).",
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

    def _build_gateway_responses(self) -> None:
        """API Gateway's own errors (refused credentials, throttles, unknown routes, ...) as RFC 9457 problems, in
        the application's shape (type urn:dcmms:problem:<slug>, title, status, detail), with the request id."""
        for response_type, (status, slug, title, detail) in GATEWAY_PROBLEMS.items():
            body = {"type": f"urn:dcmms:problem:{slug}", "title": title}
            if status is not None:
                body["status"] = status
            template = json.dumps(body, separators=(",", ":"))[:-1]
            # simple substitution only (no VTL): the detail is a literal, or API Gateway's quoted message
            detail_json = "$context.error.messageString" if detail is None else json.dumps(detail)
            template += f',"detail":{detail_json},"request_id":"$context.requestId"}}'
            headers = {"Content-Type": f"'{PROBLEM_MEDIA_TYPE}'"}
            if response_type == "UNAUTHORIZED":
                headers["WWW-Authenticate"] = "'Bearer'"
            self.rest_api.add_gateway_response(
                f"Problem-{response_type}",
                type=getattr(apigw.ResponseType, response_type),
                status_code=str(status) if status is not None else None,
                response_headers=headers,
                templates={"application/json": template},
            )

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

    def _build_people_keys(self) -> dict[str, apigw.IApiKey]:
        """One gateway key per tier, what a signed-in person's requests are metered against, each in a plan of its
        own: the tier plans' figures are one caller's allowance, and every person of a tier shares the people key,
        so a people plan is a ceiling on them all together — the stage's throttle, no daily quota — while the
        application limits each person (limits.json, per user). API Gateway generates the value; only the request
        authorizer reads it (apigateway:GET on these keys alone)."""
        a = self.cfg.api
        keys: dict[str, apigw.IApiKey] = {}
        for tier in self.plans:
            plan = self.rest_api.add_usage_plan(
                f"PeoplePlan-{tier}",
                name=f"{self.cfg.prefix}-people-{tier}",
                description=f"Signed-in people of {tier} tenants together (each person is limited by the application)",
                throttle=apigw.ThrottleSettings(rate_limit=a.stage_rate_limit, burst_limit=a.stage_burst_limit),
                api_stages=[apigw.UsagePlanPerApiStage(api=self.rest_api, stage=self.rest_api.deployment_stage)],
            )
            key = apigw.ApiKey(
                self,
                f"PeopleKey-{tier}",
                api_key_name=f"{self.cfg.prefix}-people-{tier}",
                description=f"Signed-in people of {tier} tenants (named by the request authorizer)",
                enabled=True,
            )
            plan.add_api_key(key)
            CfnOutput(self, f"PeopleKey-{tier}-Id", value=key.key_id, description=f"{tier} people usage key id")
            keys[tier] = key
        return keys

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
