"""The two stacks of one environment in one region.

``DataStack`` holds what keeps state (network, tables, stream, Redis, PostgreSQL, dead letters, reports) and
is deployed first and rarely; ``ServiceStack`` holds what can be replaced at any time (functions, API, event
sources, job queues, schedules, CloudFront, alarms) and is what most deploys change. The functions' security group
lives with the network, so the data stores' ingress rules never point into the service stack. The one stateful
exception is the user pool (cdk/identity.py): it lives in the service stack with its pre-token-generation trigger
(a pool in the data stack would point at a function of the service stack, which points back at the data stack),
retained and deletion-protected in production.
"""

from __future__ import annotations

from aws_cdk import CfnOutput, Environment, Stack, Tags
from constructs import Construct

from cdk.api import Api
from cdk.assets import CodeAssets
from cdk.config import DeploymentConfig
from cdk.data import Data, DataRefs
from cdk.edge import Edge
from cdk.functions import Functions
from cdk.identity import Identity
from cdk.ingest import Ingest, Projection
from cdk.live import Live
from cdk.monitoring import Monitoring, Sources
from cdk.network import Network
from cdk.queues import JobQueues
from cdk.schedules import Schedules
from dcmms.catalogue import FUNCTIONS


def _environment(cfg: DeploymentConfig) -> Environment:
    return Environment(account=cfg.account, region=cfg.region)


def _tag(stack: Stack, cfg: DeploymentConfig) -> None:
    # RDS Proxy target groups take no tags (CloudFormation rejects the property).
    untaggable = ["AWS::RDS::DBProxyTargetGroup"]
    for key, value in {**cfg.tags, "environment": cfg.env_name}.items():
        Tags.of(stack).add(key, value, exclude_resource_types=untaggable)


def stack_name(cfg: DeploymentConfig, part: str) -> str:
    return f"dcmms-{cfg.env_name}-{cfg.region}-{part}"


class DataStack(Stack):
    def __init__(self, scope: Construct, cfg: DeploymentConfig) -> None:
        super().__init__(
            scope,
            stack_name(cfg, "data"),
            env=_environment(cfg),
            description=f"dCMMS {cfg.env_name} state in {cfg.region}: network, tables, stream, Redis, PostgreSQL",
            termination_protection=cfg.production,
        )
        _tag(self, cfg)
        self.network = Network(self, "Network", cfg=cfg)
        self.data = Data(self, "Data", cfg=cfg, network=self.network)
        CfnOutput(self, "TablePrefix", value=cfg.table_prefix)
        CfnOutput(self, "TelemetryStream", value=self.data.stream.stream_name)
        CfnOutput(self, "DeadLetterBucket", value=self.data.dead_letters.bucket_name)
        CfnOutput(self, "ReportsBucket", value=self.data.reports.bucket_name)


class ServiceStack(Stack):
    def __init__(self, scope: Construct, cfg: DeploymentConfig, data_stack: DataStack, code: CodeAssets) -> None:
        super().__init__(
            scope,
            stack_name(cfg, "service"),
            env=_environment(cfg),
            description=f"dCMMS {cfg.env_name} service in {cfg.region}: functions, API, ingest, schedules, edge, alarms",
        )
        _tag(self, cfg)
        self.add_stack_dependency(data_stack)
        network = data_stack.network
        data = DataRefs(self, "DataRefs", cfg=cfg, data=data_stack.data)
        self.queues = JobQueues(self, "Queues", cfg=cfg, specs=FUNCTIONS)
        self.functions = Functions(
            self, "Functions", cfg=cfg, network=network, data=data, code=code, queues=self.queues
        )
        fns = self.functions.functions
        api_name, ingest_name = self._single("http"), self._single("kinesis")
        projector_name = self._single("dynamodb-stream")
        self.identity = Identity(self, "Identity", cfg=cfg, pretoken=fns[self._single("cognito")])
        self.functions.connect_identity(self.identity)
        self.api = Api(
            self,
            "Api",
            cfg=cfg,
            function=fns[api_name],
            function_name=self.functions.function_name(api_name),
            authorizer=fns[self._single("authorizer")],
        )
        self.functions.connect_gateway(self.api)
        # Live updates: the WebSocket API in front of the live function; its access logs go through the account's
        # API Gateway CloudWatch role, which the REST API sets.
        self.live = Live(
            self,
            "Live",
            cfg=cfg,
            function=fns[self._single("websocket")],
            logging_role=self.api.rest_api.node.try_find_child("Account"),
        )
        self.functions.connect_live(self.live)
        self.ingest = Ingest(self, "Ingest", cfg=cfg, function=fns[ingest_name], stream=data.stream)
        self.projection = Projection(
            self,
            "Projection",
            cfg=cfg,
            spec=self.functions.specs[projector_name],
            function=fns[projector_name],
            tables={name: data.tables[name] for name in data.streams},
        )
        self.schedules = Schedules(self, "Schedules", cfg=cfg, functions=fns)
        self.edge = Edge(
            self, "Edge", cfg=cfg, rest_api=self.api.rest_api, identity=self.identity, live_url=self.live.socket_url
        )
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            cfg=cfg,
            sources=Sources(
                data=data,
                api=self.api,
                functions=fns,
                ingest_function=ingest_name,
                projector_function=projector_name,
                dead_letter_queues={
                    "ingest": self.ingest.on_failure,
                    "projector": self.projection.on_failure,
                    "schedules": self.schedules.dead_letters,
                    **self.queues.dead_letters,
                },
                job_queues=dict(self.queues.queues),
            ),
        )

    def _single(self, trigger: str) -> str:
        """The one catalogue function with this trigger (one API behind the gateway, one consumer per kind of
        stream)."""
        names = [name for name, spec in self.functions.specs.items() if spec.trigger == trigger]
        if len(names) != 1:
            raise ValueError(f"expected exactly one catalogue function with trigger {trigger!r}, found {names}")
        return names[0]
