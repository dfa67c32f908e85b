"""Functions: every entry of ``dcmms.catalogue.FUNCTIONS`` as a Lambda function, with only its own grants.

Runtime: Python 3.12 on arm64 (Graviton: ~20% cheaper per GB-second than x86_64 and at least as fast for
this pure-Python/orjson/pydantic-core workload); the layers are built for exactly that (layers/build.py):
the base layer for every function, and an extra's layer after it for a function whose catalogue ``layer``
names one (the reports function's ReportLab and openpyxl never weigh on the API's cold start).
Each function has its own role, its own log group, and the environment variables of what it uses
(``cdk.access``): a function that never opens PostgreSQL does not carry the database URL. A function with
trigger "sqs" is connected to its job queue (cdk/queues.py) once built; the user pool's settings and grants
(``connect_identity``) and API Gateway's (``connect_gateway``) are added once the pool and the API exist, since
both are built around functions of the catalogue (the pool's trigger, the API's authorizer). A catalogue function
``in_vpc`` runs in the app subnets behind the functions' security group; the others (the authorizer, the pool's
trigger) outside the VPC, with no network interface.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from aws_cdk import Annotations, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from cdk import nag
from cdk.access import ACCESS, QUERY, Access
from cdk.assets import CodeAssets
from cdk.config import DeploymentConfig
from cdk.data import DataRefs
from cdk.network import Network, retention
from cdk.queues import JobQueues, name_variable, url_variable
from dcmms.catalogue import FUNCTIONS, FunctionSpec
from layers.build import BASE_LAYER

if TYPE_CHECKING:
    from cdk.api import Api
    from cdk.identity import Identity
    from cdk.live import Live

RUNTIME = lambda_.Runtime.PYTHON_3_12
ARCHITECTURE = lambda_.Architecture.ARM_64
LAYER_PYTHON_VERSION = "3.12"  # layers/build.py builds wheels for this interpreter
INSIGHTS = lambda_.LambdaInsightsVersion.VERSION_1_0_498_0
VPC_POLICY = "service-role/AWSLambdaVPCAccessExecutionRole"
BASIC_POLICY = "service-role/AWSLambdaBasicExecutionRole"  # the same log-stream rights, without the ENI actions
INSIGHTS_POLICY = "CloudWatchLambdaInsightsExecutionRolePolicy"
SES_SEND = ["ses:SendEmail", "ses:SendRawEmail"]


class Functions(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        cfg: DeploymentConfig,
        network: Network,
        data: DataRefs,
        code: CodeAssets,
        queues: JobQueues,
    ) -> None:
        super().__init__(scope, id)
        self.cfg, self.network, self.data, self.queues = cfg, network, data, queues
        if code.placeholder_layers:
            names = ", ".join(sorted(code.placeholder_layers))
            Annotations.of(self).add_warning_v2(
                "dcmms:placeholder-layer",
                f"Dependency layer(s) {names} are PLACEHOLDERS (the base one holds only dcmms): layers/build*/ are "
                "not built. Run `python -m layers.build` (or `make synth`) before deploying.",
            )
        self.layers: dict[str, lambda_.LayerVersion] = {}
        for name, layer_code in code.layers.items():
            base = name == BASE_LAYER
            self.layers[name] = lambda_.LayerVersion(
                self,
                "Dependencies" if base else f"Dependencies-{name}",
                code=layer_code,
                compatible_runtimes=[RUNTIME],
                compatible_architectures=[ARCHITECTURE],
                description=(
                    "dcmms and its runtime dependencies (manylinux aarch64 wheels, boto3 from the runtime)"
                    if base
                    else f"The '{name}' extra's dependencies not in the base layer (manylinux aarch64 wheels)"
                ),
            )
        self.layer = self.layers[BASE_LAYER]
        self.specs: dict[str, FunctionSpec] = {s.name: s for s in FUNCTIONS}
        self.access: dict[str, Access] = {s.name: self._access(s) for s in FUNCTIONS}
        self.functions: dict[str, lambda_.Function] = {
            spec.name: self._build_function(spec, code.functions) for spec in FUNCTIONS
        }
        queues.connect(self.functions, {s.name: self.reserved_concurrency(s) for s in FUNCTIONS})

    def function_layers(self, spec: FunctionSpec) -> list[lambda_.ILayerVersion]:
        """The base layer, then the function's extra layer if it has one (Lambda extracts them in this order)."""
        if spec.layer not in self.layers:
            raise ValueError(f"catalogue function {spec.name!r} uses layer {spec.layer!r}, which is not staged")
        return [self.layer] if spec.layer == BASE_LAYER else [self.layer, self.layers[spec.layer]]

    def reserved_concurrency(self, spec: FunctionSpec) -> int | None:
        """The API's, ingest's and the projector's come from configuration (they scale with the environment);
        others from the catalogue."""
        if spec.trigger == "http":
            return self.cfg.api.reserved_concurrency
        if spec.trigger == "kinesis":
            return self.cfg.ingest_concurrency
        if spec.trigger == "dynamodb-stream":
            return self.cfg.projector.reserved_concurrency
        return spec.reserved_concurrency

    def _access(self, spec: FunctionSpec) -> Access:
        access = ACCESS.get(spec.name)
        if access is None:
            Annotations.of(self).add_warning_v2(
                f"dcmms:no-access-{spec.name}",
                f"Catalogue function '{spec.name}' has no entry in cdk/access.py: it is deployed without data access.",
            )
            return Access()
        return access

    def _environment(self, spec: FunctionSpec, access: Access) -> dict[str, str]:
        env = {
            "DCMMS_ENVIRONMENT": self.cfg.env_name,
            "DCMMS_AWS_REGION": Stack.of(self).region,
            "DCMMS_TABLE_PREFIX": self.cfg.table_prefix,
            "DCMMS_TRACING": "true",
            "DCMMS_MEMORY_LIMIT_MB": str(spec.memory_mb),
            "POWERTOOLS_LOG_LEVEL": "INFO",
        }
        if access.redis:
            env["DCMMS_REDIS_URL"] = self.data.redis_url
            if self.cfg.redis.cluster_mode:  # the configuration endpoint: the client follows the slots
                env["DCMMS_REDIS_CLUSTER"] = "true"
        if access.postgres:
            env["DCMMS_DATABASE_URL"] = self.data.database_url
            # The read replicas (dashboards, search) and the analytics replica: readmodel.router falls back to
            # the primary without them, so they are set only where they are deployed.
            if self.data.database_replica_urls:
                env["DCMMS_DATABASE_REPLICA_URLS"] = ",".join(self.data.database_replica_urls)
            if self.data.database_analytics_url:
                env["DCMMS_DATABASE_ANALYTICS_URL"] = self.data.database_analytics_url
        if access.kinesis_put:
            env["DCMMS_KINESIS_STREAM"] = self.data.names.stream
        if access.dead_letter_write:
            env["DCMMS_DEAD_LETTER_BUCKET"] = self.data.dead_letter_bucket
        for queue in self._queues(spec, access):
            env[url_variable(queue)] = self.queues.queue_url(queue)
            env[name_variable(queue)] = f"{self.cfg.prefix}-{queue}"
        if access.reports_read or access.reports_write:
            env["DCMMS_REPORTS_BUCKET"] = self.data.reports_bucket
        if access.report_email:
            env["DCMMS_REPORT_SENDER"] = self.cfg.reports.sender
        return env | spec.environment

    @staticmethod
    def _queues(spec: FunctionSpec, access: Access) -> list[str]:
        """The job queues a function sends to, and the one it consumes (whose URL it gets as well)."""
        own = [spec.queue.queue] if spec.trigger == "sqs" and spec.queue is not None else []
        return list(dict.fromkeys([*access.queues_send, *own]))

    def _build_function(self, spec: FunctionSpec, code: lambda_.Code) -> lambda_.Function:
        access = self.access[spec.name]
        name = self.function_name(spec.name)
        insights = self.cfg.monitoring.lambda_insights
        execution_policy = VPC_POLICY if spec.in_vpc else BASIC_POLICY
        managed = [iam.ManagedPolicy.from_aws_managed_policy_name(execution_policy)]
        if insights:
            managed.append(iam.ManagedPolicy.from_aws_managed_policy_name(INSIGHTS_POLICY))
        role = iam.Role(
            self,
            f"{spec.name}-Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            managed_policies=managed,
            description=f"dCMMS {spec.name} function: only what it uses",
        )
        log_group = logs.LogGroup(
            self,
            f"{spec.name}-Logs",
            log_group_name=f"/aws/lambda/{name}",
            retention=retention(self.cfg.log_retention_days),
            removal_policy=RemovalPolicy.RETAIN if self.cfg.production else RemovalPolicy.DESTROY,
        )
        fn = lambda_.Function(
            self,
            spec.name,
            function_name=name,
            description=f"dCMMS {spec.name} ({spec.trigger})",
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=spec.handler,
            code=code,
            layers=self.function_layers(spec),
            memory_size=spec.memory_mb,
            timeout=Duration.seconds(spec.timeout_s),
            reserved_concurrent_executions=self.reserved_concurrency(spec),
            environment=self._environment(spec, access),
            role=role,
            log_group=log_group,
            tracing=lambda_.Tracing.ACTIVE,
            insights_version=INSIGHTS if insights else None,
            vpc=self.network.vpc if spec.in_vpc else None,
            vpc_subnets=self.network.app_subnets if spec.in_vpc else None,
            security_groups=[self.network.functions_sg] if spec.in_vpc else None,
            # The HTTP function's scale-outs restore from a snapshot of its initialized environment; the
            # runtime hooks that keep a restored environment correct are in dcmms/snapstart.py.
            snap_start=(
                lambda_.SnapStartConf.ON_PUBLISHED_VERSIONS
                if spec.trigger == "http" and self.cfg.api.cold_start == "snapstart"
                else None
            ),
        )
        self._grant(role, access)
        nag.acknowledge(
            fn,
            "AwsSolutions-L1",
            f"Pinned to Python {LAYER_PYTHON_VERSION}: the layer's wheels are built for exactly this interpreter "
            "(layers/build.py), so runtime and layer are upgraded together, deliberately.",
        )
        nag.acknowledge(
            role,
            f"AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/{execution_policy}]",
            nag.VPC_LAMBDA_POLICY if spec.in_vpc else nag.BASIC_LAMBDA_POLICY,
        )
        if insights:
            nag.acknowledge(
                role,
                f"AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/{INSIGHTS_POLICY}]",
                "The AWS-maintained policy the Lambda Insights extension needs to write its log group.",
            )
        nag.acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::*]",
            nag.XRAY_AND_LIST_STREAMS_WILDCARD if access.table_streams_consume else nag.XRAY_WILDCARD,
        )
        return fn

    def function_name(self, name: str) -> str:
        """The deployed name of catalogue function ``name``: a literal, so that it can be named without a
        reference to the function (the API's integration, cdk/api.py)."""
        return f"{self.cfg.prefix}-{name}"

    def connect_identity(self, identity: Identity) -> None:
        """The user pool's settings and grants, for the functions whose access names them."""
        for name, fn in self.functions.items():
            access = self.access[name]
            if access.cognito:
                fn.add_environment("DCMMS_COGNITO_USER_POOL_ID", identity.pool.user_pool_id)
                fn.add_environment("DCMMS_COGNITO_CLIENT_ID", identity.client.user_pool_client_id)
            if access.cognito_admin:
                fn.add_to_role_policy(
                    iam.PolicyStatement(actions=list(access.cognito_admin), resources=[identity.pool.user_pool_arn])
                )
            if access.identity_provider_tenants:
                fn.add_environment("DCMMS_IDENTITY_PROVIDER_TENANTS", json.dumps(identity.provider_tenants))

    def connect_gateway(self, api: Api) -> None:
        """The usage plans' and the people usage keys' settings and grants, for the functions whose access names
        them. API Gateway's ARNs carry no account: ``arn:aws:apigateway:<region>::/<path>``."""
        stack = Stack.of(self)

        def gateway(path: str) -> str:
            return stack.format_arn(service="apigateway", account="", resource=path)

        plans = {tier: plan.usage_plan_id for tier, plan in api.plans.items()}
        people = {tier: key.key_id for tier, key in api.people_keys.items()}
        for name, fn in self.functions.items():
            access = self.access[name]
            if access.usage_plan_keys:
                fn.add_environment("DCMMS_USAGE_PLAN_IDS", stack.to_json_string(plans))
                plan_keys = [gateway(f"/usageplans/{plan}/keys") for plan in plans.values()]
                fn.add_to_role_policy(
                    iam.PolicyStatement(actions=["apigateway:POST"], resources=[gateway("/apikeys"), *plan_keys])
                )
                # The keys it issued, by ids known only at run time: any API key or usage-plan key of the region,
                # but DELETE on nothing else (no stage, plan or API), and never a people usage key (below).
                deletable = [gateway("/apikeys/*"), *(f"{k}/*" for k in plan_keys)]
                fn.add_to_role_policy(iam.PolicyStatement(actions=["apigateway:DELETE"], resources=deletable))
                protected = [gateway(f"/apikeys/{key}") for key in people.values()]  # in plans of their own
                fn.add_to_role_policy(
                    iam.PolicyStatement(effect=iam.Effect.DENY, actions=["apigateway:DELETE"], resources=protected)
                )
                role = fn.role
                assert role is not None
                for resource in deletable:
                    nag.acknowledge(
                        role,
                        f"AwsSolutions-IAM5[Resource::{nag.finding_resource(self, resource)}]",
                        "The management API deletes the API Gateway keys it imported for the dCMMS keys it issued "
                        "(and their usage-plan membership), whose ids exist only at run time; the grant is DELETE "
                        "on API keys and the tiers' plan keys only, and an explicit Deny protects the people keys.",
                    )
            if access.people_usage_keys:
                fn.add_environment("DCMMS_PEOPLE_USAGE_KEY_IDS", stack.to_json_string(people))
                fn.add_to_role_policy(
                    iam.PolicyStatement(
                        actions=["apigateway:GET"], resources=[gateway(f"/apikeys/{key}") for key in people.values()]
                    )
                )

    def connect_live(self, live: Live) -> None:
        """Live updates' settings and grants: the functions that post get the WebSocket stage's @connections endpoint
        and ManageConnections on its POST and DELETE @connections/* (connection ids exist only at run time); the
        functions that relay get the live function's name and the right to invoke it, nothing else."""
        target = live.function
        for name, fn in self.functions.items():
            access = self.access[name]
            if access.live_post:
                fn.add_environment("DCMMS_LIVE_ENDPOINT_URL", live.endpoint_url)
                resources = live.manage_connections_arns()
                fn.add_to_role_policy(
                    iam.PolicyStatement(actions=["execute-api:ManageConnections"], resources=resources)
                )
                role = fn.role
                assert role is not None
                for resource in resources:
                    nag.acknowledge(
                        role,
                        f"AwsSolutions-IAM5[Resource::{nag.finding_resource(self, resource)}]",
                        "API Gateway names a WebSocket connection only when it opens; the grant is posting to and "
                        "closing the connections of the live-updates API's one stage, nothing else of any API.",
                    )
            if access.live_relay:
                if target is fn:
                    raise ValueError(f"catalogue function {name!r} cannot relay live frames to itself")
                fn.add_environment("DCMMS_LIVE_RELAY_FUNCTION", self.function_name(_live_function_name(self.specs)))
                fn.add_to_role_policy(
                    iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[target.function_arn])
                )

    def _grant(self, role: iam.Role, access: Access) -> None:
        for base_name, actions in access.tables.items():
            if base_name not in self.data.tables:
                raise ValueError(
                    f"cdk/access.py grants {', '.join(actions)} on table '{base_name}', which dcmms.store.models "
                    "does not define (so no table is deployed)"
                )
            table_arn = self.data.tables[base_name].table_arn
            item_actions = [a for a in actions if a != QUERY]
            if item_actions:
                role.add_to_policy(iam.PolicyStatement(actions=item_actions, resources=[table_arn]))
            if QUERY in actions:
                # Query on the table and on each of its GSIs by name: no index wildcard.
                resources = [table_arn, *self.data.index_arns(base_name)]
                role.add_to_policy(iam.PolicyStatement(actions=[QUERY], resources=resources))
        if access.kinesis_put:
            # The stream uses the aws/kinesis key, so producers need no KMS grant of their own.
            role.add_to_policy(
                iam.PolicyStatement(
                    actions=["kinesis:PutRecord", "kinesis:PutRecords"], resources=[self.data.stream.stream_arn]
                )
            )
        if access.dead_letter_write:
            objects = self.data.dead_letter_objects_arn()
            role.add_to_policy(iam.PolicyStatement(actions=["s3:PutObject"], resources=[objects]))
            nag.acknowledge(
                role,
                f"AwsSolutions-IAM5[Resource::{nag.finding_resource(self, objects)}]",
                "Dead letters are one object per record, keyed by day and sequence number; the grant is PutObject "
                "under the dead-letter prefix of the one bucket.",
            )
        for queue in access.queues_send:
            role.add_to_policy(
                iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[self.queues.queues[queue].queue_arn])
            )
        report_actions = [
            a for a, wanted in (("s3:GetObject", access.reports_read), ("s3:PutObject", access.reports_write)) if wanted
        ]
        if report_actions:
            objects = self.data.reports_objects_arn()
            role.add_to_policy(iam.PolicyStatement(actions=report_actions, resources=[objects]))
            nag.acknowledge(
                role,
                f"AwsSolutions-IAM5[Resource::{nag.finding_resource(self, objects)}]",
                "Reports are one object per report, keyed reports/<tenant>/<report id>; the grant is "
                f"{' and '.join(report_actions)} under the reports prefix of the one bucket (tenancy is checked by "
                "the application before it reads, writes or presigns a key).",
            )
        if access.report_email:
            self._grant_email(role)

    def _grant_email(self, role: iam.Role) -> None:
        """SendEmail/SendRawEmail through the configured SES identity, as the configured sender only (and, in the
        SES sandbox, to the verified recipient identities configured, which SES then authorizes as well)."""
        rep, stack = self.cfg.reports, Stack.of(self)

        def identity(name: str) -> str:
            return stack.format_arn(service="ses", resource="identity", resource_name=name)

        role.add_to_policy(
            iam.PolicyStatement(
                actions=SES_SEND,
                resources=[identity(rep.ses_identity), *(identity(r) for r in rep.sandbox_recipients)],
                conditions={"StringEquals": {"ses:FromAddress": rep.sender}},
            )
        )


def _live_function_name(specs: dict[str, FunctionSpec]) -> str:
    """The catalogue's one WebSocket function (what the relays invoke)."""
    (name,) = [n for n, spec in specs.items() if spec.trigger == "websocket"]
    return name
