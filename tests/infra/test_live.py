"""Live updates: the WebSocket API in front of the live function, and exactly the grants and settings each function
needs to push frames (cdk/live.py, docs/live.md)."""

from __future__ import annotations

import json

import pytest

from cdk.live import ROUTES, STAGE, THROTTLE_BURST, THROTTLE_RATE
from dcmms.catalogue import by_name
from tests.infra.conftest import (
    Synthesis,
    acknowledgments,
    function_by_name,
    function_grants,
    only,
    render,
    resources,
)

ENVS = ("dev", "prod")
TABLE = "arn:aws:dynamodb:us-west-2:<AWS::AccountId>:table/dcmms-prod-"
LIVE_VARIABLES = ("DCMMS_LIVE_ENDPOINT_URL", "DCMMS_LIVE_RELAY_FUNCTION")


def _api_id(template: dict) -> str:
    (api_id,) = [k for k, r in resources(template, "AWS::ApiGatewayV2::Api").items()]
    return api_id


@pytest.mark.parametrize("env", ENVS)
def test_the_three_routes_integrate_the_live_function_and_default_answers_on_the_connection(
    synthesis: Synthesis, env: str
) -> None:
    template = synthesis.template(env, "service")
    api = only(template, "AWS::ApiGatewayV2::Api")["Properties"]
    assert (api["Name"], api["ProtocolType"]) == (f"dcmms-{env}-live", "WEBSOCKET")
    live_id, live = function_by_name(template, "live")
    assert live["Properties"]["Handler"] == by_name("live").handler and by_name("live").trigger == "websocket"
    integrations = resources(template, "AWS::ApiGatewayV2::Integration")
    routes = {
        r["Properties"]["RouteKey"]: r["Properties"] for r in resources(template, "AWS::ApiGatewayV2::Route").values()
    }
    assert set(routes) == set(ROUTES)
    for route in routes.values():
        (integration_id,) = [i for i in integrations if i in render(route["Target"])]
        integration = integrations[integration_id]["Properties"]
        assert integration["IntegrationType"] == "AWS_PROXY"
        assert f"<{live_id}.Arn>" in render(integration["IntegrationUri"])
        # $connect is authorized by the function itself (the person's token, docs/decisions.md)
        assert route["AuthorizationType"] == "NONE"
    assert routes["$default"]["RouteResponseSelectionExpression"] == "$default"
    (response,) = resources(template, "AWS::ApiGatewayV2::RouteResponse").values()
    assert response["Properties"]["RouteResponseKey"] == "$default"
    assert "RouteResponseSelectionExpression" not in routes["$connect"]
    # API Gateway may invoke the live function for these routes of this API only
    sources = {
        render(p["Properties"]["SourceArn"])
        for p in resources(template, "AWS::Lambda::Permission").values()
        if render(p["Properties"]["FunctionName"]) == f"<{live_id}.Arn>"
    }
    api_arn = f"arn:aws:execute-api:us-west-2:<AWS::AccountId>:<{_api_id(template)}>"
    assert sources == {f"{api_arn}/*{route}" for route in ROUTES}


@pytest.mark.parametrize("env", ENVS)
def test_one_stage_throttled_and_logged_without_the_query_string(synthesis: Synthesis, env: str) -> None:
    template = synthesis.template(env, "service")
    (stage_id, stage), *others = resources(template, "AWS::ApiGatewayV2::Stage").items()
    assert others == []
    p = stage["Properties"]
    assert (p["StageName"], p["AutoDeploy"]) == (STAGE, True)
    assert p["DefaultRouteSettings"]["ThrottlingRateLimit"] == THROTTLE_RATE
    assert p["DefaultRouteSettings"]["ThrottlingBurstLimit"] == THROTTLE_BURST
    log_format = json.loads(p["AccessLogSettings"]["Format"])
    assert {"requestId", "routeKey", "eventType", "connectionId", "status", "integrationLatency"} <= set(log_format)
    assert "querystring" not in p["AccessLogSettings"]["Format"].lower()  # the token is in the query string
    assert "Fn::GetAtt" in p["AccessLogSettings"]["DestinationArn"]
    # API Gateway writes the access logs through the account's CloudWatch role, which the REST API sets first
    (account,) = resources(template, "AWS::ApiGateway::Account")
    assert account in stage.get("DependsOn", [])
    outputs = {k: render(v["Value"]) for k, v in template["Outputs"].items() if "Live" in k}
    socket = next(v for k, v in outputs.items() if "LiveSocketUrl" in k)
    assert socket.startswith(f"wss://<{_api_id(template)}>.execute-api.us-west-2.") and socket.endswith(f"/{STAGE}")
    assert stage_id


def test_the_live_function_posts_to_this_stages_connections_and_reads_only_what_its_routes_need(
    synthesis: Synthesis,
) -> None:
    template = synthesis.template("prod", "service")
    api_arn = f"arn:aws:execute-api:us-west-2:<AWS::AccountId>:<{_api_id(template)}>"
    connections = f"{TABLE}live-connections"
    indexes = {f"{connections}/index/by_tenant", f"{connections}/index/subscriptions"}
    assert function_grants(template, "live") == {
        # its connection's items and subscriptions ($connect, $default, $disconnect), a gone connection deleted
        "dynamodb:GetItem": {connections, f"{TABLE}sites", f"{TABLE}tenants", f"{TABLE}users"},
        "dynamodb:PutItem": {connections},
        "dynamodb:DeleteItem": {connections},
        "dynamodb:Query": {connections} | indexes,
        # posting to a connection and closing one, on this API's one stage
        "execute-api:ManageConnections": {
            f"{api_arn}/{STAGE}/POST/@connections/*",
            f"{api_arn}/{STAGE}/DELETE/@connections/*",
        },
        "xray:PutTraceSegments": {"*"},
        "xray:PutTelemetryRecords": {"*"},
    }
    _, fn = function_by_name(template, "live")
    env_vars = fn["Properties"]["Environment"]["Variables"]
    assert render(env_vars["DCMMS_LIVE_ENDPOINT_URL"]) == (
        f"https://<{_api_id(template)}>.execute-api.us-west-2.<AWS::URLSuffix>/{STAGE}"
    )
    assert "DCMMS_COGNITO_USER_POOL_ID" in env_vars and "DCMMS_LIVE_RELAY_FUNCTION" not in env_vars
    # outside the VPC: @connections, DynamoDB and the pool's JWKS are public endpoints; no Redis, no PostgreSQL
    assert "VpcConfig" not in fn["Properties"]
    assert not {"DCMMS_REDIS_URL", "DCMMS_DATABASE_URL"} & set(env_vars)
    acks = acknowledgments(synthesis, "dcmms-prod-us-west-2-service")
    assert sorted(path.rsplit("/", 2)[-2] for path, _ in acks["AwsSolutions-APIG4"]) == sorted(
        f"{route}-Route" for route in ROUTES
    )
    connection_acks = {rule: found for rule, found in acks.items() if rule.endswith("/@connections/*]")}
    assert sorted(connection_acks) == sorted(
        f"AwsSolutions-IAM5[Resource::{arn}]"
        for arn in (f"{api_arn}/{STAGE}/POST/@connections/*", f"{api_arn}/{STAGE}/DELETE/@connections/*")
    )
    for found in connection_acks.values():
        ((path, reason),) = found
        assert "/Functions/live-Role" in path and "live-updates API's one stage" in reason


@pytest.mark.parametrize("name", ["api", "ingest"])
def test_the_functions_in_the_vpc_relay_to_the_live_function_and_read_only_the_fan_out_indexes(
    synthesis: Synthesis, name: str
) -> None:
    template = synthesis.template("prod", "service")
    live_id, _ = function_by_name(template, "live")
    grants = function_grants(template, name)
    assert grants["lambda:InvokeFunction"] == {f"<{live_id}.Arn>"}
    assert not [a for a in grants if a.startswith("execute-api:")]  # they cannot reach @connections anyway
    on_connections = {
        action for action, targets in grants.items() if any("table/dcmms-prod-live-connections" in t for t in targets)
    }
    assert on_connections == {"dynamodb:Query"}
    assert {t for t in grants["dynamodb:Query"] if "live-connections" in t} == {
        f"{TABLE}live-connections",
        f"{TABLE}live-connections/index/by_tenant",
        f"{TABLE}live-connections/index/subscriptions",
    }
    env_vars = function_by_name(template, name)[1]["Properties"]["Environment"]["Variables"]
    assert env_vars["DCMMS_LIVE_RELAY_FUNCTION"] == "dcmms-prod-live"
    assert "DCMMS_LIVE_ENDPOINT_URL" not in env_vars


def test_only_the_publishers_carry_live_settings(synthesis: Synthesis) -> None:
    template = synthesis.template("prod", "service")
    carrying = {}
    for res in resources(template, "AWS::Lambda::Function").values():
        name = str(res["Properties"].get("FunctionName", ""))
        env_vars = res["Properties"].get("Environment", {}).get("Variables", {})
        if any(v in env_vars for v in LIVE_VARIABLES):
            carrying[name.removeprefix("dcmms-prod-")] = sorted(v for v in LIVE_VARIABLES if v in env_vars)
    assert carrying == {
        "api": ["DCMMS_LIVE_RELAY_FUNCTION"],
        "ingest": ["DCMMS_LIVE_RELAY_FUNCTION"],
        "live": ["DCMMS_LIVE_ENDPOINT_URL"],
    }


def test_the_vpc_reaches_lambda_through_an_interface_endpoint_for_the_relays(synthesis: Synthesis) -> None:
    endpoints = {
        render(r["Properties"]["ServiceName"]): r["Properties"]
        for r in resources(synthesis.template("prod", "data"), "AWS::EC2::VPCEndpoint").values()
    }
    lam = next(p for name, p in endpoints.items() if name.endswith(".lambda"))
    assert lam["PrivateDnsEnabled"] is True and lam["VpcEndpointType"] == "Interface"
    # never execute-api: with private DNS it would capture the calls to every public API of the region
    assert not [name for name in endpoints if name.endswith(".execute-api")]
