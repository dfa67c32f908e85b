"""Alarms equivalent to the spec's §9.3 rules, the serverless ones, and the dashboard."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dcmms.catalogue import FUNCTIONS
from tests.infra.conftest import Synthesis, only, render, resources


def _alarms(synthesis: Synthesis, env: str = "prod") -> dict[str, dict[str, Any]]:
    template = synthesis.template(env, "service")
    return {
        a["Properties"]["AlarmName"]: a["Properties"] for a in resources(template, "AWS::CloudWatch::Alarm").values()
    }


def _metric(alarm: dict[str, Any], metric_id: str) -> dict[str, Any]:
    return next(m for m in alarm["Metrics"] if m["Id"] == metric_id)["MetricStat"]


def test_api_p95_latency_above_one_second_for_five_minutes(synthesis: Synthesis) -> None:
    alarm = _alarms(synthesis)["dcmms-prod-api-p95-latency"]
    assert alarm["MetricName"] == "Latency" and alarm["Namespace"] == "AWS/ApiGateway"
    assert alarm["ExtendedStatistic"] == "p95"
    assert alarm["Threshold"] == 1000 and alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert (
        alarm["Period"] * alarm["EvaluationPeriods"] == 300 and alarm["DatapointsToAlarm"] == alarm["EvaluationPeriods"]
    )


def test_api_5xx_share_above_five_percent_for_five_minutes(synthesis: Synthesis) -> None:
    alarm = _alarms(synthesis)["dcmms-prod-api-5xx-rate"]
    assert alarm["MetricName"] == "5XXError" and alarm["Statistic"] == "Average"
    assert alarm["Threshold"] == 0.05 and alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert alarm["Period"] * alarm["EvaluationPeriods"] == 300


def test_cache_hit_rate_below_80_percent_for_ten_minutes_from_the_apps_emf_metrics(synthesis: Synthesis) -> None:
    alarm = _alarms(synthesis)["dcmms-prod-cache-hit-rate"]
    assert alarm["Threshold"] == 0.8 and alarm["ComparisonOperator"] == "LessThanThreshold"
    expression = next(m for m in alarm["Metrics"] if "Expression" in m)
    assert expression["Expression"] == "IF((h + m) > 0, h / (h + m), 1)"
    for metric_id, name in (("h", "CacheHits"), ("m", "CacheMisses")):
        stat = _metric(alarm, metric_id)
        assert stat["Metric"]["Namespace"] == "dCMMS" and stat["Metric"]["MetricName"] == name
        assert stat["Metric"]["Dimensions"] == [{"Name": "service", "Value": "dcmms"}]
        assert stat["Period"] == 300
    assert alarm["EvaluationPeriods"] == 2  # 2 x 5 minutes


def test_memory_above_90_percent(synthesis: Synthesis) -> None:
    alarms = _alarms(synthesis)
    redis = alarms["dcmms-prod-redis-memory"]
    assert redis["Threshold"] == 90
    nodes = {_metric(redis, m["Id"])["Metric"]["Dimensions"][0]["Value"] for m in redis["Metrics"] if "MetricStat" in m}
    assert nodes == {f"dcmms-prod-cache-{s:04d}-{n:03d}" for s in (1, 2, 3) for n in (1, 2)}
    for spec in FUNCTIONS:  # Lambda Insights is on in production
        memory = alarms[f"dcmms-prod-{spec.name}-memory"]
        assert memory["Namespace"] == "LambdaInsights" and memory["MetricName"] == "memory_utilization"
        assert memory["Threshold"] == 90
    assert not [name for name in _alarms(synthesis, "dev") if name.endswith("-memory") and "redis" not in name]


def test_lambda_errors_and_throttles_per_function(synthesis: Synthesis) -> None:
    alarms = _alarms(synthesis)
    for spec in FUNCTIONS:
        # the request authorizer refuses credentials by failing: its Errors are callers' bad credentials (its
        # real failures are the API's AUTHORIZER_FAILURE 5xx, in the 5xx-rate alarm)
        errors = spec.trigger != "authorizer"
        assert (f"dcmms-prod-{spec.name}-errors" in alarms) is errors, spec.name
        for kind, metric in (("errors", "Errors"),) * errors + (("throttles", "Throttles"),):
            alarm = alarms[f"dcmms-prod-{spec.name}-{kind}"]
            assert alarm["MetricName"] == metric and alarm["Threshold"] == 0
            assert alarm["Dimensions"][0]["Name"] == "FunctionName"


def test_stream_and_dead_letter_alarms(synthesis: Synthesis) -> None:
    alarms = _alarms(synthesis)
    age = alarms["dcmms-prod-ingest-iterator-age"]
    assert age["MetricName"] == "IteratorAge" and age["Statistic"] == "Maximum" and age["Threshold"] == 60_000
    for queue in ("ingest", "projector", "schedules", "reports"):
        depth = alarms[f"dcmms-prod-{queue}-dead-letters"]
        assert depth["MetricName"] == "ApproximateNumberOfMessagesVisible"
        assert depth["Threshold"] == 0 and depth["ComparisonOperator"] == "GreaterThanThreshold"
    refused = alarms["dcmms-prod-ingest-refused-records"]
    assert (refused["Namespace"], refused["MetricName"]) == ("dCMMS", "IngestDeadLettered")


def test_dynamodb_throttles_per_table(synthesis: Synthesis) -> None:
    alarms = _alarms(synthesis)
    tables = [a for name, a in alarms.items() if name.startswith("dcmms-prod-table-")]
    assert len(tables) == len(resources(synthesis.template("prod", "data"), "AWS::DynamoDB::Table"))
    for alarm in tables:
        names = {_metric(alarm, m)["Metric"]["MetricName"] for m in ("r", "w")}
        assert names == {"ReadThrottleEvents", "WriteThrottleEvents"} and alarm["Threshold"] == 0


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_every_alarm_notifies_the_encrypted_topic(synthesis: Synthesis, env: str) -> None:
    template = synthesis.template(env, "service")
    (topic_id,) = resources(template, "AWS::SNS::Topic")
    topic = template["Resources"][topic_id]["Properties"]
    assert "KmsMasterKeyId" in topic
    for name, alarm in _alarms(synthesis, env).items():
        assert alarm["AlarmActions"] == [{"Ref": topic_id}], name
        assert alarm["TreatMissingData"] == "notBreaching", name
    if env == "prod":
        subscription = only(template, "AWS::SNS::Subscription")["Properties"]
        assert subscription["Protocol"] == "email" and subscription["Endpoint"] == "oncall@dcmms.example.com"


def test_dashboard_has_the_specs_five_sections(synthesis: Synthesis) -> None:
    template = synthesis.template("prod", "service")
    body = json.loads(
        render(only(template, "AWS::CloudWatch::Dashboard")["Properties"]["DashboardBody"])
        .replace("<", "")
        .replace(">", "")
    )
    texts = [w["properties"]["markdown"] for w in body["widgets"] if w["type"] == "text"]
    for section in (
        "API performance",
        "Database performance",
        "Cache performance",
        "Infrastructure",
        "Business metrics",
    ):
        assert any(section in t for t in texts), section
    metrics = json.dumps(body)
    for name in (
        "Latency",
        "DatabaseConnections",
        "Evictions",
        "ConcurrentExecutions",
        "AlertsRaised",
        "ReplicaLag",
        "ProjectionLag",
        "DatabaseRoute",
    ):
        assert name in metrics, name


def test_replication_lag_alarms_per_replica_at_the_routers_bounds(synthesis: Synthesis) -> None:
    from dcmms.readmodel.router import ANALYTICS_MAX_LAG_S, REPLICA_MAX_LAG_S

    alarms = _alarms(synthesis)
    lag = {name: a for name, a in alarms.items() if a.get("MetricName") == "ReplicaLag"}
    assert set(lag) == {"dcmms-prod-db-replica-1-lag", "dcmms-prod-db-analytics-lag"}
    expected = {
        "dcmms-prod-db-replica-1-lag": ("dcmms-prod-telemetry-replica-1", REPLICA_MAX_LAG_S),
        "dcmms-prod-db-analytics-lag": ("dcmms-prod-telemetry-analytics", ANALYTICS_MAX_LAG_S),
    }
    for name, (identifier, bound) in expected.items():
        alarm = lag[name]
        assert alarm["Namespace"] == "AWS/RDS" and alarm["Statistic"] == "Maximum"
        assert alarm["Dimensions"] == [{"Name": "DBInstanceIdentifier", "Value": identifier}]
        assert alarm["Threshold"] == bound and alarm["ComparisonOperator"] == "GreaterThanThreshold"
        assert alarm["Period"] == 60 and alarm["EvaluationPeriods"] == alarm["DatapointsToAlarm"] == 3
    # the replicas they watch are the ones the data stack deploys
    replicas = {
        r["Properties"]["DBInstanceIdentifier"]
        for r in resources(synthesis.template("prod", "data"), "AWS::RDS::DBInstance").values()
        if "SourceDBInstanceIdentifier" in r["Properties"]
    }
    assert replicas == {identifier for identifier, _ in expected.values()}
    # no replica in development, so no replication-lag alarm there
    assert not [a for a in _alarms(synthesis, "dev").values() if a.get("MetricName") == "ReplicaLag"]


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_projection_lag_failures_and_iterator_age_are_alarmed(synthesis: Synthesis, env: str) -> None:
    alarms = _alarms(synthesis, env)
    lag = alarms[f"dcmms-{env}-projection-lag"]
    assert (lag["Namespace"], lag["MetricName"], lag["Statistic"]) == ("dCMMS", "ProjectionLag", "Maximum")
    assert lag["Dimensions"] == [{"Name": "service", "Value": "dcmms"}]
    assert lag["Threshold"] == 30_000 and lag["Period"] * lag["EvaluationPeriods"] == 300
    assert lag["DatapointsToAlarm"] == lag["EvaluationPeriods"]
    age = alarms[f"dcmms-{env}-projector-iterator-age"]
    assert (age["Namespace"], age["MetricName"], age["Statistic"]) == ("AWS/Lambda", "IteratorAge", "Maximum")
    assert age["Dimensions"][0]["Name"] == "FunctionName" and age["Threshold"] == 30_000
    failed = alarms[f"dcmms-{env}-projection-failed-records"]
    assert (failed["MetricName"], failed["Statistic"], failed["Threshold"]) == ("ProjectionFailedRecords", "Sum", 0)
    depth = alarms[f"dcmms-{env}-projector-dead-letters"]
    assert depth["MetricName"] == "ApproximateNumberOfMessagesVisible" and depth["Threshold"] == 0
    (queue_id,) = [
        k
        for k in resources(synthesis.template(env, "service"), "AWS::SQS::Queue")
        if k.startswith("ProjectionOnFailure")
    ]
    assert depth["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue_id, "QueueName"]}}]


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_reports_queue_is_alarmed_when_a_job_waits_or_is_dead_lettered(synthesis: Synthesis, env: str) -> None:
    template = synthesis.template(env, "service")
    queues = {q["Properties"]["QueueName"]: k for k, q in resources(template, "AWS::SQS::Queue").items()}
    alarms = _alarms(synthesis, env)
    depth = alarms[f"dcmms-{env}-reports-dead-letters"]
    assert depth["MetricName"] == "ApproximateNumberOfMessagesVisible" and depth["Statistic"] == "Maximum"
    assert depth["Threshold"] == 0 and depth["ComparisonOperator"] == "GreaterThanThreshold"
    assert depth["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": [queues[f"dcmms-{env}-reports-dlq"], "QueueName"]}}
    ]
    age = alarms[f"dcmms-{env}-reports-queue-age"]
    assert (age["Namespace"], age["MetricName"], age["Statistic"]) == (
        "AWS/SQS",
        "ApproximateAgeOfOldestMessage",
        "Maximum",
    )
    assert age["Threshold"] == 15 * 60 and age["ComparisonOperator"] == "GreaterThanThreshold"
    assert age["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": [queues[f"dcmms-{env}-reports"], "QueueName"]}}
    ]
