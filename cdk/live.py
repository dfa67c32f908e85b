"""Live updates: API Gateway's WebSocket API in front of the ``live`` function (docs/live.md, docs/decisions.md).

Routes ``$connect``, ``$disconnect`` and ``$default`` all integrate the catalogue's ``websocket`` function (Lambda
proxy), which routes by ``requestContext.routeKey``; ``$default`` has a route response, so what the function answers
(``subscribed``, ``pong``, ``error``) goes back on the connection without a call to ``@connections``.

``$connect`` has no API Gateway authorizer: the function verifies the person's token from ``?token=`` exactly as
the REST API verifies a Bearer token (``dcmms.runtime.token_verifier``) and answers 401, which API Gateway returns
to the handshake. A REQUEST authorizer (identity source ``route.request.querystring.token``) would refuse a
request without ``token`` before any invocation and could cache per token, but it would be a second copy of the
verification with a second event format, connects are rare (one per tab per 2 hours), and the local stack would
then have to emulate the authorizer too; the function is outside the VPC and reads only what it needs.

One stage, ``ws``: browsers connect to ``wss://<api>.execute-api.<region>.amazonaws.com/ws?token=...`` and the
``@connections`` endpoint is ``https://<same>/ws`` (``DCMMS_LIVE_ENDPOINT_URL``), the shapes the local stack
serves at ``/ws``. Not behind CloudFront: the token travels in the query string (a browser cannot set headers on a
WebSocket), and CloudFront's standard logs record every query string (``cs-uri-query``); the stage's own access
log records no query string. The web app gets the URL from its configuration (``LiveSocketUrl`` output).

The stage's throttle bounds what clients can make the function do (connects and messages; pushes to clients are
not throttled by it). ``execute-api:ManageConnections`` is granted by ``cdk.functions.Functions.connect_live`` to
the functions that post (the live function: the API and ingest functions are in the VPC, which has no route to
the public ``@connections`` endpoint, and relay their frames to it), on this stage's ``POST`` and ``DELETE``
``@connections/*`` only.
"""

from __future__ import annotations

import json

from aws_cdk import CfnOutput, RemovalPolicy, Stack
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct, IConstruct

from cdk import nag
from cdk.config import DeploymentConfig
from cdk.network import retention

STAGE = "ws"  # dcmms_dev.websocket.STAGE: the same path locally
ROUTES = ("$connect", "$disconnect", "$default")
# Connects and client messages per second across all clients (subscribe, unsubscribe, ping every few minutes):
# 500 people online make ~2/s; the limits leave room for a reconnect storm after a deploy.
THROTTLE_RATE = 100
THROTTLE_BURST = 200
# What the access log records per connect, message and disconnect: never the query string (it holds the token).
ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "ip": "$context.identity.sourceIp",
        "requestTime": "$context.requestTime",
        "routeKey": "$context.routeKey",
        "eventType": "$context.eventType",
        "connectionId": "$context.connectionId",
        "status": "$context.status",
        "integrationStatus": "$context.integrationStatus",
        "integrationLatency": "$context.integrationLatency",
        "errorMessage": "$context.error.message",
    },
    separators=(",", ":"),
)


class Live(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        cfg: DeploymentConfig,
        function: lambda_.IFunction,
        logging_role: IConstruct | None = None,
    ) -> None:
        super().__init__(scope, id)
        self.cfg = cfg
        self.function = function
        integration = integrations.WebSocketLambdaIntegration("Live", function)
        self.api = apigwv2.WebSocketApi(
            self,
            "WebSocketApi",
            api_name=f"{cfg.prefix}-live",
            description="dCMMS live updates: alerts and readings pushed to browsers (docs/live.md)",
            route_selection_expression="$request.body.action",  # no route but $default matches one: all go there
            connect_route_options=apigwv2.WebSocketRouteOptions(integration=integration),
            disconnect_route_options=apigwv2.WebSocketRouteOptions(integration=integration),
            default_route_options=apigwv2.WebSocketRouteOptions(integration=integration, return_response=True),
        )
        access_logs = logs.LogGroup(
            self,
            "AccessLogs",
            retention=retention(cfg.log_retention_days),
            removal_policy=RemovalPolicy.RETAIN if cfg.production else RemovalPolicy.DESTROY,
        )
        self.stage = apigwv2.WebSocketStage(
            self,
            "Stage",
            web_socket_api=self.api,
            stage_name=STAGE,
            auto_deploy=True,
            throttle=apigwv2.ThrottleSettings(rate_limit=THROTTLE_RATE, burst_limit=THROTTLE_BURST),
        )
        cfn_stage = self.stage.node.default_child
        assert isinstance(cfn_stage, apigwv2.CfnStage)
        cfn_stage.access_log_settings = apigwv2.CfnStage.AccessLogSettingsProperty(
            destination_arn=access_logs.log_group_arn, format=ACCESS_LOG_FORMAT
        )
        if logging_role is not None:  # API Gateway writes access logs through the account's CloudWatch role
            cfn_stage.node.add_dependency(logging_role)
        stack = Stack.of(self)
        # https://<api id>.execute-api.<region>.<domain suffix>/ws: the @connections endpoint; wss:// for browsers
        self.endpoint_url = f"https://{self.api.api_id}.execute-api.{stack.region}.{stack.url_suffix}/{STAGE}"
        self.socket_url = f"wss://{self.api.api_id}.execute-api.{stack.region}.{stack.url_suffix}/{STAGE}"
        for route in self.api.node.find_all():
            if isinstance(route, apigwv2.CfnRoute):
                nag.acknowledge(
                    route,
                    "AwsSolutions-APIG4",
                    "Live updates: $connect is authorized by the live function itself, which verifies the person's "
                    "Cognito token from ?token= as the REST API verifies a Bearer token and answers 401 (API "
                    "Gateway then refuses the handshake); $disconnect and $default are reached only on a connection "
                    "$connect admitted (API Gateway allows an authorizer on $connect only).",
                )
        CfnOutput(self, "LiveSocketUrl", value=self.socket_url, description="WebSocket URL of live updates (?token=)")
        CfnOutput(self, "LiveEndpointUrl", value=self.endpoint_url, description="@connections endpoint")

    def manage_connections_arns(self) -> list[str]:
        """``execute-api:ManageConnections`` on this stage's connections: posting to one, closing one."""
        stack = Stack.of(self)
        return [
            stack.format_arn(
                service="execute-api", resource=self.api.api_id, resource_name=f"{STAGE}/{method}/@connections/*"
            )
            for method in ("POST", "DELETE")
        ]
