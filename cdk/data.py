"""Data: DynamoDB tables, the telemetry stream, Redis, the telemetry PostgreSQL, the dead-letter and reports buckets.

Tables come from ``dcmms.store.models.table_definitions()`` (the same pynamodb classes the local stack
creates tables from), so their keys, indexes and streams cannot drift from the code. Connection strings are
built here for the functions' environment (``DCMMS_REDIS_URL``, ``DCMMS_DATABASE_URL``, and the read
replicas' ``DCMMS_DATABASE_REPLICA_URLS`` / ``DCMMS_DATABASE_ANALYTICS_URL``); their secrets enter as
CloudFormation dynamic references resolved at deploy time, because the application reads its settings from
environment variables only (see docs/deploy.md on rotation).

A table's stream ARN carries a creation timestamp, so the service stack cannot compute it from a name: the
data stack publishes it as an SSM parameter whose name either stack computes (``DataNames``), and the
service stack reads it at deploy time. An export would block the data stack from ever changing it (a
stream re-created with another view type) while the service stack imports it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aws_cdk import Duration, RemovalPolicy, SecretValue, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticache as elasticache
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_logs as logs
from aws_cdk import aws_rds as rds
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from cdk import nag
from cdk.config import DeploymentConfig
from cdk.network import Network, retention

DEAD_LETTER_PREFIX = "telemetry-dlq/"  # dcmms.telemetry.ingest.S3DeadLetters' default prefix
REPORTS_PREFIX = "reports/"  # dcmms.reports writes reports/{tenant_id}/{report_id}.{ext}
RDS_LOG_EXPORTS = ("postgresql", "upgrade")
POSTGRES_PORT = 5432  # RDS Proxy listens on the engine's default port whatever the instance's port

_ATTRIBUTE_TYPES = {
    "S": dynamodb.AttributeType.STRING,
    "N": dynamodb.AttributeType.NUMBER,
    "B": dynamodb.AttributeType.BINARY,
}


@dataclass(frozen=True)
class KeySpec:
    partition: tuple[str, str]  # (attribute, "S"|"N"|"B")
    sort: tuple[str, str] | None


@dataclass(frozen=True)
class TableSpec:
    base_name: str
    key: KeySpec
    indexes: dict[str, KeySpec]
    projections: dict[str, tuple[str, tuple[str, ...]]]  # index -> (projection type, non-key attributes)
    ttl_attribute: str | None
    stream_view_type: str | None = None  # "NEW_AND_OLD_IMAGES" for the tables the read model projects


def _key(schema: list[dict[str, str]], types: dict[str, str]) -> KeySpec:
    by_role = {k["KeyType"]: k["AttributeName"] for k in schema}
    hash_name, range_name = by_role["HASH"], by_role.get("RANGE")
    return KeySpec((hash_name, types[hash_name]), (range_name, types[range_name]) if range_name else None)


def _ttl_attributes() -> dict[str, str]:
    """base name -> attribute name of a pynamodb TTLAttribute, for the tables whose model declares one."""
    from pynamodb.attributes import TTLAttribute

    from dcmms.store.models import TABLES

    out = {}
    for model in TABLES:
        for attr in model.get_attributes().values():
            if isinstance(attr, TTLAttribute):
                out[model.base_name] = attr.attr_name
    return out


def table_specs() -> list[TableSpec]:
    """The tables the code defines, read from ``table_definitions()`` (pynamodb's own schema)."""
    from dcmms.store.models import table_definitions

    ttl = _ttl_attributes()
    specs = []
    for d in table_definitions():
        types = {a["AttributeName"]: a["AttributeType"] for a in d["attribute_definitions"]}
        if d["local_secondary_indexes"]:
            raise ValueError(f"table {d['base_name']}: local secondary indexes are not deployed by this app")
        indexes, projections = {}, {}
        for gsi in d["global_secondary_indexes"]:
            types |= {a["AttributeName"]: a["AttributeType"] for a in gsi["attribute_definitions"]}
            indexes[gsi["index_name"]] = _key(gsi["key_schema"], types)
            p = gsi["projection"]
            projections[gsi["index_name"]] = (p["ProjectionType"], tuple(p.get("NonKeyAttributes", ())))
        view = d.get("stream_view_type")
        if view is not None and view not in dynamodb.StreamViewType.__members__:
            raise ValueError(f"table {d['base_name']}: unknown stream view type {view!r}")
        specs.append(
            TableSpec(
                d["base_name"],
                _key(d["key_schema"], types),
                indexes,
                projections,
                ttl.get(d["base_name"]),
                view,
            )
        )
    return specs


@dataclass(frozen=True)
class DataNames:
    """Physical names either stack can compute: the service stack refers to tables, the stream and the
    dead-letter bucket by these, so its IAM policies and metrics need no cross-stack exports."""

    table_prefix: str
    stream: str
    dead_letter_bucket: str
    reports_bucket: str
    database_instance: str
    redis_group: str
    parameter_prefix: str  # SSM parameters the data stack publishes for the service stack
    database_replicas: tuple[str, ...] = ()  # instance identifiers of the read replicas (dashboards, search)
    database_analytics: str | None = None  # instance identifier of the analytics replica

    @classmethod
    def of(cls, cfg: DeploymentConfig, scope: Construct) -> DataNames:
        account = Stack.of(scope).account  # the account id, or the AWS::AccountId of the stack at hand
        db = cfg.telemetry_db
        rds_mode = db.mode == "rds"
        return cls(
            table_prefix=cfg.table_prefix,
            stream=f"{cfg.prefix}-telemetry",
            dead_letter_bucket=f"{cfg.prefix}-{cfg.region}-dead-letters-{account}",
            reports_bucket=f"{cfg.prefix}-{cfg.region}-reports-{account}",
            database_instance=f"{cfg.prefix}-telemetry",
            redis_group=f"{cfg.prefix}-cache",
            parameter_prefix=f"/{cfg.prefix}",
            database_replicas=tuple(
                f"{cfg.prefix}-telemetry-replica-{n}" for n in range(1, (db.read_replicas if rds_mode else 0) + 1)
            ),
            database_analytics=f"{cfg.prefix}-telemetry-analytics" if rds_mode and db.analytics_replica else None,
        )

    def stream_arn_parameter(self, base_name: str) -> str:
        """The SSM parameter holding the ARN of the table's DynamoDB stream (SSM names are per region)."""
        return f"{self.parameter_prefix}/tables/{base_name}/stream-arn"


def _attribute(spec: tuple[str, str]) -> dynamodb.Attribute:
    return dynamodb.Attribute(name=spec[0], type=_ATTRIBUTE_TYPES[spec[1]])


class Data(Construct):
    def __init__(self, scope: Construct, id: str, *, cfg: DeploymentConfig, network: Network) -> None:
        super().__init__(scope, id)
        self.cfg = cfg
        self.network = network
        self.removal = RemovalPolicy.RETAIN if cfg.production else RemovalPolicy.DESTROY
        self.names = DataNames.of(cfg, self)
        self.specs = table_specs()
        self.access_logs = self._build_access_logs()
        self.tables = self._build_tables()
        self.stream = self._build_stream()
        self.dead_letters = self._build_dead_letters()
        self.reports = self._build_reports()
        self.redis, self.redis_url, self.redis_node_ids = self._build_redis()
        self.proxy: rds.DatabaseProxy | None = None
        # identifier -> read replica, and their URLs (readmodel.router: dashboards/search, analytics)
        self.replicas: dict[str, rds.DatabaseInstanceReadReplica] = {}
        self.replica_urls: list[str] = []
        self.analytics_url: str | None = None
        self.database, self.database_url = self._build_postgres()

    # -- S3 ------------------------------------------------------------------------------------------

    def _bucket(self, id: str, **kwargs: Any) -> s3.Bucket:
        return s3.Bucket(
            self,
            id,
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            removal_policy=self.removal,
            auto_delete_objects=False,
            **kwargs,
        )

    def _build_access_logs(self) -> s3.Bucket:
        bucket = self._bucket(
            "AccessLogs",
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(max(90, self.cfg.log_retention_days)))],
        )
        nag.acknowledge(bucket, "AwsSolutions-S1", nag.LOG_BUCKET)
        return bucket

    def _build_dead_letters(self) -> s3.Bucket:
        """Records the ingest function refused, one JSON object each with payload and reason."""
        return self._bucket(
            "DeadLetters",
            bucket_name=self.names.dead_letter_bucket,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="dead-letters/",
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(self.cfg.dead_letter_retention_days))],
        )

    def _build_reports(self) -> s3.Bucket:
        """Generated reports, ``reports/{tenant_id}/{report_id}.{ext}``, downloaded through 15-minute presigned
        URLs the API signs. Encrypted as the dead-letter bucket is (S3-managed keys: a presigned GET then needs
        no KMS grant), TLS only, never public, unversioned (a report is written once; regenerating it writes a
        new report id), and expired ``reports.retention_days`` after it was written; an upload the function
        did not finish (a timeout mid multipart upload) is aborted after a day rather than billed forever."""
        return self._bucket(
            "Reports",
            bucket_name=self.names.reports_bucket,
            versioned=False,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="reports/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-reports",
                    prefix=REPORTS_PREFIX,
                    expiration=Duration.days(self.cfg.reports.retention_days),
                ),
                s3.LifecycleRule(
                    id="abort-incomplete-uploads",
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                ),
            ],
        )

    # -- DynamoDB ------------------------------------------------------------------------------------

    def _build_tables(self) -> dict[str, dynamodb.Table]:
        tables = {}
        for spec in self.specs:
            table = dynamodb.Table(
                self,
                "Table-" + spec.base_name,
                table_name=self.cfg.table_prefix + spec.base_name,
                partition_key=_attribute(spec.key.partition),
                sort_key=_attribute(spec.key.sort) if spec.key.sort else None,
                billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
                point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                    point_in_time_recovery_enabled=True
                ),
                deletion_protection=self.cfg.production,
                time_to_live_attribute=spec.ttl_attribute,
                encryption=dynamodb.TableEncryption.AWS_MANAGED,
                removal_policy=self.removal,
                stream=dynamodb.StreamViewType[spec.stream_view_type] if spec.stream_view_type else None,
            )
            if spec.stream_view_type:
                ssm.StringParameter(
                    self,
                    "StreamArn-" + spec.base_name,
                    parameter_name=self.names.stream_arn_parameter(spec.base_name),
                    string_value=table.table_stream_arn,  # set: the table has a stream
                    description=f"ARN of the DynamoDB stream of {self.cfg.table_prefix}{spec.base_name} (service stack)",
                    tier=ssm.ParameterTier.STANDARD,
                )
            for name, key in spec.indexes.items():
                projection, non_key = spec.projections[name]
                table.add_global_secondary_index(
                    index_name=name,
                    partition_key=_attribute(key.partition),
                    sort_key=_attribute(key.sort) if key.sort else None,
                    projection_type=dynamodb.ProjectionType[projection],
                    non_key_attributes=list(non_key) or None,
                )
            tables[spec.base_name] = table
        return tables

    # -- Kinesis -------------------------------------------------------------------------------------

    def _build_stream(self) -> kinesis.Stream:
        """Encrypted with the aws/kinesis key: producers and consumers need no KMS grants of their own."""
        k = self.cfg.kinesis
        provisioned = k.mode == "provisioned"
        return kinesis.Stream(
            self,
            "Telemetry",
            stream_name=self.names.stream,
            stream_mode=kinesis.StreamMode.PROVISIONED if provisioned else kinesis.StreamMode.ON_DEMAND,
            shard_count=k.shards if provisioned else None,
            retention_period=Duration.hours(k.retention_hours),
            encryption=kinesis.StreamEncryption.MANAGED,
            removal_policy=self.removal,
        )

    # -- Redis ---------------------------------------------------------------------------------------

    def _build_redis(self) -> tuple[elasticache.CfnReplicationGroup, str, list[str]]:
        r = self.cfg.redis
        sg = self.network.functions_only(
            self, "RedisSg", "dCMMS Redis: the functions only", r.port, "Redis from the functions"
        )
        subnets = elasticache.CfnSubnetGroup(
            self,
            "RedisSubnets",
            description="dCMMS Redis data subnets",
            subnet_ids=self.network.vpc.select_subnets(subnet_group_name="data").subnet_ids,
        )
        auth = secretsmanager.Secret(
            self,
            "RedisAuth",
            description="dCMMS Redis AUTH token",
            generate_secret_string=secretsmanager.SecretStringGenerator(exclude_punctuation=True, password_length=64),
            removal_policy=self.removal,
        )
        nag.acknowledge(
            auth,
            "AwsSolutions-SMG4",
            "The token reaches the functions as DCMMS_REDIS_URL at deploy time; rotating it would lock them out "
            "until the next deploy. Rotate by redeploying with a new secret version (docs/deploy.md).",
        )
        token = auth.secret_value.unsafe_unwrap()
        group_id = self.names.redis_group
        sizing: dict[str, Any]
        if r.cluster_mode:
            sizing = {
                "cluster_mode": "enabled",
                "num_node_groups": r.shards,
                "replicas_per_node_group": r.replicas_per_shard,
                "cache_parameter_group_name": "default.redis7.cluster.on",
            }
            node_ids = [
                f"{group_id}-{s:04d}-{n:03d}"
                for s in range(1, r.shards + 1)
                for n in range(1, r.replicas_per_shard + 2)
            ]
        else:
            sizing = {
                "cluster_mode": "disabled",
                "num_cache_clusters": 1 + r.replicas_per_shard,
                "cache_parameter_group_name": "default.redis7",
            }
            node_ids = [f"{group_id}-{n:03d}" for n in range(1, r.replicas_per_shard + 2)]
        group = elasticache.CfnReplicationGroup(
            self,
            "Redis",
            replication_group_id=group_id,
            replication_group_description="dCMMS cache, rate limits and locks",
            engine="redis",
            engine_version=r.engine_version,
            cache_node_type=r.node_type,
            port=r.port,
            automatic_failover_enabled=True,
            multi_az_enabled=True,
            transit_encryption_enabled=True,
            transit_encryption_mode="required",
            at_rest_encryption_enabled=True,
            auth_token=token,
            cache_subnet_group_name=subnets.ref,
            security_group_ids=[sg.security_group_id],
            snapshot_retention_limit=r.snapshot_retention_days,
            auto_minor_version_upgrade=True,
            **sizing,
        )
        group.apply_removal_policy(RemovalPolicy.SNAPSHOT if self.cfg.production else RemovalPolicy.DESTROY)
        if r.cluster_mode:
            host, port = group.attr_configuration_end_point_address, group.attr_configuration_end_point_port
        else:
            host, port = group.attr_primary_end_point_address, group.attr_primary_end_point_port
        # rediss://: TLS is required (transit_encryption_mode); the token is the AUTH password.
        return group, f"rediss://:{token}@{host}:{port}/0", node_ids

    # -- PostgreSQL ----------------------------------------------------------------------------------

    def _build_postgres(self) -> tuple[rds.DatabaseInstance | None, str]:
        db = self.cfg.telemetry_db
        if db.mode == "external":
            # host, port, username, password, dbname: the usual Secrets Manager layout for databases.
            name = db.external_secret_name
            assert name is not None  # checked by config validation

            def field(key: str) -> str:
                return SecretValue.secrets_manager(name, json_field=key).unsafe_unwrap()

            return None, (
                f"postgresql://{field('username')}:{field('password')}@{field('host')}:{field('port')}/"
                f"{field('dbname')}?sslmode=require"
            )
        return self._build_rds()

    def _build_rds(self) -> tuple[rds.DatabaseInstance, str]:
        db, vpc = self.cfg.telemetry_db, self.network.vpc
        secret = secretsmanager.Secret(
            self,
            "TelemetryDbCredentials",
            description="dCMMS telemetry PostgreSQL credentials",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template='{"username": "dcmms"}',
                generate_string_key="password",
                # Letters and digits only: the password is embedded in a postgresql:// URL.
                exclude_punctuation=True,
                password_length=40,
            ),
            removal_policy=self.removal,
        )
        nag.acknowledge(
            secret,
            "AwsSolutions-SMG4",
            "The functions receive these credentials in DCMMS_DATABASE_URL at deploy time, so automatic rotation "
            "would break them until the next deploy; rotate with a deploy (docs/deploy.md).",
        )
        db_sg = ec2.SecurityGroup(
            self, "TelemetryDbSg", vpc=vpc, description="dCMMS PostgreSQL: RDS Proxy only", allow_all_outbound=False
        )
        proxy_sg = self.network.functions_only(
            self,
            "TelemetryProxySg",
            "dCMMS RDS Proxy: the functions only",
            POSTGRES_PORT,
            "PostgreSQL from the functions",
        )
        proxy_sg.add_egress_rule(db_sg, ec2.Port.tcp(db.port), "to the instance")
        db_sg.add_ingress_rule(proxy_sg, ec2.Port.tcp(db.port), "PostgreSQL from RDS Proxy")
        major = db.engine_version.split(".")[0]
        instance = rds.DatabaseInstance(
            self,
            "TelemetryDb",
            engine=rds.DatabaseInstanceEngine.postgres(version=rds.PostgresEngineVersion.of(db.engine_version, major)),
            instance_type=ec2.InstanceType(db.instance_type),
            vpc=vpc,
            vpc_subnets=self.network.data_subnets,
            security_groups=[db_sg],
            credentials=rds.Credentials.from_secret(secret),
            database_name=db.database_name,
            port=db.port,
            multi_az=db.multi_az,
            allocated_storage=db.allocated_storage_gb,
            max_allocated_storage=db.max_allocated_storage_gb,
            storage_type=rds.StorageType.GP3,
            storage_encrypted=True,
            backup_retention=Duration.days(db.backup_retention_days),
            deletion_protection=self.cfg.production,
            removal_policy=RemovalPolicy.SNAPSHOT if self.cfg.production else RemovalPolicy.DESTROY,
            iam_authentication=True,
            publicly_accessible=False,
            auto_minor_version_upgrade=True,
            instance_identifier=self.names.database_instance,
            cloudwatch_logs_exports=list(RDS_LOG_EXPORTS),
            enable_performance_insights=True,
            monitoring_interval=Duration.seconds(60) if self.cfg.production else None,
        )
        self._log_groups(instance, "TelemetryDbLogs", self.names.database_instance)
        monitoring_role = instance.node.try_find_child("MonitoringRole")
        if monitoring_role is not None:
            nag.acknowledge(
                monitoring_role,
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole]",
                "The AWS-maintained policy RDS Enhanced Monitoring needs to publish OS metrics.",
            )
        if not db.multi_az:
            nag.acknowledge(
                instance,
                "AwsSolutions-RDS3",
                f"Single-AZ in {self.cfg.env_name} to halve its cost; production sets telemetry_db.multi_az.",
            )
        if not self.cfg.production:
            nag.acknowledge(
                instance,
                "AwsSolutions-RDS10",
                "Deletion protection is for production; development databases are disposable.",
            )
        proxy = rds.DatabaseProxy(
            self,
            "TelemetryProxy",
            proxy_target=rds.ProxyTarget.from_instance(instance),
            secrets=[secret],
            vpc=vpc,
            vpc_subnets=self.network.data_subnets,
            security_groups=[proxy_sg],
            require_tls=True,
            iam_auth=False,
            debug_logging=False,
        )
        self.proxy = proxy
        user = secret.secret_value_from_json("username").unsafe_unwrap()
        password = secret.secret_value_from_json("password").unsafe_unwrap()

        def url(host: str, port: int) -> str:
            return f"postgresql://{user}:{password}@{host}:{port}/{db.database_name}?sslmode=require"

        self._build_replicas(instance, monitoring_role, url)
        return instance, url(proxy.endpoint, POSTGRES_PORT)

    def _log_groups(self, instance: rds.DatabaseInstanceBase, id_prefix: str, identifier: str) -> None:
        """The exported logs' groups, created here with a retention (instead of CDK's LogRetention function)."""
        for export in RDS_LOG_EXPORTS:
            group = logs.LogGroup(
                self,
                f"{id_prefix}-{export}",
                log_group_name=f"/aws/rds/instance/{identifier}/{export}",
                retention=retention(self.cfg.log_retention_days),
                removal_policy=self.removal,
            )
            instance.node.add_dependency(group)

    def _build_replicas(
        self, primary: rds.DatabaseInstance, monitoring_role: Any, url: Callable[[str, int], str]
    ) -> None:
        """Read replicas of the primary in its subnet group, with its engine, storage encryption (inherited),
        port, log exports, Performance Insights and enhanced-monitoring role. RDS Proxy does not front them:
        its read-only endpoints serve Aurora clusters only, and a proxy targets one RDS instance, so the
        functions connect to each replica directly (TLS), which is also what lets ``readmodel.router`` measure
        each replica's own replay lag. Their security group admits the functions only."""
        db, names = self.cfg.telemetry_db, self.names
        wanted = [(f"TelemetryReplica{n}", ident) for n, ident in enumerate(names.database_replicas, 1)]
        if names.database_analytics:
            wanted.append(("TelemetryAnalytics", names.database_analytics))
        if not wanted:
            return
        sg = self.network.functions_only(
            self,
            "TelemetryReplicaSg",
            "dCMMS PostgreSQL read replicas: the functions only",
            db.port,
            "PostgreSQL replicas from the functions",
        )
        subnet_group = primary.node.find_child("SubnetGroup")
        for construct_id, identifier in wanted:
            replica = rds.DatabaseInstanceReadReplica(
                self,
                construct_id,
                source_database_instance=primary,
                instance_type=ec2.InstanceType(db.replica_instance_type or db.instance_type),
                instance_identifier=identifier,
                vpc=self.network.vpc,
                subnet_group=subnet_group,  # the rds.SubnetGroup CDK made for the primary
                security_groups=[sg],
                port=db.port,
                storage_type=rds.StorageType.GP3,
                max_allocated_storage=db.max_allocated_storage_gb,
                multi_az=False,
                publicly_accessible=False,
                auto_minor_version_upgrade=True,
                cloudwatch_logs_exports=list(RDS_LOG_EXPORTS),
                enable_performance_insights=True,
                monitoring_interval=Duration.seconds(60) if monitoring_role is not None else None,
                monitoring_role=monitoring_role,
                deletion_protection=self.cfg.production,
                # A replica holds nothing of its own: deleting it loses no data (the primary is snapshotted).
                removal_policy=RemovalPolicy.DESTROY,
            )
            self._log_groups(replica, f"{construct_id}Logs", identifier)
            nag.acknowledge(
                replica,
                "AwsSolutions-RDS2",
                "A same-region read replica inherits storage encryption and its key from the encrypted primary; "
                "CloudFormation takes no StorageEncrypted with SourceDBInstanceIdentifier.",
            )
            nag.acknowledge(
                replica,
                "AwsSolutions-RDS3",
                "A read replica is a read-scaling copy: when it fails, readmodel.router sends its queries to the "
                "next replica and then to the Multi-AZ primary, so a standby of its own would double its cost "
                "for no durability.",
            )
            nag.acknowledge(
                replica,
                "AwsSolutions-RDS11",
                f"The replica names no engine (it replicates the primary's PostgreSQL); it listens on the primary's "
                f"non-default port {db.port}.",
            )
            if not self.cfg.production:
                nag.acknowledge(
                    replica,
                    "AwsSolutions-RDS10",
                    "Deletion protection is for production; development replicas are disposable.",
                )
            self.replicas[identifier] = replica
            endpoint = url(replica.db_instance_endpoint_address, db.port)
            if identifier == names.database_analytics:
                self.analytics_url = endpoint
            else:
                self.replica_urls.append(endpoint)


class DataRefs(Construct):
    """The data stack as the service stack sees it: tables, stream and bucket by name (no exports), the
    tables' stream ARNs through SSM parameters the data stack publishes (resolved at deploy time), and the
    connection URLs (whose endpoints and secrets are the only cross-stack references)."""

    def __init__(self, scope: Construct, id: str, *, cfg: DeploymentConfig, data: Data) -> None:
        super().__init__(scope, id)
        stack = Stack.of(self)
        self.names = DataNames.of(cfg, self)
        self.tables: dict[str, dynamodb.ITable] = {}
        for spec in data.specs:
            name = self.names.table_prefix + spec.base_name
            if spec.stream_view_type:
                # An SSM parameter of the service stack (AWS::SSM::Parameter::Value<String>): CloudFormation
                # reads the current ARN on every deploy, and the CDK CLI never skips a stack that has one.
                stream_arn = ssm.StringParameter.value_for_string_parameter(
                    self, self.names.stream_arn_parameter(spec.base_name)
                )
                table = dynamodb.Table.from_table_attributes(
                    self, "Table-" + spec.base_name, table_name=name, table_stream_arn=stream_arn
                )
            else:
                table = dynamodb.Table.from_table_name(self, "Table-" + spec.base_name, name)
            self.tables[spec.base_name] = table
        self.streams = tuple(spec.base_name for spec in data.specs if spec.stream_view_type)
        self.indexes: dict[str, tuple[str, ...]] = {spec.base_name: tuple(spec.indexes) for spec in data.specs}
        self.stream = kinesis.Stream.from_stream_arn(
            self, "Stream", stack.format_arn(service="kinesis", resource="stream", resource_name=self.names.stream)
        )
        self.dead_letter_bucket = self.names.dead_letter_bucket
        self.reports_bucket = self.names.reports_bucket
        self.redis_url = data.redis_url
        self.redis_node_ids = list(data.redis_node_ids)
        self.database_url = data.database_url
        self.database_replica_urls = list(data.replica_urls)
        self.database_analytics_url = data.analytics_url
        self.database_instance = self.names.database_instance if data.database is not None else None

    def index_arns(self, base_name: str) -> list[str]:
        """Each GSI of the table by name: Query rights on exactly the indexes that exist, no wildcard."""
        arn = self.tables[base_name].table_arn
        return [f"{arn}/index/{name}" for name in self.indexes[base_name]]

    def dead_letter_objects_arn(self) -> str:
        return f"arn:{Stack.of(self).partition}:s3:::{self.dead_letter_bucket}/{DEAD_LETTER_PREFIX}*"

    def reports_objects_arn(self) -> str:
        """The report documents: every tenant's, under the one prefix (tenancy is the application's check)."""
        return f"arn:{Stack.of(self).partition}:s3:::{self.reports_bucket}/{REPORTS_PREFIX}*"
