"""The Kinesis, DynamoDB Streams and SQS event sources' failure handling, and the schedules built from the catalogue."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cdk.schedules import max_event_age_s
from dcmms.catalogue import FUNCTIONS, SCHEDULED_TIME, by_name
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


def _schedules(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["Properties"]["Name"]: s["Properties"] for s in resources(template, "AWS::Scheduler::Schedule").values()}


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_every_schedule_of_the_catalogue_is_deployed(synthesis: Synthesis, env: str) -> None:
    template = synthesis.template(env, "service")
    schedules = _schedules(template)
    expected = {
        f"dcmms-{env}-{spec.name}" + (f"-{schedule.name}" if schedule.name else ""): (spec, schedule)
        for spec in FUNCTIONS
        for schedule in spec.schedules
    }
    assert set(schedules) == set(expected)
    # every function triggered by schedules alone has one; others (reports) may have some
    assert all(spec.schedules for spec in FUNCTIONS if spec.trigger == "schedule")
    (dlq_id,) = [k for k in resources(template, "AWS::SQS::Queue") if k.startswith("SchedulesMissedInvocations")]
    for name, (spec, schedule) in expected.items():
        deployed = schedules[name]
        fn_id, _ = function_by_name(template, spec.name)
        assert deployed["ScheduleExpression"] == schedule.expression, name
        assert deployed["ScheduleExpressionTimezone"] == schedule.timezone, name
        assert deployed["State"] == "ENABLED" and deployed["FlexibleTimeWindow"] == {"Mode": "OFF"}, name
        assert deployed["Target"]["Arn"] == {"Fn::GetAtt": [fn_id, "Arn"]}, name
        retry = deployed["Target"]["RetryPolicy"]
        assert retry["MaximumRetryAttempts"] == 2, name
        assert retry["MaximumEventAgeInSeconds"] == max_event_age_s(schedule.expression, schedule.timezone), name
        assert deployed["Target"]["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": [dlq_id, "Arn"]}, name
        if schedule.payload is None:
            assert "Input" not in deployed["Target"], name
        else:
            assert json.loads(deployed["Target"]["Input"]) == dict(schedule.payload), name


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_report_schedules_pass_their_scheduled_time(synthesis: Synthesis, env: str) -> None:
    schedules = _schedules(synthesis.template(env, "service"))
    daily = schedules[f"dcmms-{env}-reports-site-daily"]
    monthly = schedules[f"dcmms-{env}-reports-fleet-monthly"]
    # every 15 minutes (each UTC offset's local 06:00 falls on one), and the 1st of the month at 12:00 UTC
    assert (daily["ScheduleExpression"], daily["ScheduleExpressionTimezone"]) == ("cron(0/15 * * * ? *)", "UTC")
    assert (monthly["ScheduleExpression"], monthly["ScheduleExpressionTimezone"]) == ("cron(0 12 1 * ? *)", "UTC")
    for schedule, kind in ((daily, "site-daily"), (monthly, "fleet-monthly")):
        # the context attribute Scheduler replaces with the run's scheduled time, on every attempt
        assert SCHEDULED_TIME == "<aws.scheduler.scheduled-time>"
        assert json.loads(schedule["Target"]["Input"]) == {"report_schedule": kind, "scheduled_at": SCHEDULED_TIME}
    # a missed run is worth retrying until the next one (15 minutes), a monthly one for an hour
    assert daily["Target"]["RetryPolicy"]["MaximumEventAgeInSeconds"] == 900
    assert monthly["Target"]["RetryPolicy"]["MaximumEventAgeInSeconds"] == 3600
    # the functions scheduled alone keep their one unnamed schedule each
    assert {f"dcmms-{env}-{n}" for n in ("kpi", "warmer", "telemetry-partitions")} <= set(schedules)


def test_scheduler_may_invoke_exactly_the_scheduled_functions(synthesis: Synthesis) -> None:
    from tests.infra.conftest import role_grants

    template = synthesis.template("prod", "service")
    (role_id,) = [k for k in resources(template, "AWS::IAM::Role") if k.startswith("SchedulesRole")]
    grants = role_grants(template, role_id)
    expected = {f"<{function_by_name(template, s.name)[0]}.Arn>" for s in FUNCTIONS if s.schedules}
    assert "reports" in {s.name for s in FUNCTIONS if s.schedules}  # scheduled, though its trigger is its queue
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
    # cron: an hour, bounded by the interval between runs
    assert max_event_age_s("cron(0/15 * * * ? *)") == 900
    assert max_event_age_s("cron(0 12 1 * ? *)") == 3600
    assert max_event_age_s("cron(0/5 8-17 ? * MON-FRI *)", "Europe/Berlin") == 300


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


def test_every_mapping_belongs_to_a_stream_or_queue_consumer_of_the_catalogue(synthesis: Synthesis) -> None:
    template = synthesis.template("prod", "service")
    consumers = [s for s in FUNCTIONS if s.trigger in ("kinesis", "dynamodb-stream", "sqs")]
    expected = sum(len(s.stream.tables) if s.trigger == "dynamodb-stream" and s.stream else 1 for s in consumers)
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


# -- the reports job queue ------------------------------------------------------------------------------------


def _queue(template: dict[str, Any], name: str) -> tuple[str, dict[str, Any]]:
    ((queue_id, queue),) = [
        (k, q) for k, q in resources(template, "AWS::SQS::Queue").items() if q["Properties"]["QueueName"] == name
    ]
    return queue_id, queue


def _tls_only(template: dict[str, Any], queue_id: str) -> bool:
    policy = next(
        p["Properties"]["PolicyDocument"]
        for p in resources(template, "AWS::SQS::QueuePolicy").values()
        if {"Ref": queue_id} in p["Properties"]["Queues"]
    )
    return any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for s in policy["Statement"]
    )


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_reports_are_delivered_one_job_at_a_time_with_partial_failures(synthesis: Synthesis, env: str) -> None:
    spec = by_name("reports")
    assert spec.queue is not None and spec.trigger == "sqs"
    template = synthesis.template(env, "service")
    queue_id, _ = _queue(template, f"dcmms-{env}-reports")
    (mapping,) = mappings(template, "reports")
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    assert mapping["BatchSize"] == spec.queue.batch_size == 1
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    # the poller stays within the reserved concurrency, leaving one for the schedule runs
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": spec.reserved_concurrency - 1}
    assert "StartingPosition" not in mapping and "DestinationConfig" not in mapping  # SQS: the queue's own DLQ


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_reports_queue_and_dead_letter_queue(synthesis: Synthesis, env: str) -> None:
    spec = by_name("reports")
    assert spec.queue is not None
    template = synthesis.template(env, "service")
    queue_id, queue = _queue(template, f"dcmms-{env}-reports")
    dlq_id, dlq = _queue(template, f"dcmms-{env}-reports-dlq")
    q, d = queue["Properties"], dlq["Properties"]
    # a job is invisible for six times the function's timeout while it is worked on
    assert q["VisibilityTimeout"] == 6 * spec.timeout_s == 1800
    assert q["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]},
        "maxReceiveCount": spec.queue.max_receive_count,
    }
    assert d["MessageRetentionPeriod"] == 14 * 86400 > q["MessageRetentionPeriod"]
    for props in (q, d):
        assert props["SqsManagedSseEnabled"] is True
    assert _tls_only(template, queue_id) and _tls_only(template, dlq_id)
    expected = "Retain" if env == "prod" else "Delete"
    assert queue["DeletionPolicy"] == dlq["DeletionPolicy"] == expected
