"""Every catalogue function is deployed as the catalogue says, with only the grants and settings it uses."""

from __future__ import annotations

import json

import pytest

from cdk.access import ACCESS
from dcmms.catalogue import FUNCTIONS, by_name
from tests.infra.conftest import Synthesis, function_by_name, function_grants, render, resources

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
        # the base dependency layer, the function's extra layer if it has one, plus the Lambda Insights
        # extension where monitoring asks for it (prod)
        ours = [layer["Ref"] for layer in p["Layers"] if isinstance(layer, dict)]
        assert ours[0].startswith("FunctionsDependencies") and not ours[0].startswith(
            "FunctionsDependencies" + spec.layer
        )
        assert [ref.startswith(f"FunctionsDependencies{spec.layer}") for ref in ours[1:]] == (
            [] if spec.layer == "base" else [True]
        )
        assert len(p["Layers"]) == len(ours) + (1 if env == "prod" else 0)
        if spec.in_vpc:
            assert p["VpcConfig"]["SubnetIds"] and p["VpcConfig"]["SecurityGroupIds"]
        else:  # the authorizer and the pool's trigger: no network interface, AWS's public endpoints
            assert "VpcConfig" not in p, spec.name
        env_vars = p["Environment"]["Variables"]
        assert env_vars["DCMMS_ENVIRONMENT"] == env
        assert env_vars["DCMMS_TABLE_PREFIX"] == f"dcmms-{env}-"
        assert env_vars["DCMMS_MEMORY_LIMIT_MB"] == str(spec.memory_mb)
        if spec.trigger in ("schedule", "sqs"):
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
        assert ("DCMMS_REPORTS_BUCKET" in env_vars) is (access.reports_read or access.reports_write), name
        assert ("DCMMS_REPORTS_QUEUE_URL" in env_vars) is ("reports" in access.queues_send), name
        assert ("DCMMS_REPORT_SENDER" in env_vars) is access.report_email, name
        assert ("DCMMS_COGNITO_USER_POOL_ID" in env_vars) is access.cognito, name
        assert ("DCMMS_COGNITO_CLIENT_ID" in env_vars) is access.cognito, name
        assert ("DCMMS_USAGE_PLAN_IDS" in env_vars) is access.usage_plan_keys, name
        assert ("DCMMS_PEOPLE_USAGE_KEY_IDS" in env_vars) is access.people_usage_keys, name
        assert ("DCMMS_IDENTITY_PROVIDER_TENANTS" in env_vars) is access.identity_provider_tenants, name
        assert ("DCMMS_LIVE_ENDPOINT_URL" in env_vars) is access.live_post, name
        assert ("DCMMS_LIVE_RELAY_FUNCTION" in env_vars) is access.live_relay, name
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


def test_every_table_granted_is_a_table_the_code_defines(synthesis: Synthesis) -> None:
    from dcmms.store.models import table_definitions

    defined = {d["base_name"] for d in table_definitions()}
    for name, access in ACCESS.items():
        assert set(access.tables) <= defined, name
    warnings = [str(a["data"]) for entries in synthesis.annotations.values() for a in entries]
    assert not [w for w in warnings if "dcmms:no-access" in w]


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
    assert not [a for a in grants if a.startswith(("kms:", "secretsmanager:"))]


def test_api_data_access_is_what_its_routes_and_the_management_api_use(synthesis: Synthesis) -> None:
    grants = function_grants(synthesis.template("prod", "service"), "api")
    assert "dynamodb:Scan" not in grants
    assert _tables(grants, "dynamodb:GetItem") >= {"api-keys", "sites", "work-orders", "tenants", "users", "audit"}
    written = _tables(grants, "dynamodb:PutItem")
    assert written == {
        "sites",
        "assets",
        "work-orders",
        "alerts",
        "alert-rules",
        "reports",
        "report-subscriptions",
        "procedures",
        "pm-schedules",
        # the management API: keys issued, people's records, the audit trail
        "api-keys",
        "users",
        "audit",
    }
    assert _tables(grants, "dynamodb:DeleteItem") == {
        "sites",
        "assets",
        "alert-rules",
        "report-subscriptions",
        "procedures",
        "pm-schedules",
    }
    # UpdateItem only to revoke a key; people are tombstoned, never deleted; tenants are only read (a tier)
    assert _tables(grants, "dynamodb:UpdateItem") == {"api-keys"}
    assert {a for a in grants if "table/dcmms-prod-tenants" in str(grants[a])} == {"dynamodb:GetItem"}
    # keys listed by tenant, on the index by name
    assert "api-keys/index/by_tenant" in _tables(grants, "dynamodb:Query")
    # Query on indexes is granted index by index, no wildcard
    assert "work-orders/index/by_site_status" in _tables(grants, "dynamodb:Query")
    assert not any("*" in r for a, rs in grants.items() if a.startswith("dynamodb:") for r in rs)


def _pool(template: dict) -> str:
    (pool_id,) = resources(template, "AWS::Cognito::UserPool")
    return pool_id


def test_api_manages_people_in_its_own_pool_only(synthesis: Synthesis) -> None:
    template = synthesis.template("prod", "service")
    grants = function_grants(template, "api")
    cognito = {a: r for a, r in grants.items() if a.startswith("cognito-idp:")}
    assert set(cognito) == {
        "cognito-idp:AdminCreateUser",
        "cognito-idp:AdminGetUser",
        "cognito-idp:AdminAddUserToGroup",
        "cognito-idp:AdminRemoveUserFromGroup",
        "cognito-idp:AdminListGroupsForUser",
        "cognito-idp:AdminDisableUser",
        "cognito-idp:AdminEnableUser",
        "cognito-idp:AdminDeleteUser",
        "cognito-idp:AdminUserGlobalSignOut",
    }
    assert all(targets == {f"<{_pool(template)}.Arn>"} for targets in cognito.values())
    env_vars = function_by_name(template, "api")[1]["Properties"]["Environment"]["Variables"]
    assert env_vars["DCMMS_COGNITO_USER_POOL_ID"] == {"Ref": _pool(template)}
    (client_id,) = resources(template, "AWS::Cognito::UserPoolClient")
    assert env_vars["DCMMS_COGNITO_CLIENT_ID"] == {"Ref": client_id}


def test_api_imports_and_deletes_usage_plan_keys_but_never_the_people_keys(synthesis: Synthesis) -> None:
    template = synthesis.template("prod", "service")
    grants = function_grants(template, "api")
    gateway = "arn:aws:apigateway:us-west-2::"
    plans = [
        f"<{k}>"
        for k, r in resources(template, "AWS::ApiGateway::UsagePlan").items()
        if "-people-" not in r["Properties"]["UsagePlanName"]
    ]
    people = [f"<{k}>" for k in resources(template, "AWS::ApiGateway::ApiKey")]
    assert len(plans) == len(people) == 3
    assert {a: r for a, r in grants.items() if a.startswith("apigateway:")} == {
        "apigateway:POST": {f"{gateway}/apikeys"} | {f"{gateway}/usageplans/{p}/keys" for p in plans},
        "apigateway:DELETE": {f"{gateway}/apikeys/*"} | {f"{gateway}/usageplans/{p}/keys/*" for p in plans},
    }
    denied = function_grants(template, "api", effect="Deny")
    assert denied == {"apigateway:DELETE": {f"{gateway}/apikeys/{k}" for k in people}}


def test_authorizer_holds_exactly_what_it_reads(synthesis: Synthesis) -> None:
    template = synthesis.template("prod", "service")
    table = "arn:aws:dynamodb:us-west-2:<AWS::AccountId>:table/dcmms-prod-"
    people = {f"arn:aws:apigateway:us-west-2::/apikeys/<{k}>" for k in resources(template, "AWS::ApiGateway::ApiKey")}
    assert function_grants(template, "authorizer") == {
        # a key's record by its hash; a person's tenant tier and standing
        "dynamodb:GetItem": {f"{table}api-keys", f"{table}tenants", f"{table}users"},
        # the people usage keys' values, those three keys only
        "apigateway:GET": people,
        "xray:PutTraceSegments": {"*"},
        "xray:PutTelemetryRecords": {"*"},
    }
    assert not function_grants(template, "authorizer", effect="Deny")
    env_vars = function_by_name(template, "authorizer")[1]["Properties"]["Environment"]["Variables"]
    assert env_vars["DCMMS_COGNITO_USER_POOL_ID"] == {"Ref": _pool(template)}
    # outside the VPC: no Redis, no PostgreSQL, no stream
    assert not {"DCMMS_REDIS_URL", "DCMMS_DATABASE_URL", "DCMMS_KINESIS_STREAM"} & set(env_vars)
    _, fn = function_by_name(template, "authorizer")
    assert "VpcConfig" not in fn["Properties"] and "ReservedConcurrentExecutions" not in fn["Properties"]


def test_pretoken_trigger_touches_nothing(synthesis: Synthesis) -> None:
    template = synthesis.template("prod", "service")
    assert set(function_grants(template, "pretoken")) == {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
    env_vars = function_by_name(template, "pretoken")[1]["Properties"]["Environment"]["Variables"]
    assert json.loads(env_vars["DCMMS_IDENTITY_PROVIDER_TENANTS"]) == {}  # prod configures no provider (cdk.json)


def test_functions_outside_the_vpc_have_the_basic_execution_policy(synthesis: Synthesis) -> None:
    template = synthesis.template("prod", "service")
    roles = resources(template, "AWS::IAM::Role")
    for spec in FUNCTIONS:
        _, fn = function_by_name(template, spec.name)
        managed = render(roles[fn["Properties"]["Role"]["Fn::GetAtt"][0]]["Properties"]["ManagedPolicyArns"])
        assert ("AWSLambdaVPCAccessExecutionRole" in managed) is spec.in_vpc, spec.name
        assert ("AWSLambdaBasicExecutionRole" in managed) is not spec.in_vpc, spec.name


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
    assert spec.trigger == "schedule" and spec.reserved_concurrency == 1
    assert [s.expression for s in spec.schedules] == ["rate(5 minutes)"]


# Actions AWS accepts only on Resource "*" (no resource-level permissions); acknowledged in cdk-nag.
RESOURCELESS = {"xray:PutTraceSegments", "xray:PutTelemetryRecords", "dynamodb:ListStreams"}
# Object prefixes granted with a trailing wildcard: one object per record / report under them.
OBJECT_PREFIXES = ("/telemetry-dlq/*", "/reports/*")
# API Gateway keys the management API deletes: their ids exist only at run time (acknowledged in cdk-nag).
GATEWAY_KEYS = ("arn:aws:apigateway:us-west-2::/apikeys/*", "/keys/*")
# The live-updates WebSocket stage's connections, posted to and closed (acknowledged in cdk-nag).
LIVE_CONNECTIONS = ("/ws/POST/@connections/*", "/ws/DELETE/@connections/*")


def test_pm_generates_work_with_only_what_it_reads_and_writes(synthesis: Synthesis) -> None:
    """Tenants by scan (the directory is small), its schedules and the generated work orders; no delete, no
    PostgreSQL; one run at a time every 15 minutes."""
    grants = function_grants(synthesis.template("prod", "service"), "pm")
    assert _tables(grants, "dynamodb:Scan") == {"tenants"}
    assert _tables(grants, "dynamodb:PutItem") == {"pm-schedules", "work-orders"}
    assert "dynamodb:DeleteItem" not in grants and "dynamodb:UpdateItem" not in grants
    assert _tables(grants, "dynamodb:GetItem") == {"pm-schedules", "procedures", "work-orders"}
    spec = by_name("pm")
    assert (spec.trigger, [s.expression for s in spec.schedules], spec.reserved_concurrency) == (
        "schedule",
        ["rate(15 minutes)"],
        1,
    )


def test_no_function_holds_a_wildcard(synthesis: Synthesis) -> None:
    template = synthesis.template("prod", "service")
    for spec in FUNCTIONS:
        for action, targets in function_grants(template, spec.name).items():
            assert not action.endswith("*") and action != "*", (spec.name, action)
            for target in targets:
                if "*" not in target:
                    continue
                if action in RESOURCELESS:
                    assert target == "*", (spec.name, action, target)
                elif action == "apigateway:DELETE":
                    assert spec.name == "api" and target.endswith(GATEWAY_KEYS), (spec.name, action, target)
                    assert target.count("*") == 1, (spec.name, action, target)
                elif action == "execute-api:ManageConnections":
                    # the live-updates stage's connections, whose ids exist only at run time (tests/infra/test_live.py)
                    assert spec.name == "live" and target.endswith(LIVE_CONNECTIONS), (spec.name, action, target)
                    assert target.count("*") == 1, (spec.name, action, target)
                else:
                    # an S3 object prefix of one bucket, and no other wildcard in the ARN
                    assert action.startswith("s3:") and target.endswith(OBJECT_PREFIXES), (spec.name, action, target)
                    assert target.count("*") == 1, (spec.name, action, target)


def test_placeholder_layers_hold_only_dcmms_and_are_flagged(synthesis: Synthesis) -> None:
    layer = synthesis.outdir / "staging" / "layer-placeholder" / "python"
    assert sorted(p.name for p in layer.iterdir()) == ["dcmms"]
    # an extra's placeholder ships no package at all (not even dcmms: the base layer has it)
    reports = synthesis.outdir / "staging" / "layer-placeholder-reports" / "python"
    assert sorted(p.name for p in reports.iterdir()) == ["PLACEHOLDER.txt"]
    warnings = [a for a in synthesis.annotations["dcmms-prod-us-west-2-service"] if a["type"] == "aws:cdk:warning"]
    assert any("PLACEHOLDER" in str(a["data"]) and "base, reports" in str(a["data"]) for a in warnings)


# -- reports ---------------------------------------------------------------------------------------------------

REPORTS_OBJECTS = "arn:aws:s3:::dcmms-prod-us-west-2-reports-<AWS::AccountId>/reports/*"


def _reports_queue(template: dict) -> str:
    (queue_id,) = [
        k
        for k, q in resources(template, "AWS::SQS::Queue").items()
        if q["Properties"]["QueueName"] == "dcmms-prod-reports"
    ]
    return queue_id


@pytest.mark.parametrize("env", ENVS)
def test_reports_function_has_the_base_layer_then_the_reports_layer(synthesis: Synthesis, env: str) -> None:
    template = synthesis.template(env, "service")
    layers = resources(template, "AWS::Lambda::LayerVersion")
    _, fn = function_by_name(template, "reports")
    refs = [layer["Ref"] for layer in fn["Properties"]["Layers"] if isinstance(layer, dict)]
    assert len(refs) == 2
    base, reports = (layers[ref]["Properties"] for ref in refs)
    assert base["Description"].startswith("dcmms and its runtime dependencies")
    assert "'reports' extra" in reports["Description"]
    for layer in (base, reports):
        assert layer["CompatibleRuntimes"] == ["python3.12"] and layer["CompatibleArchitectures"] == ["arm64"]
    # the API (and every other function) carries the base layer only: no report library on its cold start
    _, api = function_by_name(template, "api")
    assert [layer for layer in api["Properties"]["Layers"] if isinstance(layer, dict)] == [{"Ref": refs[0]}]
    spec = by_name("reports")
    assert (spec.layer, spec.memory_mb, spec.timeout_s) == ("reports", 2048, 300)
    assert fn["Properties"]["ReservedConcurrentExecutions"] == spec.reserved_concurrency == 10


def test_api_requests_reports_and_presigns_their_downloads_only(synthesis: Synthesis) -> None:
    template = synthesis.template("prod", "service")
    grants = function_grants(template, "api")
    assert {a for a in grants if a.startswith("s3:")} == {"s3:GetObject"}
    assert grants["s3:GetObject"] == {REPORTS_OBJECTS}
    assert {a for a in grants if a.startswith("sqs:")} == {"sqs:SendMessage"}
    assert grants["sqs:SendMessage"] == {f"<{_reports_queue(template)}.Arn>"}
    assert not [a for a in grants if a.startswith("ses:")]

    def on(table: str) -> set[str]:
        return {
            a
            for a, targets in grants.items()
            for t in targets
            if t.split(":table/dcmms-prod-")[-1].split("/")[0] == table
        }

    assert on("reports") == {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem"}
    assert on("report-subscriptions") == {
        "dynamodb:GetItem",
        "dynamodb:Query",
        "dynamodb:PutItem",
        "dynamodb:DeleteItem",
    }
    env_vars = function_by_name(template, "api")[1]["Properties"]["Environment"]["Variables"]
    assert env_vars["DCMMS_REPORTS_QUEUE_URL"] == {"Ref": _reports_queue(template)}
    assert "dcmms-prod-us-west-2-reports-" in json.dumps(env_vars["DCMMS_REPORTS_BUCKET"])
    assert "DCMMS_REPORT_SENDER" not in env_vars


def test_reports_function_holds_exactly_what_it_uses(synthesis: Synthesis) -> None:
    template = synthesis.template("prod", "service")
    grants = function_grants(template, "reports")
    queue = f"<{_reports_queue(template)}.Arn>"
    table = "arn:aws:dynamodb:us-west-2:<AWS::AccountId>:table/dcmms-prod-"
    reports_indexes = {f"{table}reports/index/{i}" for i in _indexes("reports")}
    subscription_indexes = {f"{table}report-subscriptions/index/{i}" for i in _indexes("report-subscriptions")}
    ses = "arn:aws:ses:us-west-2:<AWS::AccountId>:identity/dcmms.example.com"
    assert grants == {
        "dynamodb:GetItem": {f"{table}reports", f"{table}tenants"},
        "dynamodb:PutItem": {f"{table}reports"},
        "dynamodb:Query": {f"{table}reports", f"{table}report-subscriptions"} | reports_indexes | subscription_indexes,
        "s3:GetObject": {REPORTS_OBJECTS},
        "s3:PutObject": {REPORTS_OBJECTS},
        "ses:SendEmail": {ses},
        "ses:SendRawEmail": {ses},
        # its own queue: the mapping's consume actions, and SendMessage for the schedule runs' jobs
        "sqs:SendMessage": {queue},
        "sqs:ReceiveMessage": {queue},
        "sqs:DeleteMessage": {queue},
        "sqs:ChangeMessageVisibility": {queue},
        "sqs:GetQueueAttributes": {queue},
        "sqs:GetQueueUrl": {queue},
        "xray:PutTraceSegments": {"*"},
        "xray:PutTelemetryRecords": {"*"},
    }
    # email only as the configured sender
    _, fn = function_by_name(template, "reports")
    (statement,) = [s for s in _statements(template, fn) if "ses:SendEmail" in s["Action"]]
    assert sorted(statement["Action"]) == ["ses:SendEmail", "ses:SendRawEmail"]
    assert statement["Condition"] == {"StringEquals": {"ses:FromAddress": "reports@dcmms.example.com"}}
    env_vars = fn["Properties"]["Environment"]["Variables"]
    assert env_vars["DCMMS_REPORT_SENDER"] == "reports@dcmms.example.com"
    assert env_vars["DCMMS_REPORTS_QUEUE_URL"] == {"Ref": _reports_queue(template)}
    assert "dcmms-prod-us-west-2-reports-" in json.dumps(env_vars["DCMMS_REPORTS_BUCKET"])
    # the analytics replica (and the rest of PostgreSQL's settings), no Redis, no stream
    assert {"DCMMS_DATABASE_URL", "DCMMS_DATABASE_ANALYTICS_URL"} <= set(env_vars)
    assert not {"DCMMS_REDIS_URL", "DCMMS_KINESIS_STREAM", "DCMMS_DEAD_LETTER_BUCKET"} & set(env_vars)
    dev_env = function_by_name(synthesis.template("dev", "service"), "reports")[1]["Properties"]["Environment"]
    assert dev_env["Variables"]["DCMMS_REPORT_SENDER"] == "reports@dev.dcmms.example.com"


def _indexes(base_name: str) -> list[str]:
    from dcmms.store.models import table_definitions

    (definition,) = [d for d in table_definitions() if d["base_name"] == base_name]
    return [g["index_name"] for g in definition["global_secondary_indexes"]]


def _statements(template: dict, fn: dict) -> list[dict]:
    role = fn["Properties"]["Role"]["Fn::GetAtt"][0]
    return [
        {**s, "Action": s["Action"] if isinstance(s["Action"], list) else [s["Action"]]}
        for p in resources(template, "AWS::IAM::Policy").values()
        if {"Ref": role} in p["Properties"].get("Roles", [])
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]


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
