"""cdk.json context -> deployment settings: environments, regions, overrides and the rules they must obey."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cdk import config

SPEC_REGIONS = ["us-west-2", "us-east-1", "eu-west-1", "ap-south-1"]


@pytest.fixture(scope="module")
def dcmms() -> dict[str, Any]:
    return config.read_cdk_json_context()["dcmms"]


def test_regions_come_from_the_environment_a_single_region_an_alias_or_all(dcmms: dict[str, Any]) -> None:
    assert config.resolve_regions(dcmms, "dev", None) == ["us-west-2"]
    assert config.resolve_regions(dcmms, "prod", None) == SPEC_REGIONS
    assert config.resolve_regions(dcmms, "dev", "eu-west-1") == ["eu-west-1"]
    assert config.resolve_regions(dcmms, "prod", "ap-south") == ["ap-south-1"]  # the spec's name
    assert config.resolve_regions(dcmms, "dev", "all") == SPEC_REGIONS
    with pytest.raises(config.ConfigError, match="spec's regions"):
        config.resolve_regions(dcmms, "prod", "sa-east-1")


def test_environments_differ_where_production_needs_it(dcmms: dict[str, Any]) -> None:
    context = {"dcmms": dcmms}
    dev, prod = config.load(context, "dev", "us-west-2"), config.load(context, "prod", "eu-west-1")
    assert (dev.production, prod.production) == (False, True)
    assert (prod.api.provisioned_min, prod.api.provisioned_max, prod.api.utilization_target) == (5, 50, 0.7)
    assert prod.redis.cluster_mode and prod.telemetry_db.multi_az
    assert prod.ingest_concurrency == prod.kinesis.shards * prod.ingest.parallelization_factor == 144
    assert dev.table_prefix == "dcmms-dev-" and prod.region == "eu-west-1"


def test_overrides_merge_over_the_environment_per_key(dcmms: dict[str, Any]) -> None:
    context = {
        "dcmms": dcmms,
        "dcmms:overrides": '{"api": {"reserved_concurrency": 60}}',  # as text, the way -c passes it
        "dcmms:overrides:prod": {"kinesis": {"shards": 10}},
    }
    prod = config.load(context, "prod", "us-east-1")
    assert prod.api.reserved_concurrency == 60 and prod.api.provisioned_max == 50
    assert prod.kinesis.shards == 10 and prod.kinesis.retention_hours == 168
    assert config.load(context, "dev", "us-east-1").kinesis.shards == 1


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"api": {"provisioned_typo": 1}}, "unknown key"),
        ({"ingest": {"reserved_concurrency": 10}}, "below shards x parallelization factor"),
        ({"ingest": {"retry_attempts": -1}}, "finite"),
        ({"ingest": {"parallelization_factor": 11}}, "parallelization_factor"),
        ({"api": {"reserved_concurrency": 10}}, "provisioned_max"),
        ({"redis": {"replicas_per_shard": 0}}, "replica"),
        ({"edge": {"domain_names": ["x.example.com"]}}, "certificate_arn"),
        ({"kinesis": {"mode": "sometimes"}}, "not one of"),
        ({"api": {"waf": "yes"}}, "expected bool"),
        ({"api": {"cold_start": "snapstart"}}, "SnapStart and provisioned concurrency exclude each other"),
        ({"api": {"cold_start": "warm"}}, "not one of"),
        ({"projector": {"reserved_concurrency": 2}}, "below the 4 projected tables"),
        ({"telemetry_db": {"read_replicas": 6}}, "read_replicas must be 0..5"),
        ({"telemetry_db": {"mode": "external", "external_secret_name": "dcmms/timescale"}}, "need mode 'rds'"),
        ({"telemetry_db": {"backup_retention_days": 0}}, "automated backups"),
        ({"monitoring": {"replica_lag_s": 10}}, "replica_lag_s <= analytics_replica_lag_s"),
        ({"reports": {"sender": "reports@elsewhere.example.org"}}, "nor an address of its domain"),
        ({"reports": {"retention_days": 0}}, "retention_days"),
        ({"reports": {"bucket": "x"}}, "unknown key"),
    ],
)
def test_settings_that_cannot_deploy_are_refused(dcmms: dict[str, Any], override: dict, message: str) -> None:
    with pytest.raises(config.ConfigError, match=message):
        config.load({"dcmms": dcmms, "dcmms:overrides:prod": override}, "prod", "us-west-2")


def test_unknown_environment_is_refused(dcmms: dict[str, Any]) -> None:
    with pytest.raises(config.ConfigError, match="unknown environment"):
        config.load({"dcmms": dcmms}, "staging", "us-west-2")


def test_a_capacity_plan_sizes_the_environment(dcmms: dict[str, Any], tmp_path) -> None:
    # given a `dcmms capacity --json` plan (the keys docs/capacity.md documents for the CDK)
    plan = {
        "schema": "dcmms.capacity/1",
        "kinesis": {"shards": 80},
        "lambda": {
            "api": {
                "reserved_concurrency": 400,
                "provisioned_min": 8,
                "provisioned_max": 60,
                "provisioned_utilization_target": 0.7,
            },
            "ingest": {"parallelization_factor": 3, "batch_size": 2000, "concurrency": 240},
        },
        "redis": {"node_type": "cache.r7g.xlarge", "shards": 4, "replicas_per_shard": 2},
        "postgresql": {"instance": "db.r6g.4xlarge", "allocated_gb": 1500, "multi_az": True, "burst_drain_s": 120.5},
    }
    path = tmp_path / "capacity.json"
    path.write_text(json.dumps(plan))
    # when it is given for production (and an override still wins over it)
    context = {"dcmms": dcmms, "dcmms:capacity:prod": str(path), "dcmms:overrides": {"api": {"provisioned_min": 9}}}
    prod = config.load(context, "prod", "us-west-2")
    # then the sizes are the plan's
    assert prod.kinesis.shards == 80 and prod.ingest_concurrency == 240 == 80 * prod.ingest.parallelization_factor
    assert (prod.api.reserved_concurrency, prod.api.provisioned_min, prod.api.provisioned_max) == (400, 9, 60)
    assert (prod.redis.node_type, prod.redis.shards, prod.redis.replicas_per_shard) == ("cache.r7g.xlarge", 4, 2)
    assert prod.telemetry_db.instance_type == "r6g.4xlarge" and prod.telemetry_db.allocated_storage_gb == 1500
    assert prod.monitoring.iterator_age_ms == 120_500
    assert config.load({"dcmms": dcmms, "dcmms:capacity:prod": str(path)}, "dev", "us-west-2").kinesis.shards == 1
    with pytest.raises(config.ConfigError, match="schema"):
        config.capacity_overrides({"schema": "other/9"})


def test_replica_topology_projector_and_lag_thresholds_per_environment(dcmms: dict[str, Any]) -> None:
    from dcmms.readmodel.router import ANALYTICS_MAX_LAG_S, REPLICA_MAX_LAG_S

    context = {"dcmms": dcmms}
    dev, prod = config.load(context, "dev", "us-west-2"), config.load(context, "prod", "us-west-2")
    assert (dev.telemetry_db.read_replicas, dev.telemetry_db.analytics_replica) == (0, False)
    assert (prod.telemetry_db.read_replicas, prod.telemetry_db.analytics_replica) == (1, True)
    assert prod.telemetry_db.replica_instance_type is None  # the primary's class
    assert (dev.projector.reserved_concurrency, prod.projector.reserved_concurrency) == (4, 20)
    # the alarms' bounds are the router's: an alarmed replica is one the router has stopped using
    for cfg in (dev, prod):
        assert cfg.monitoring.replica_lag_s == REPLICA_MAX_LAG_S
        assert cfg.monitoring.analytics_replica_lag_s == ANALYTICS_MAX_LAG_S
        assert cfg.monitoring.projection_lag_ms == 30_000


def test_report_sender_and_retention_per_environment(dcmms: dict[str, Any]) -> None:
    context = {"dcmms": dcmms}
    dev, prod = config.load(context, "dev", "us-west-2"), config.load(context, "prod", "eu-west-1")
    assert (dev.reports.retention_days, prod.reports.retention_days) == (30, 365)
    assert dev.reports.sender.endswith("@" + dev.reports.ses_identity)
    assert prod.reports.sender == "reports@dcmms.example.com" and prod.reports.ses_identity == "dcmms.example.com"
    assert dev.reports.ses_identity != prod.reports.ses_identity
    assert prod.reports.sandbox_recipients == ()
    # an address identity is its own sender; sandbox recipients are configured per environment like the rest
    sandbox = config.load(
        {
            **context,
            "dcmms:overrides:dev": {
                "reports": {
                    "ses_identity": "ops@example.org",
                    "sender": "ops@example.org",
                    "sandbox_recipients": ["qa@example.org"],
                }
            },
        },
        "dev",
        "us-west-2",
    )
    assert sandbox.reports.sender == "ops@example.org" and sandbox.reports.sandbox_recipients == ("qa@example.org",)
