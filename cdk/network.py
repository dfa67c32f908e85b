"""Network: a VPC whose functions reach AWS through endpoints, not NAT.

Without NAT (``network.nat_gateways`` 0, the default) every subnet is isolated: DynamoDB and S3 through
gateway endpoints (free), Kinesis (the API's PutRecords) through an interface endpoint, SQS (job queues:
the API and the schedule runs enqueue reports) and the SES API (the report emails) through interface
endpoints when a function uses them (``cdk.access``), CloudWatch Logs only when Lambda Insights needs it. The
API function's management API reaches Cognito's user pools API (people; and the pool's JWKS, for tokens) and API
Gateway's control plane (the usage-plan keys it imports and deletes) through the ``cognito-idp`` and
``apigateway`` interface endpoints. Cognito serves no request of a pool that has a domain through its endpoint, so
with identity providers (which give the pool a domain) there is no cognito-idp endpoint and the configuration
requires NAT (cdk/config.py). The API and ingest functions hand live-update frames to the live function through
the ``lambda`` interface endpoint (API Gateway's ``@connections`` endpoint is public, and no execute-api endpoint
can reach a public API). Functions outside the VPC (``in_vpc`` False: the authorizer, the pool's trigger, the live
function) need none of these. Redis and PostgreSQL sit in their own isolated subnets. The functions share one security
group, which is the only source the data stores admit.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from constructs import Construct

from cdk.access import ACCESS, Access
from cdk.config import DeploymentConfig
from dcmms.catalogue import by_name

APP_SUBNETS = "app"
DATA_SUBNETS = "data"


class Network(Construct):
    def __init__(self, scope: Construct, id: str, *, cfg: DeploymentConfig) -> None:
        super().__init__(scope, id)
        self.cfg = cfg
        self.vpc = self._build_vpc()
        self.app_subnets = ec2.SubnetSelection(subnet_group_name=APP_SUBNETS)
        self.data_subnets = ec2.SubnetSelection(subnet_group_name=DATA_SUBNETS)
        self.functions_sg = ec2.SecurityGroup(
            self,
            "FunctionsSg",
            vpc=self.vpc,
            description="dCMMS Lambda functions: the only source Redis and PostgreSQL admit",
            allow_all_outbound=True,
        )
        self._build_endpoints()

    def _build_vpc(self) -> ec2.Vpc:
        net = self.cfg.network
        egress = net.nat_gateways > 0
        subnets = [
            ec2.SubnetConfiguration(
                name=APP_SUBNETS,
                subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS if egress else ec2.SubnetType.PRIVATE_ISOLATED,
                cidr_mask=20,
            ),
            ec2.SubnetConfiguration(name=DATA_SUBNETS, subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24),
        ]
        if egress:
            subnets.insert(0, ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24))
        vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(net.cidr),
            # Explicit zone names: an environment-agnostic stack would otherwise get only two.
            availability_zones=[f"{self.cfg.region}{z}" for z in "abc"[: net.max_azs]],
            nat_gateways=net.nat_gateways,
            subnet_configuration=subnets,
            restrict_default_security_group=False,
        )
        flow_logs = logs.LogGroup(
            self,
            "FlowLogs",
            retention=retention(net.flow_log_retention_days),
            removal_policy=RemovalPolicy.RETAIN if self.cfg.production else RemovalPolicy.DESTROY,
        )
        vpc.add_flow_log(
            "FlowLog",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs),
            traffic_type=ec2.FlowLogTrafficType.REJECT,
        )
        return vpc

    def functions_only(self, scope: Construct, id: str, description: str, port: int, rule: str) -> ec2.SecurityGroup:
        """A security group in ``scope`` admitting the functions' group on ``port`` and nothing else, with no
        outbound rule: what every data service and endpoint the functions reach sits behind."""
        sg = ec2.SecurityGroup(scope, id, vpc=self.vpc, description=description, allow_all_outbound=False)
        sg.add_ingress_rule(self.functions_sg, ec2.Port.tcp(port), rule)
        return sg

    def _build_endpoints(self) -> None:
        app = [self.app_subnets]
        self.vpc.add_gateway_endpoint("DynamoDb", service=ec2.GatewayVpcEndpointAwsService.DYNAMODB, subnets=app)
        self.vpc.add_gateway_endpoint("S3", service=ec2.GatewayVpcEndpointAwsService.S3, subnets=app)
        interface = [("Kinesis", ec2.InterfaceVpcEndpointAwsService.KINESIS_STREAMS)]
        inside = vpc_access()
        if any(access.queues_send for access in inside):
            interface.append(("Sqs", ec2.InterfaceVpcEndpointAwsService.SQS))
        if any(access.report_email for access in inside):
            # com.amazonaws.<region>.email: the SES API (SendEmail/SendRawEmail), not the SMTP interface.
            interface.append(("Email", ec2.InterfaceVpcEndpointAwsService.EMAIL))
        if any(access.cognito or access.cognito_admin for access in inside) and not self.cfg.cognito.identity_providers:
            # com.amazonaws.<region>.cognito-idp: the user pools API and the pool's JWKS (never with a pool domain).
            interface.append(("CognitoIdp", ec2.InterfaceVpcEndpointAwsService.COGNITO_IDP))
        if any(access.usage_plan_keys or access.people_usage_keys for access in inside):
            # com.amazonaws.<region>.apigateway: API Gateway's control plane. Not CDK's APIGATEWAY, which is
            # execute-api (private APIs): with private DNS, that one would capture every call to a public API.
            interface.append(("ApiGateway", ec2.InterfaceVpcEndpointAwsService("apigateway")))
        if any(access.live_relay for access in inside):
            # com.amazonaws.<region>.lambda: the asynchronous invokes that hand live-update frames to the live function,
            # which posts them to API Gateway's public @connections endpoint (unreachable from this VPC without NAT).
            interface.append(("Lambda", ec2.InterfaceVpcEndpointAwsService.LAMBDA_))
        if self.cfg.monitoring.lambda_insights:
            # The Lambda Insights extension ships its telemetry to CloudWatch Logs from inside the VPC.
            interface.append(("Logs", ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS))
        for name, service in interface:
            sg = self.functions_only(self, f"{name}EndpointSg", f"{name} endpoint", 443, "HTTPS from the functions")
            self.vpc.add_interface_endpoint(
                f"{name}Endpoint",
                service=service,
                subnets=self.app_subnets,
                security_groups=[sg],
                open=False,  # only the functions' security group, not the whole VPC range
                private_dns_enabled=True,
            )


def vpc_access() -> list[Access]:
    """What the catalogue's functions inside the VPC use: what the interface endpoints are for."""
    return [access for name, access in ACCESS.items() if by_name(name).in_vpc]


# CloudWatch Logs accepts only these retention periods (days), in RetentionDays' order.
_RETENTION_DAYS = {
    1: "ONE_DAY",
    3: "THREE_DAYS",
    5: "FIVE_DAYS",
    7: "ONE_WEEK",
    14: "TWO_WEEKS",
    30: "ONE_MONTH",
    60: "TWO_MONTHS",
    90: "THREE_MONTHS",
    120: "FOUR_MONTHS",
    150: "FIVE_MONTHS",
    180: "SIX_MONTHS",
    365: "ONE_YEAR",
    400: "THIRTEEN_MONTHS",
    545: "EIGHTEEN_MONTHS",
    731: "TWO_YEARS",
    1827: "FIVE_YEARS",
    3653: "TEN_YEARS",
}


def retention(days: int) -> logs.RetentionDays:
    """The shortest allowed CloudWatch Logs retention that keeps at least ``days`` days."""
    for allowed, name in _RETENTION_DAYS.items():
        if allowed >= days:
            return logs.RetentionDays[name]
    return logs.RetentionDays.TEN_YEARS
