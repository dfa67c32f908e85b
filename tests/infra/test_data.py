"""Tables, stream, Redis, PostgreSQL, the dead-letter and reports buckets as deployed."""

from __future__ import annotations

import json

import pytest
from pynamodb.attributes import TTLAttribute, UnicodeAttribute

from cdk import data as data_module
from dcmms.store.models import table_definitions
from tests.infra.conftest import Synthesis, only, resources

ENVS = ("dev", "prod")


def _key(schema: list[dict[str, str]]) -> dict[str, str]:
    return {k["KeyType"]: k["AttributeName"] for k in schema}


def _deployed_tables(synthesis: Synthesis, env: str) -> dict[str, dict]:
    prefix = f"dcmms-{env}-"
    out = {}
    for res in resources(synthesis.template(env, "data"), "AWS::DynamoDB::Table").values():
        name = res["Properties"]["TableName"]
        assert name.startswith(prefix), name
        out[name.removeprefix(prefix)] = res["Properties"]
    return out


@pytest.mark.parametrize("env", ENVS)
def test_table_key_schemas_are_the_ones_the_code_uses(synthesis: Synthesis, env: str) -> None:
    # given the pynamodb definitions the repositories and the local stack use
    code = {d["base_name"]: d for d in table_definitions()}
    # when the deployed tables are read back from the template
    deployed = _deployed_tables(synthesis, env)
    # then the same tables, keys, attribute types and indexes exist, and nothing else
    assert set(deployed) == set(code)
    for base, definition in code.items():
        table = deployed[base]
        assert _key(table["KeySchema"]) == _key(definition["key_schema"]), base
        types = {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]}
        code_types = {a["AttributeName"]: a["AttributeType"] for a in definition["attribute_definitions"]}
        for gsi in definition["global_secondary_indexes"]:
            code_types |= {a["AttributeName"]: a["AttributeType"] for a in gsi["attribute_definitions"]}
        assert types == code_types, base
        deployed_gsis = {g["IndexName"]: g for g in table.get("GlobalSecondaryIndexes", [])}
        code_gsis = {g["index_name"]: g for g in definition["global_secondary_indexes"]}
        assert set(deployed_gsis) == set(code_gsis), base
        for name, gsi in code_gsis.items():
            assert _key(deployed_gsis[name]["KeySchema"]) == _key(gsi["key_schema"]), (base, name)
            assert deployed_gsis[name]["Projection"]["ProjectionType"] == gsi["projection"]["ProjectionType"]
        assert "LocalSecondaryIndexes" not in table


@pytest.mark.parametrize("env", ENVS)
def test_tables_are_on_demand_with_point_in_time_recovery(synthesis: Synthesis, env: str) -> None:
    for base, table in _deployed_tables(synthesis, env).items():
        assert table["BillingMode"] == "PAY_PER_REQUEST", base
        assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True, base
        assert table["DeletionProtectionEnabled"] is (env == "prod"), base
        # only the live-updates connections expire (API Gateway ends a connection after 2 h; its items follow)
        if base == "live-connections":
            assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
        else:
            assert "TimeToLiveSpecification" not in table, base


def test_production_tables_are_retained_on_stack_deletion(synthesis: Synthesis) -> None:
    for res in resources(synthesis.template("prod", "data"), "AWS::DynamoDB::Table").values():
        assert res["DeletionPolicy"] == "Retain"
    for res in resources(synthesis.template("dev", "data"), "AWS::DynamoDB::Table").values():
        assert res["DeletionPolicy"] == "Delete"


def test_a_ttl_attribute_on_a_model_becomes_the_tables_ttl(monkeypatch: pytest.MonkeyPatch) -> None:
    # given a model with a pynamodb TTLAttribute among the tables
    from dcmms.store import models

    class Expiring(models._Base):
        base_name = "expiring"
        id = UnicodeAttribute(hash_key=True)
        expires = TTLAttribute(attr_name="expires_at")

    monkeypatch.setattr(models, "TABLES", (*models.TABLES, Expiring))
    # when the CDK reads the table specs
    specs = {s.base_name: s for s in data_module.table_specs()}
    # then that table (only) gets its TTL attribute
    assert specs["expiring"].ttl_attribute == "expires_at"
    assert specs["work-orders"].ttl_attribute is None


def test_stream_takes_mode_and_shards_from_configuration_and_is_encrypted(synthesis: Synthesis) -> None:
    dev = only(synthesis.template("dev", "data"), "AWS::Kinesis::Stream")["Properties"]
    prod = only(synthesis.template("prod", "data"), "AWS::Kinesis::Stream")["Properties"]
    assert (dev["ShardCount"], prod["ShardCount"]) == (1, 72)
    assert prod["StreamModeDetails"] == {"StreamMode": "PROVISIONED"}
    assert prod["RetentionPeriodHours"] == 168
    assert prod["StreamEncryption"] == {"EncryptionType": "KMS", "KeyId": "alias/aws/kinesis"}


def test_redis_is_clustered_multi_az_tls_with_auth_and_admits_only_the_functions(synthesis: Synthesis) -> None:
    template = synthesis.template("prod", "data")
    redis = only(template, "AWS::ElastiCache::ReplicationGroup")["Properties"]
    assert redis["ClusterMode"] == "enabled" and redis["NumNodeGroups"] == 3
    assert redis["ReplicasPerNodeGroup"] == 1
    assert redis["MultiAZEnabled"] is True and redis["AutomaticFailoverEnabled"] is True
    assert redis["TransitEncryptionEnabled"] is True and redis["TransitEncryptionMode"] == "required"
    assert redis["AtRestEncryptionEnabled"] is True
    assert "{{resolve:secretsmanager:" in str(redis["AuthToken"])
    # the only ingress to Redis' security group is from the functions' security group, on the Redis port
    (redis_sg,) = redis["SecurityGroupIds"]
    ingress = [
        r["Properties"]
        for r in resources(template, "AWS::EC2::SecurityGroupIngress").values()
        if r["Properties"]["GroupId"] == redis_sg
    ]
    assert len(ingress) == 1
    assert ingress[0]["SourceSecurityGroupId"]["Fn::GetAtt"][0].startswith("NetworkFunctionsSg")
    assert ingress[0]["FromPort"] == ingress[0]["ToPort"] == redis["Port"]


def test_postgres_sits_behind_rds_proxy_reachable_only_from_the_functions(synthesis: Synthesis) -> None:
    template = synthesis.template("prod", "data")
    db, _ = _instances(synthesis, "prod")  # the primary (its read replicas have tests of their own)
    assert db["Engine"] == "postgres" and db["StorageEncrypted"] is True
    assert db["MultiAZ"] is True and db["DeletionProtection"] is True and db["PubliclyAccessible"] is False
    proxy = only(template, "AWS::RDS::DBProxy")["Properties"]
    assert proxy["EngineFamily"] == "POSTGRESQL" and proxy["RequireTLS"] is True
    (proxy_sg,) = proxy["VpcSecurityGroupIds"]
    sources = {
        json_key(r["Properties"].get("SourceSecurityGroupId"))
        for r in resources(template, "AWS::EC2::SecurityGroupIngress").values()
        if r["Properties"]["GroupId"] == proxy_sg
    }
    assert len(sources) == 1 and next(iter(sources)).startswith("NetworkFunctionsSg")
    # the instance itself admits only the proxy
    (db_sg,) = db["VPCSecurityGroups"]
    db_sources = {
        json_key(r["Properties"].get("SourceSecurityGroupId"))
        for r in resources(template, "AWS::EC2::SecurityGroupIngress").values()
        if r["Properties"]["GroupId"] == db_sg
    }
    assert db_sources == {proxy_sg["Fn::GetAtt"][0]}


def json_key(value: dict | None) -> str:
    return value["Fn::GetAtt"][0] if value else ""


def test_external_timescale_mode_uses_the_configured_secret_without_rds() -> None:
    from cdk import config

    context = {
        "dcmms": config.read_cdk_json_context()["dcmms"],
        "dcmms:overrides": {"telemetry_db": {"mode": "external", "external_secret_name": "dcmms/timescale"}},
    }
    cfg = config.load(context, "dev", "eu-west-1")
    assert cfg.telemetry_db.mode == "external"
    with pytest.raises(config.ConfigError, match="external_secret_name"):
        config.load(
            {**context, "dcmms:overrides": {"telemetry_db": {"mode": "external", "external_secret_name": None}}},
            "dev",
            "eu-west-1",
        )


def test_dead_letter_bucket_is_private_tls_only_and_expires_entries(synthesis: Synthesis) -> None:
    template = synthesis.template("prod", "data")
    buckets = resources(template, "AWS::S3::Bucket")
    dead_letters = next(b for k, b in buckets.items() if k.startswith("DataDeadLetters"))["Properties"]
    assert dead_letters["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert dead_letters["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] == 90
    assert "LoggingConfiguration" in dead_letters
    policy = next(
        p["Properties"]["PolicyDocument"]
        for k, p in resources(template, "AWS::S3::BucketPolicy").items()
        if k.startswith("DataDeadLetters")
    )
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for s in policy["Statement"]
    )


def _bucket_policy(template: dict, prefix: str) -> dict:
    return next(
        p["Properties"]["PolicyDocument"]
        for k, p in resources(template, "AWS::S3::BucketPolicy").items()
        if k.startswith(prefix)
    )


@pytest.mark.parametrize(("env", "days"), [("dev", 30), ("prod", 365)])
def test_reports_bucket_is_private_encrypted_tls_only_and_expires_reports(
    synthesis: Synthesis, env: str, days: int
) -> None:
    template = synthesis.template(env, "data")
    buckets = resources(template, "AWS::S3::Bucket")
    ((reports_id, reports),) = [(k, b) for k, b in buckets.items() if k.startswith("DataReports")]
    props = reports["Properties"]
    assert "-reports-" in json.dumps(props["BucketName"]) and f"dcmms-{env}-us-west-2-reports-" in json.dumps(
        props["BucketName"]
    )
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    # S3-managed keys, as the dead-letter bucket: a presigned GET needs no KMS grant
    (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert "VersioningConfiguration" not in props  # a report is written once
    rules = {r["Id"]: r for r in props["LifecycleConfiguration"]["Rules"]}
    assert rules["expire-reports"] == {
        "Id": "expire-reports",
        "Prefix": "reports/",
        "ExpirationInDays": days,
        "Status": "Enabled",
    }
    assert rules["abort-incomplete-uploads"]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    assert rules["abort-incomplete-uploads"]["Status"] == "Enabled"
    # access logs into the log bucket, as the dead-letter bucket's
    logs_id = next(k for k in buckets if k.startswith("DataAccessLogs"))
    assert props["LoggingConfiguration"] == {
        "DestinationBucketName": {"Ref": logs_id},
        "LogFilePrefix": "reports/",
    }
    statements = _bucket_policy(template, "DataReports")["Statement"]
    tls = [s for s in statements if s["Effect"] == "Deny"]
    assert any(s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in tls)
    assert any(s["Condition"] == {"NumericLessThan": {"s3:TlsVersion": 1.2}} for s in tls)
    assert not [s for s in statements if s["Effect"] == "Allow"]  # no one is let in by the bucket itself
    assert reports["DeletionPolicy"] == ("Retain" if env == "prod" else "Delete")
    assert reports_id in json.dumps(template["Outputs"])


def test_reports_retention_is_configurable_per_environment() -> None:
    from cdk import config

    context = {"dcmms": config.read_cdk_json_context()["dcmms"]}
    assert config.load(context, "dev", "us-west-2").reports.retention_days == 30
    assert config.load(context, "prod", "us-west-2").reports.retention_days == 365
    changed = config.load(
        {**context, "dcmms:overrides:prod": {"reports": {"retention_days": 730}}}, "prod", "us-west-2"
    )
    assert changed.reports.retention_days == 730 and changed.reports.sender == "reports@dcmms.example.com"


def test_functions_reach_aws_through_endpoints_without_nat(synthesis: Synthesis) -> None:
    template = synthesis.template("dev", "data")
    assert not resources(template, "AWS::EC2::NatGateway")
    assert not resources(template, "AWS::EC2::InternetGateway")
    endpoints = [e["Properties"] for e in resources(template, "AWS::EC2::VPCEndpoint").values()]
    services = {json_service(e["ServiceName"]) for e in endpoints}
    # SQS: the API and the report schedules enqueue jobs; email: the SES API for the report emails; cognito-idp and
    # apigateway: the management API's people (and the pool's JWKS) and usage-plan keys
    assert {"dynamodb", "s3", "kinesis-streams", "sqs", "email", "cognito-idp", "apigateway"} <= services
    assert "execute-api" not in services  # private APIs only: with private DNS it would capture public ones
    gateway = {json_service(e["ServiceName"]) for e in endpoints if e.get("VpcEndpointType", "Gateway") == "Gateway"}
    assert gateway == {"dynamodb", "s3"}


def json_service(name: object) -> str:
    text = name if isinstance(name, str) else str(name)
    return text.rsplit(".", 1)[-1].rstrip("\"']}")


# -- DynamoDB streams (the read model's source) and PostgreSQL read replicas ------------------------------


def _projected_tables() -> set[str]:
    from dcmms.catalogue import FUNCTIONS

    (projector,) = [f for f in FUNCTIONS if f.trigger == "dynamodb-stream"]
    assert projector.stream is not None
    return set(projector.stream.tables)


@pytest.mark.parametrize("env", ENVS)
def test_streams_are_on_exactly_the_tables_the_models_and_the_projector_name(synthesis: Synthesis, env: str) -> None:
    # given the models' stream view types and the tables the projector consumes
    code = {d["base_name"]: d["stream_view_type"] for d in table_definitions()}
    # when the deployed tables are read back
    deployed = _deployed_tables(synthesis, env)
    streamed = {base for base, table in deployed.items() if "StreamSpecification" in table}
    # then exactly those tables have a stream, with old and new images, and they are the projector's tables
    assert streamed == {base for base, view in code.items() if view} == _projected_tables()
    for base in streamed:
        assert deployed[base]["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}, base


@pytest.mark.parametrize("env", ENVS)
def test_each_stream_arn_is_published_for_the_service_stack_under_a_computable_name(
    synthesis: Synthesis, env: str
) -> None:
    template = synthesis.template(env, "data")
    tables = {
        res["Properties"]["TableName"].removeprefix(f"dcmms-{env}-"): logical_id
        for logical_id, res in resources(template, "AWS::DynamoDB::Table").items()
    }
    parameters = {p["Properties"]["Name"]: p["Properties"] for p in resources(template, "AWS::SSM::Parameter").values()}
    assert set(parameters) == {f"/dcmms-{env}/tables/{base}/stream-arn" for base in _projected_tables()}
    for base in _projected_tables():
        parameter = parameters[f"/dcmms-{env}/tables/{base}/stream-arn"]
        assert parameter["Value"] == {"Fn::GetAtt": [tables[base], "StreamArn"]}
        assert parameter["Type"] == "String"
    # the service stack reads them at deploy time: no export of a stream ARN, which would pin it
    assert not [o for o in template.get("Outputs", {}).values() if "StreamArn" in str(o.get("Value"))]


def _instances(synthesis: Synthesis, env: str) -> tuple[dict, dict[str, dict]]:
    """(the primary's properties, replica identifier -> replica properties) of the data stack."""
    primary, replicas = None, {}
    for logical_id, res in resources(synthesis.template(env, "data"), "AWS::RDS::DBInstance").items():
        props = res["Properties"]
        if "SourceDBInstanceIdentifier" in props:
            replicas[props["DBInstanceIdentifier"]] = {**props, "_id": logical_id, "_res": res}
        else:
            primary = {**props, "_id": logical_id}
    assert primary is not None
    return primary, replicas


def test_replicas_exist_only_where_configured(synthesis: Synthesis) -> None:
    _, dev = _instances(synthesis, "dev")
    assert dev == {}  # telemetry_db.read_replicas 0, analytics_replica false
    _, prod = _instances(synthesis, "prod")
    assert set(prod) == {"dcmms-prod-telemetry-replica-1", "dcmms-prod-telemetry-analytics"}


def test_replicas_copy_the_primary_and_admit_only_the_functions(synthesis: Synthesis) -> None:
    template = synthesis.template("prod", "data")
    primary, replicas = _instances(synthesis, "prod")
    (replica_sg,) = {json_key(sg) for r in replicas.values() for sg in r["VPCSecurityGroups"]}
    for identifier, replica in replicas.items():
        # a replica of the primary, in its subnet group, with its port, class and monitoring
        assert primary["_id"] in json.dumps(replica["SourceDBInstanceIdentifier"]), identifier
        assert replica["DBSubnetGroupName"] == primary["DBSubnetGroupName"], identifier
        assert replica["Port"] == primary["Port"] == "5433", identifier
        assert replica["DBInstanceClass"] == primary["DBInstanceClass"] == "db.r7g.2xlarge", identifier
        assert replica["MonitoringRoleArn"] == primary["MonitoringRoleArn"], identifier
        assert replica["MonitoringInterval"] == primary["MonitoringInterval"] == 60, identifier
        assert replica["EnablePerformanceInsights"] is True, identifier
        assert replica["EnableCloudwatchLogsExports"] == ["postgresql", "upgrade"], identifier
        assert replica["PubliclyAccessible"] is False and replica["DeletionProtection"] is True, identifier
        # encryption is the primary's (a same-region replica inherits it; it must not say otherwise)
        assert replica.get("StorageEncrypted", True) is True and primary["StorageEncrypted"] is True
        assert "Engine" not in replica  # it replicates the primary's engine and version
        # its exported logs' groups exist with a retention, before it does
        groups = {
            g["Properties"]["LogGroupName"]: g["Properties"]
            for g in resources(template, "AWS::Logs::LogGroup").values()
            if isinstance(g["Properties"].get("LogGroupName"), str)
        }
        for export in ("postgresql", "upgrade"):
            assert groups[f"/aws/rds/instance/{identifier}/{export}"]["RetentionInDays"] == 90
    # the replicas' own security group admits the functions' security group on the PostgreSQL port, only
    ingress = [
        r["Properties"]
        for r in resources(template, "AWS::EC2::SecurityGroupIngress").values()
        if json_key(r["Properties"]["GroupId"]) == replica_sg
    ]
    assert len(ingress) == 1
    assert json_key(ingress[0]["SourceSecurityGroupId"]).startswith("NetworkFunctionsSg")
    assert ingress[0]["FromPort"] == ingress[0]["ToPort"] == 5433
    # and the primary still admits only RDS Proxy
    assert replica_sg not in {json_key(sg) for sg in primary["VPCSecurityGroups"]}


def test_no_rds_proxy_read_only_endpoint_is_created_for_an_rds_instance(synthesis: Synthesis) -> None:
    """RDS Proxy read-only endpoints serve Aurora clusters only; the functions reach replicas directly."""
    assert not resources(synthesis.template("prod", "data"), "AWS::RDS::DBProxyEndpoint")


def test_replicas_follow_the_configuration_of_any_environment(tmp_path) -> None:
    """Two read replicas and no analytics one in development (an override): a second, small synthesis."""
    from cdk.app import build, create_app
    from tests.infra.conftest import REGION, function_by_name

    app = create_app(
        {
            "env": "dev",
            "region": REGION,
            "dcmms:layer": "placeholder",
            "dcmms:overrides:dev": {"telemetry_db": {"read_replicas": 2}},
        },
        outdir=str(tmp_path),
    )
    names = [s.stack_name for s in build(app)]
    app.synth()  # cdk-nag fails this on any unacknowledged finding
    data, service = (json.loads((tmp_path / f"{n}.template.json").read_text()) for n in names)
    replicas = {
        r["Properties"]["DBInstanceIdentifier"]: r["Properties"]
        for r in resources(data, "AWS::RDS::DBInstance").values()
        if "SourceDBInstanceIdentifier" in r["Properties"]
    }
    assert set(replicas) == {"dcmms-dev-telemetry-replica-1", "dcmms-dev-telemetry-replica-2"}
    for replica in replicas.values():
        assert replica["DeletionProtection"] is False and "MonitoringRoleArn" not in replica  # as the dev primary
    lag = [
        a["Properties"]
        for a in resources(service, "AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("MetricName") == "ReplicaLag"
    ]
    assert sorted(a["Dimensions"][0]["Value"] for a in lag) == sorted(replicas)
    assert {a["Threshold"] for a in lag} == {1}
    env_vars = function_by_name(service, "api")[1]["Properties"]["Environment"]["Variables"]
    urls = env_vars["DCMMS_DATABASE_REPLICA_URLS"]
    assert json.dumps(urls).count("postgresql://") == 2 and "DCMMS_DATABASE_ANALYTICS_URL" not in env_vars
