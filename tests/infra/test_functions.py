"""Every catalogue function is deployed as the catalogue says, with only the grants and settings it uses."""

from __future__ import annotations

import pytest

from cdk.access import ACCESS
from dcmms.catalogue import FUNCTIONS, by_name
from tests.infra.conftest import Synthesis, function_by_name, function_grants, resources

ENVS = ("dev", "prod")


@pytest.mark.parametrize("env", ENVS)
def test_every_catalogue_function_is_deployed_as_catalogued(synthesis: Synthesis, env: str) -> None:
    template = synthesis.template(env, "service")
    deployed = {res["Properties"].get("FunctionName") for res in resources(template, "AWS::Lambda::Function").values()}
    assert {f"dcmms-{env}-{spec.name}" for spec in FUNCTIONS} <= deployed
    for spec in FUNCTIONS:
        _, fn = function_by_name(template, spec.name)
        p = fn["Properties"]
        assert p["Handler"] == spec.handler
        assert p["Runtime"] == "python3.12" and p["Architectures"] == ["arm64"]
        assert p["MemorySize"] == spec.memory_mb and p["Timeout"] == spec.timeout_s
        assert p["TracingConfig"] == {"Mode": "Active"}
        # our dependency layer, plus the Lambda Insights extension where monitoring asks for it (prod)
        assert p["Layers"][0]["Ref"].startswith("FunctionsDependencies")
        assert len(p["Layers"]) == (2 if env == "prod" else 1)
        assert p["VpcConfig"]["SubnetIds"] and p["VpcConfig"]["SecurityGroupIds"]
        env_vars = p["Environment"]["Variables"]
        assert env_vars["DCMMS_ENVIRONMENT"] == env
        assert env_vars["DCMMS_TABLE_PREFIX"] == f"dcmms-{env}-"
        assert env_vars["DCMMS_MEMORY_LIMIT_MB"] == str(spec.memory_mb)
        if spec.trigger == "schedule":
            assert p["ReservedConcurrentExecutions"] == spec.reserved_concurrency


def test_settings_reach_only_the_functions_that_use_them(synthesis: Synthesis) -> None:
    template = synthesis.template("prod", "service")
    for name, access in ACCESS.items():
        env_vars = function_by_name(template, name)[1]["Properties"]["Environment"]["Variables"]
        assert ("DCMMS_DATABASE_URL" in env_vars) is access.postgres, name
        assert ("DCMMS_REDIS_URL" in env_vars) is access.redis, name
        assert ("DCMMS_REDIS_CLUSTER" in env_vars) is access.redis, name
        assert ("DCMMS_KINESIS_STREAM" in env_vars) is access.kinesis_put, name
        assert ("DCMMS_DEAD_LETTER_BUCKET" in env_vars) is access.dead_letter_write, name
    api = function_by_name(template, "api")[1]["Properties"]["Environment"]["Variables"]
    assert api["DCMMS_KINESIS_STREAM"] == "dcmms-prod-telemetry"
    ingest = function_by_name(template, "ingest")[1]["Properties"]["Environment"]["Variables"]
    assert "dcmms-prod-us-west-2-dead-letters-" in str(ingest["DCMMS_DEAD_LETTER_BUCKET"])
    # prod Redis is in cluster mode, and the functions' client is told so (dev's single node is not)
    assert api["DCMMS_REDIS_CLUSTER"] == "true"
    dev_api = function_by_name(synthesis.template("dev", "service"), "api")[1]["Properties"]["Environment"]
    assert "DCMMS_REDIS_CLUSTER" not in dev_api["Variables"]
    # TLS to Redis and to PostgreSQL
    assert str(api["DCMMS_REDIS_URL"]).count("rediss://") == 1
    assert "sslmode=require" in str(api["DCMMS_DATABASE_URL"])


def test_every_catalogue_function_declares_its_access() -> None:
    assert {spec.name for spec in FUNCTIONS} <= set(ACCESS)


def _tables(grants: dict[str, set[str]], action: str) -> set[str]:
    """Table base names (and table/index paths) the action is granted on."""
    out = set()
    for resource in grants.get(action, set()):
        path = resource.split(":table/dcmms-prod-", 1)[1]
        out.add(path)
    return out


def test_api_puts_records_on_the_stream_and_nothing_else_on_kinesis(synthesis: Synthesis) -> None:
    grants = function_grants(synthesis.template("prod", "service"), "api")
    kinesis = {a: r for a, r in grants.items() if a.startswith("kinesis:")}
    assert set(kinesis) == {"kinesis:PutRecord", "kinesis:PutRecords"}
    for targets in kinesis.values():
        assert targets == {"arn:aws:kinesis:us-west-2:<AWS::AccountId>:stream/dcmms-prod-telemetry"}
    assert not [a for a in grants if a.startswith(("kms:", "s3:", "sqs:", "secretsmanager:"))]


def test_api_reads_keys_and_never_scans_or_touches_the_directory(synthesis: Synthesis) -> None:
    grants = function_grants(synthesis.template("prod", "service"), "api")
    assert "dynamodb:Scan" not in grants and "dynamodb:UpdateItem" not in grants
    assert _tables(grants, "dynamodb:GetItem") >= {"api-keys", "sites", "work-orders"}
    written = _tables(grants, "dynamodb:PutItem")
    assert written == {"sites", "assets", "work-orders", "alerts", "alert-rules"}
    assert _tables(grants, "dynamodb:DeleteItem") == {"sites", "assets", "alert-rules"}
    # tenants and users are never read by the API; api-keys only by key
    everything = set().union(*(_tables(grants, a) for a in grants if a.startswith("dynamodb:")))
    assert not {t for t in everything if t.split("/")[0] in ("tenants", "users")}
    assert {a for a in grants if "api-keys" in str(grants[a])} == {"dynamodb:GetItem"}
    # Query on indexes is granted index by index, no wildcard
    assert "work-orders/index/by_site_status" in _tables(grants, "dynamodb:Query")
    assert not any("*" in r for a, rs in grants.items() if a.startswith("dynamodb:") for r in rs)


def test_ingest_reads_the_stream_writes_alerts_and_dead_letters_only(synthesis: Synthesis) -> None:
    template = synthesis.template("prod", "service")
    grants = function_grants(template, "ingest")
    assert "kinesis:GetRecords" in grants and "kinesis:PutRecord" not in grants and "kinesis:PutRecords" not in grants
    assert _tables(grants, "dynamodb:PutItem") == {"alerts", "work-orders"}
    assert _tables(grants, "dynamodb:GetItem") == {"assets", "alerts", "work-orders"}
    assert "dynamodb:DeleteItem" not in grants and "dynamodb:Scan" not in grants
    assert grants["s3:PutObject"] == {"arn:aws:s3:::dcmms-prod-us-west-2-dead-letters-<AWS::AccountId>/telemetry-dlq/*"}
    assert {a for a in grants if a.startswith("s3:")} == {"s3:PutObject"}
    (queue,) = [k for k in resources(template, "AWS::SQS::Queue") if k.startswith("IngestOnFailure")]
    assert grants["sqs:SendMessage"] == {f"<{queue}.Arn>"}


def test_warmer_only_reads_and_scans_only_tenants(synthesis: Synthesis) -> None:
    grants = function_grants(synthesis.template("prod", "service"), "warmer")
    dynamo = {a for a in grants if a.startswith("dynamodb:")}
    assert dynamo == {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan"}
    assert _tables(grants, "dynamodb:Scan") == {"tenants"}
    assert not [a for a in grants if a.startswith(("kinesis:", "s3:", "sqs:"))]


def test_telemetry_partitions_has_no_aws_data_access(synthesis: Synthesis) -> None:
    grants = function_grants(synthesis.template("prod", "service"), "telemetry-partitions")
    assert set(grants) == {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}


def test_kpi_refreshes_every_5_minutes_one_at_a_time_with_no_aws_data_access(synthesis: Synthesis) -> None:
    """It reaches PostgreSQL (network, RDS Proxy) and nothing in AWS: no table, no stream, no bucket."""
    grants = function_grants(synthesis.template("prod", "service"), "kpi")
    assert set(grants) == {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
    spec = by_name("kpi")
    assert (spec.trigger, spec.schedule, spec.reserved_concurrency) == ("schedule", "rate(5 minutes)", 1)


def test_no_function_holds_a_service_wide_wildcard(synthesis: Synthesis) -> None:
    template = synthesis.template("prod", "service")
    for spec in FUNCTIONS:
        for action in function_grants(template, spec.name):
            assert not action.endswith(":*") and action != "*", (spec.name, action)


def test_placeholder_layer_holds_only_dcmms_and_is_flagged(synthesis: Synthesis) -> None:
    layer = synthesis.outdir / "staging" / "layer-placeholder" / "python"
    assert sorted(p.name for p in layer.iterdir()) == ["dcmms"]
    warnings = [a for a in synthesis.annotations["dcmms-prod-us-west-2-service"] if a["type"] == "aws:cdk:warning"]
    assert any("PLACEHOLDER" in str(a["data"]) for a in warnings)


ITEM_ACTIONS = {
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:Scan",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:PartiQLSelect",
}


def test_projector_reads_its_streams_and_touches_no_table(synthesis: Synthesis) -> None:
    from dcmms.catalogue import by_name

    template = synthesis.template("prod", "service")
    grants = function_grants(template, "projector")
    # no item action on any table: the mappings hand it the records
    assert not ITEM_ACTIONS & set(grants)
    # the stream reads on exactly the projected tables' stream ARNs (SSM parameters of the stack)
    source = by_name("projector").stream
    assert source is not None
    parameters = {f"<{k}>": p["Default"] for k, p in template.get("Parameters", {}).items()}
    for action in ("dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"):
        assert {parameters[r] for r in grants[action]} == {
            f"/dcmms-prod/tables/{t}/stream-arn" for t in source.tables
        }, action
    assert grants["dynamodb:ListStreams"] == {"*"}  # no resource-level permissions (acknowledged in cdk-nag)
    (queue,) = [k for k in resources(template, "AWS::SQS::Queue") if k.startswith("ProjectionOnFailure")]
    assert grants["sqs:SendMessage"] == {f"<{queue}.Arn>"}
    assert not [a for a in grants if a.startswith(("kinesis:", "s3:", "secretsmanager:", "kms:"))]
    # PostgreSQL only: no Redis, stream or bucket settings
    env_vars = function_by_name(template, "projector")[1]["Properties"]["Environment"]["Variables"]
    assert "DCMMS_DATABASE_URL" in env_vars and env_vars["DCMMS_TABLE_PREFIX"] == "dcmms-prod-"
    assert not {"DCMMS_REDIS_URL", "DCMMS_KINESIS_STREAM", "DCMMS_DEAD_LETTER_BUCKET"} & set(env_vars)


def test_replica_urls_reach_the_functions_that_use_postgres_where_replicas_exist(synthesis: Synthesis) -> None:
    prod = synthesis.template("prod", "service")
    for name, access in ACCESS.items():
        env_vars = function_by_name(prod, name)[1]["Properties"]["Environment"]["Variables"]
        assert ("DCMMS_DATABASE_REPLICA_URLS" in env_vars) is access.postgres, name
        assert ("DCMMS_DATABASE_ANALYTICS_URL" in env_vars) is access.postgres, name
    api = function_by_name(prod, "api")[1]["Properties"]["Environment"]["Variables"]
    replicas, analytics = str(api["DCMMS_DATABASE_REPLICA_URLS"]), str(api["DCMMS_DATABASE_ANALYTICS_URL"])
    # one read replica in production (cdk.json), over TLS, to the replica's own endpoint, not RDS Proxy's
    for url in (replicas, analytics, str(api["DCMMS_DATABASE_URL"])):
        assert url.count("postgresql://") == 1 and "sslmode=require" in url
    assert "TelemetryReplica1" in replicas and "TelemetryAnalytics" in analytics
    assert "TelemetryProxy" not in replicas + analytics and "TelemetryProxy" in str(api["DCMMS_DATABASE_URL"])
    # development deploys no replica: the router uses the primary for every purpose
    dev = synthesis.template("dev", "service")
    for name in ACCESS:
        env_vars = function_by_name(dev, name)[1]["Properties"]["Environment"]["Variables"]
        assert not {"DCMMS_DATABASE_REPLICA_URLS", "DCMMS_DATABASE_ANALYTICS_URL"} & set(env_vars), name
