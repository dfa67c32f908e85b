"""The Kinesis and DynamoDB Streams event sources' failure handling, and the schedules built from the catalogue."""

from __future__ import annotations

from typing import Any

import pytest

from cdk.schedules import max_event_age_s
from dcmms.catalogue import FUNCTIONS, by_name
from tests.infra.conftest import Synthesis, function_by_name, only, render, resources


def mappings(template: dict[str, Any], function: str) -> list[dict[str, Any]]:
    """The properties of the event-source mappings of the function named ``dcmms-<env>-<function>``."""
    fn_id, _ = function_by_name(template, function)
    return [
        m["Properties"]
        for m in resources(template, "AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["FunctionName"] == {"Ref": fn_id}
    ]


def ingest_mapping(template: dict[str, Any]) -> dict[str, Any]:
    (mapping,) = mappings(template, "ingest")
    return mapping


@pytest.mark.parametrize(("env", "batch", "retries", "age"), [("dev", 500, 3, 3600), ("prod", 1000, 5, 21600)])
def test_event_source_never_ships_kinesis_defaults(
    synthesis: Synthesis, env: str, batch: int, retries: int, age: int
) -> None:
    template = synthesis.template(env, "service")
    mapping = ingest_mapping(template)
    assert render(mapping["EventSourceArn"]).endswith(f":stream/dcmms-{env}-telemetry")
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BisectBatchOnFunctionError"] is True
    assert mapping["MaximumRetryAttempts"] == retries  # finite (the default, -1, retries until expiry)
    assert mapping["MaximumRecordAgeInSeconds"] == age  # bounded (the default, -1, is the stream's retention)
    assert mapping["BatchSize"] == batch
    assert mapping["MaximumBatchingWindowInSeconds"] == 1
    assert mapping["ParallelizationFactor"] == 2
    assert mapping["StartingPosition"] == "TRIM_HORIZON"
    (queue_id,) = [k for k in resources(template, "AWS::SQS::Queue") if k.startswith("IngestOnFailure")]
    assert mapping["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": [queue_id, "Arn"]}


@pytest.mark.parametrize(("env", "shards"), [("dev", 1), ("prod", 72)])
def test_ingest_reserved_concurrency_covers_every_concurrent_batch(synthesis: Synthesis, env: str, shards: int) -> None:
    template = synthesis.template(env, "service")
    _, fn = function_by_name(template, "ingest")
    factor = ingest_mapping(template)["ParallelizationFactor"]
    stream = only(synthesis.template(env, "data"), "AWS::Kinesis::Stream")["Properties"]
    assert stream["ShardCount"] == shards
    assert fn["Properties"]["ReservedConcurrentExecutions"] >= shards * factor


def test_on_failure_queue_is_encrypted_tls_only_and_kept_for_14_days(synthesis: Synthesis) -> None:
    template = synthesis.template("prod", "service")
    (queue,) = [q for k, q in resources(template, "AWS::SQS::Queue").items() if k.startswith("IngestOnFailure")]
    assert queue["Properties"]["SqsManagedSseEnabled"] is True
    assert queue["Properties"]["MessageRetentionPeriod"] == 14 * 86400


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_every_scheduled_catalogue_function_has_its_schedule(synthesis: Synthesis, env: str) -> None:
    template = synthesis.template(env, "service")
    schedules = {
        s["Properties"]["Name"]: s["Properties"] for s in resources(template, "AWS::Scheduler::Schedule").values()
    }
    scheduled = [spec for spec in FUNCTIONS if spec.trigger == "schedule"]
    assert set(schedules) == {f"dcmms-{env}-{spec.name}" for spec in scheduled}
    (dlq_id,) = [k for k in resources(template, "AWS::SQS::Queue") if k.startswith("SchedulesMissedInvocations")]
    for spec in scheduled:
        schedule = schedules[f"dcmms-{env}-{spec.name}"]
        fn_id, _ = function_by_name(template, spec.name)
        assert schedule["ScheduleExpression"] == spec.schedule
        assert schedule["State"] == "ENABLED"
        assert schedule["Target"]["Arn"] == {"Fn::GetAtt": [fn_id, "Arn"]}
        assert schedule["Target"]["RetryPolicy"]["MaximumRetryAttempts"] == 2
        assert schedule["Target"]["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": [dlq_id, "Arn"]}


def test_scheduler_may_invoke_exactly_the_scheduled_functions(synthesis: Synthesis) -> None:
    from tests.infra.conftest import role_grants

    template = synthesis.template("prod", "service")
    (role_id,) = [k for k in resources(template, "AWS::IAM::Role") if k.startswith("SchedulesRole")]
    grants = role_grants(template, role_id)
    expected = {f"<{function_by_name(template, s.name)[0]}.Arn>" for s in FUNCTIONS if s.trigger == "schedule"}
    assert grants["lambda:InvokeFunction"] == expected
    assert set(grants) == {"lambda:InvokeFunction", "sqs:SendMessage"}


def test_cache_is_warmed_after_deployment_without_blocking_it(synthesis: Synthesis) -> None:
    template = synthesis.template("prod", "service")
    trigger = only(template, "Custom::Trigger")["Properties"]
    warmer_id, _ = function_by_name(template, "warmer")
    # the warmer's current version: a new version (changed code or settings) runs it again
    (version_id,) = [
        k
        for k, v in resources(template, "AWS::Lambda::Version").items()
        if v["Properties"]["FunctionName"] == {"Ref": warmer_id}
    ]
    assert render(trigger["HandlerArn"]) == f"<{version_id}>"
    assert trigger["InvocationType"] == "Event"


def test_missed_runs_are_retried_for_at_most_one_interval() -> None:
    assert max_event_age_s("rate(15 minutes)") == 900
    assert max_event_age_s("rate(5 minutes)") == 300
    assert max_event_age_s("rate(1 day)") == 86_400
    assert max_event_age_s("rate(7 days)") == 86_400  # Scheduler's ceiling
    assert max_event_age_s("cron(0 6 * * ? *)") == 3600


def test_development_delivers_as_the_local_poller_does(synthesis: Synthesis) -> None:
    """The local stack's poller mirrors the catalogue's StreamSource; development deploys the same."""
    source = by_name("ingest").stream
    assert source is not None
    mapping = ingest_mapping(synthesis.template("dev", "service"))
    assert mapping["BatchSize"] == source.batch_size
    assert mapping["MaximumRetryAttempts"] == source.retry_attempts
    assert mapping["MaximumRecordAgeInSeconds"] == source.max_record_age_s
    assert mapping["BisectBatchOnFunctionError"] is source.bisect_on_error
    assert (mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]) is source.report_batch_item_failures


# -- the read-model projector's DynamoDB Streams sources ----------------------------------------------------


def _stream_parameters(template: dict[str, Any]) -> dict[str, str]:
    """Logical id -> SSM parameter name, of the service stack's SSM-typed parameters (stream ARNs)."""
    return {
        logical_id: p["Default"]
        for logical_id, p in template.get("Parameters", {}).items()
        if p["Type"] == "AWS::SSM::Parameter::Value<String>" and "/stream-arn" in str(p.get("Default"))
    }


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_projector_reads_one_stream_per_projected_table_as_the_catalogue_says(synthesis: Synthesis, env: str) -> None:
    # given the catalogue's delivery settings for the projector
    source = by_name("projector").stream
    assert source is not None and source.tables
    template = synthesis.template(env, "service")
    # when its event-source mappings are read back
    found = mappings(template, "projector")
    parameters = _stream_parameters(template)
    # then one per projected table, on that table's stream ARN (the data stack's SSM parameter, read at deploy)
    sources = {parameters[m["EventSourceArn"]["Ref"]] for m in found}
    assert sources == {f"/dcmms-{env}/tables/{table}/stream-arn" for table in source.tables}
    assert len(found) == len(source.tables)
    (queue_id,) = [k for k in resources(template, "AWS::SQS::Queue") if k.startswith("ProjectionOnFailure")]
    for mapping in found:
        assert mapping["BatchSize"] == source.batch_size
        assert mapping["MaximumRetryAttempts"] == source.retry_attempts  # finite (the default, -1, never stops)
        assert mapping["MaximumRecordAgeInSeconds"] == source.max_record_age_s
        assert mapping["BisectBatchOnFunctionError"] is source.bisect_on_error is True
        assert (mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]) is source.report_batch_item_failures
        assert mapping["StartingPosition"] == "TRIM_HORIZON"
        assert mapping["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": [queue_id, "Arn"]}
        assert "MaximumBatchingWindowInSeconds" not in mapping  # delivered as soon as records arrive


def test_every_mapping_belongs_to_a_stream_consumer_of_the_catalogue(synthesis: Synthesis) -> None:
    template = synthesis.template("prod", "service")
    consumers = [s for s in FUNCTIONS if s.trigger in ("kinesis", "dynamodb-stream")]
    expected = sum(len(s.stream.tables) if s.trigger == "dynamodb-stream" else 1 for s in consumers if s.stream)
    assert len(resources(template, "AWS::Lambda::EventSourceMapping")) == expected
    assert sum(len(mappings(template, s.name)) for s in consumers) == expected


@pytest.mark.parametrize(("env", "reserved"), [("dev", 4), ("prod", 20)])
def test_projector_reserved_concurrency_is_configured_and_covers_a_batch_per_table(
    synthesis: Synthesis, env: str, reserved: int
) -> None:
    _, fn = function_by_name(synthesis.template(env, "service"), "projector")
    assert fn["Properties"]["ReservedConcurrentExecutions"] == reserved
    source = by_name("projector").stream
    assert source is not None and reserved >= len(source.tables)


def test_projector_on_failure_queue_is_encrypted_tls_only_and_kept_in_production(synthesis: Synthesis) -> None:
    template = synthesis.template("prod", "service")
    queues = {k: q for k, q in resources(template, "AWS::SQS::Queue").items() if k.startswith("ProjectionOnFailure")}
    ((queue_id, queue),) = queues.items()
    assert queue["Properties"]["QueueName"] == "dcmms-prod-projector-on-failure"
    assert queue["Properties"]["SqsManagedSseEnabled"] is True
    assert queue["Properties"]["MessageRetentionPeriod"] == 14 * 86400
    assert queue["DeletionPolicy"] == "Retain"
    policy = next(
        p["Properties"]["PolicyDocument"]
        for p in resources(template, "AWS::SQS::QueuePolicy").values()
        if {"Ref": queue_id} in p["Properties"]["Queues"]
    )
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for s in policy["Statement"]
    )
