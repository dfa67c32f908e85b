"""The capacity planner's arithmetic against hand-worked cases, the spec's own figures among them."""

from __future__ import annotations

import inspect
import json

import pytest

from dcmms.catalogue import by_name
from dcmms.store.models import table_definitions
from dcmms.telemetry.postgres import TelemetryStore
from dcmms_dev import capacity
from dcmms_dev.capacity import Assumptions, Scale, plan
from dcmms_dev.cli import main

# The spec's 2.4 TB/day raw at 72,000 events/s is 2.4e12 / (72,000 x 86,400) = 385.8 bytes per stored event.
SPEC_STORED_BYTES_PER_EVENT = 2.4e12 / (72_000 * 86_400)


def test_one_event_per_record_needs_the_spec_shard_counts() -> None:
    # given the spec's scale with one event per Kinesis record (record = 164 + 27 = 191 bytes)
    k = plan(assumptions=Assumptions(events_per_record=1))["kinesis"]
    # then 72,000 records/s need 72 shards and the 216,000 burst 216: the record limit, not bytes, decides
    assert k["record_bytes"] == 191
    assert (k["sustained"]["shards_by_records"], k["burst"]["shards_by_records"]) == (72, 216)
    # bytes: 72,000 x 191 = 13.75 MB/s = 13.11 MiB/s -> 14 shards; 216,000 x 191 B = 39.34 MiB/s -> 40
    assert (k["sustained"]["shards_by_bytes"], k["burst"]["shards_by_bytes"]) == (14, 40)
    assert (k["sustained"]["shards_required"], k["burst"]["shards_required"]) == (72, 216)
    assert k["burst"]["limited_by"] == "records"
    assert k["shards"] == 260  # 216 x 1.2 = 259.2, rounded up


def test_default_packing_seven_events_per_record() -> None:
    # given the default: one reading of an asset's 7 metrics per record, 164 + 7 x 27 = 353 bytes
    k = plan()["kinesis"]
    # 72,000 / 7 = 10,285.7 records/s -> 11 shards; x 353 B = 3,630,857 B/s = 3.46 MiB/s -> 4 shards
    assert k["record_bytes"] == 353
    assert k["sustained"]["records_per_s"] == pytest.approx(10_285.714, rel=1e-6)
    assert (k["sustained"]["shards_by_records"], k["sustained"]["shards_by_bytes"]) == (11, 4)
    # burst 30,857 records/s -> 31 shards; 10.39 MiB/s -> 11; with 20% headroom 37.2 -> 38
    assert (k["burst"]["shards_by_records"], k["burst"]["shards_by_bytes"]) == (31, 11)
    assert k["shards"] == 38


def test_large_records_are_limited_by_bytes_then_by_reads() -> None:
    # given 100 events per record: 164 + 2,700 = 2,864 bytes; burst 2,160 records/s = 6,186,240 B/s
    burst = plan(assumptions=Assumptions(events_per_record=100))["kinesis"]["burst"]
    assert burst["shards_by_records"] == 3
    assert burst["shards_by_bytes"] == 6  # 5.90 MiB/s
    assert burst["limited_by"] == "bytes"
    # three consumers read 3 x 5.90 = 17.70 MiB/s from shards that serve 2 MiB/s each -> 9
    burst = plan(assumptions=Assumptions(events_per_record=100, kinesis_consumers=3))["kinesis"]["burst"]
    assert (burst["shards_by_read"], burst["shards_required"], burst["limited_by"]) == (9, 9, "read")


def test_growth_scales_every_figure_before_sizing() -> None:
    # the spec's 12-month projection, +100%
    p = plan(Scale(growth=1.0), Assumptions(events_per_record=1))
    assert p["sized_for"]["events_per_s"] == 144_000
    assert p["sized_for"]["assets"] == 100_000
    assert (p["kinesis"]["sustained"]["shards_required"], p["kinesis"]["burst"]["shards_required"]) == (144, 432)
    assert p["lambda"]["api"]["requests_per_s"] == pytest.approx(1_666.667, rel=1e-6)
    assert p["scale"]["events_per_s"] == 72_000  # the input is kept beside what was sized


def test_storage_reproduces_the_spec_at_its_bytes_per_event() -> None:
    # given the spec's implied 385.8 bytes per stored event and its 10x compression
    pg = plan(assumptions=Assumptions(stored_bytes_per_event=SPEC_STORED_BYTES_PER_EVENT))["postgresql"]
    # then 2.4 TB/day raw and 240 GB/day compressed, as in spec §1.2
    assert pg["raw_gb_per_day"] == pytest.approx(2_400)
    assert pg["raw_gb_per_day_compressed"] == pytest.approx(240)


def test_postgresql_storage_and_iops_at_the_measured_row_sizes() -> None:
    pg = plan()["postgresql"]
    # 50,000 assets x 7 metrics = 350,000 series; 72,000 events/s -> a reading every 4.86 s per series
    assert pg["series"] == 350_000
    assert pg["reading_interval_s"] == pytest.approx(4.861, rel=1e-3)
    # raw: 72,000 x 86,400 x 91 B = 566.09 GB/day; rollups: 350,000 x (1,440 + 24) x 190 B = 97.36 GB/day
    assert pg["raw_gb_per_day"] == pytest.approx(566.0928)
    assert pg["rollup_gb_per_day"] == pytest.approx(97.356)
    # retained: 8 days of raw + 91 days of rollups (one partition more than retention) = 13,388.1 GB; +25%
    assert pg["retained_gb"] == pytest.approx(566.0928 * 8 + 97.356 * 91)
    assert pg["allocated_gb"] == 16_736
    # writes at the primary's 100,000 rows/s: (91 + 2 x 190) B x 2 = 94.2 MB/s = 5,749.5 16-KiB IOs/s,
    # +30% reads, +25% headroom = 9,342.9 -> 9,343; the 12,000 included with a >= 400 GiB volume covers it
    assert pg["write_rows_per_s"] == 100_000
    assert pg["iops_needed"] == 9_343
    assert (pg["iops_baseline"], pg["iops"]) == (12_000, 12_000)
    # a 300-s burst: (216,000 - 100,000) x 300 = 34.8 M rows, drained at 100,000 - 72,000 = 28,000 rows/s
    assert pg["burst_backlog_rows"] == 34_800_000
    assert pg["burst_drain_s"] == pytest.approx(1_242.857, rel=1e-6)


def test_a_primary_that_cannot_keep_up_is_called_out() -> None:
    p = plan(assumptions=Assumptions(pg_instance_rows_per_s=50_000))
    assert p["postgresql"]["burst_drain_s"] is None
    assert any("shard telemetry" in n for n in p["notes"])


def test_api_lambda_concurrency_by_littles_law() -> None:
    api = plan()["lambda"]["api"]
    # 50,000/min = 833.3 req/s x 30 ms = 25 busy; 150,000/min = 2,500 req/s -> 75
    assert api["concurrency"] == pytest.approx(25)
    assert api["peak_concurrency"] == pytest.approx(75)
    # provisioned 25 / 0.7 = 35.7 -> 36 to 75 / 0.7 = 107.1 -> 108; reserved 2 x 75 = 150
    assert (api["provisioned_min"], api["provisioned_max"], api["reserved_concurrency"]) == (36, 108, 150)
    assert api["memory_mb"] == by_name("api").memory_mb


def test_ingest_parallelization_factor() -> None:
    # default: 216,000 / 25,000 = 8.64 -> 9 batches in flight; 38 shards already give 38
    ingest = plan()["lambda"]["ingest"]
    assert (ingest["invocations_needed"], ingest["parallelization_factor"], ingest["concurrency"]) == (9, 1, 38)
    # 1,000 events per record of 1 byte: 1,164-byte records, 216 records/s -> 1 shard, +20% -> 2 shards;
    # 9 batches over 2 shards needs a factor of 5
    few = Assumptions(events_per_record=1_000, bytes_per_event=1)
    p = plan(assumptions=few)
    assert p["kinesis"]["shards"] == 2
    ingest = p["lambda"]["ingest"]
    assert (ingest["parallelization_factor"], ingest["concurrency"], ingest["keeps_up"]) == (5, 10, True)
    # at 1,000 events/s per invocation 216 are needed; 2 shards x 10 is the most Lambda runs
    slow = plan(
        assumptions=Assumptions(events_per_record=1_000, bytes_per_event=1, ingest_events_per_s_per_invocation=1_000)
    )
    ingest = slow["lambda"]["ingest"]
    assert (ingest["invocations_needed"], ingest["parallelization_factor"], ingest["concurrency"]) == (216, 10, 20)
    assert ingest["keeps_up"] is False
    assert any("add shards" in n for n in slow["notes"])


def test_dynamodb_request_units() -> None:
    ddb = plan(assumptions=Assumptions(work_order_indexes=6))["dynamodb"]
    # a 50-item page of 1 KB items is 50 KB = 13 x 4 KB, eventually consistent: 6.5 RRU
    assert ddb["read_units_per_read"] == 6.5
    # a work order and its 6 all-projected GSIs: 7 WRU
    assert ddb["write_units_per_write"] == 7
    # reads: 833.3 x 0.9 x (1 - 0.85) = 112.5/s x 6.5 = 731.25; writes: 83.33/s x 2 consistent gets = 166.67
    assert ddb["read_units_per_s"] == pytest.approx(731.25 + 166.6667, rel=1e-6)
    assert ddb["write_units_per_s"] == pytest.approx(583.333, rel=1e-6)
    assert ddb["peak_write_units_per_s"] == pytest.approx(1_750)
    # below what a new on-demand table serves at once: nothing to pre-warm
    assert ddb["warm_read_units_per_s"] is None and ddb["warm_write_units_per_s"] is None


def test_index_counts_default_to_the_table_definitions() -> None:
    tables = {t["base_name"]: len(t.get("global_secondary_indexes", [])) for t in table_definitions()}
    a = Assumptions()
    assert (a.work_order_indexes, a.asset_indexes) == (tables["work-orders"], tables["assets"])


def test_dynamodb_storage_counts_index_copies() -> None:
    # 200 sites + 50,000 assets x (1 + 2 GSIs) + 10,000 work orders x (1 + 6) at 1 KB = 220,200 KB
    ddb = plan(assumptions=Assumptions(work_order_indexes=6, asset_indexes=2))["dynamodb"]
    assert ddb["storage_gb"] == pytest.approx(0.2202)


def test_redis_memory_and_shards() -> None:
    r = plan()["redis"]
    # entities (200 + 50,000 + 10,000) x (1,024 + 100) = 67,664,800 B
    # list pages (200 x 20 + 10,000 x 2) x (50 x 1,024 + 100) = 1,231,200,000 B
    # principals 50,000 x 612 = 30,600,000 B; rate limits 50,000 x 2 x 100 = 10,000,000 B; x 1.3
    assert r["memory_bytes"] == pytest.approx((67_664_800 + 1_231_200_000 + 30_600_000 + 10_000_000) * 1.3)
    # peak ops: 2,500 req/s x 3 + 30,857 burst records/s x 1 = 38,357 -> one shard, one replica
    assert r["peak_ops_per_s"] == pytest.approx(7_500 + 216_000 / 7)
    assert (r["shards"], r["nodes"]) == (1, 2)
    # a million peak users: pages (4,000 + 2,000,000) x 51,300 = 102.8 GB, 133.8 GB with the rest x 1.3;
    # a node holds 13.07 GiB x 0.75 = 10.53 GB -> 12.7 -> 13 shards, each with a replica
    big = plan(Scale(peak_users=1_000_000))["redis"]
    assert big["memory_bytes"] == pytest.approx((67_664_800 + 2_004_000 * 51_300 + 30_600_000 + 10_000_000) * 1.3)
    assert big["shards_by_memory"] == 13
    assert big["nodes"] == 26


def test_retention_and_function_memory_follow_the_code() -> None:
    retention = inspect.signature(TelemetryStore.apply_retention).parameters
    a = Assumptions()
    assert a.raw_retention_days == retention["raw_days"].default
    assert a.rollup_retention_days == retention["rollup_days"].default
    assert a.ingest_memory_mb == by_name("ingest").memory_mb


def test_monthly_cost_with_the_listed_prices() -> None:
    p = plan()
    items = p["cost"]["items_usd"]
    # Kinesis: 38 shards x 730 h x $0.015 + 10,285.7 records/s x 2,628,000 s x 1 PUT unit x $0.014 / million
    assert items["kinesis"] == pytest.approx(38 * 730 * 0.015 + 72_000 / 7 * 2_628_000 * 0.014 / 1e6)
    # API Gateway: 833.3 x 2,628,000 = 2.19 B requests over the tiers
    requests = 50_000 / 60 * 2_628_000
    expected = 333e6 * 3.5 / 1e6 + (1e9 - 333e6) * 2.8 / 1e6 + (requests - 1e9) * 2.38 / 1e6
    assert items["api_gateway"] == pytest.approx(expected)
    # ElastiCache: 2 x cache.r7g.large x 730 h
    assert items["elasticache"] == pytest.approx(2 * 730 * capacity.PRICES["elasticache_node_hour"]["cache.r7g.large"])
    # RDS: primary + standby + 2 replicas
    assert items["rds_instances"] == pytest.approx(4 * 730 * 0.898)
    assert p["cost"]["monthly_usd"] == pytest.approx(sum(items.values()))
    assert p["cost"]["prices_read_on"] == capacity.PRICES_READ_ON


def test_cli_prints_json_the_cdk_reads(capsys: pytest.CaptureFixture[str]) -> None:
    # when
    assert main(["capacity", "--json", "--events-per-record", "1", "--growth", "0.5"]) == 0
    doc = json.loads(capsys.readouterr().out)
    # then the keys docs/capacity.md promises are there, at 1.5x the spec: 108 / 324 shards x 1.2
    assert doc["schema"] == "dcmms.capacity/1"
    assert doc["kinesis"]["burst"]["shards_required"] == 324
    assert doc["kinesis"]["shards"] == 389
    api = doc["lambda"]["api"]
    assert {"reserved_concurrency", "provisioned_min", "provisioned_max"} <= api.keys()
    assert doc["lambda"]["ingest"]["parallelization_factor"] >= 1
    assert doc["cost"]["prices"]["kinesis_shard_hour"] == capacity.PRICES["kinesis_shard_hour"]


def test_cli_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["capacity", "--events-per-record", "1"]) == 0
    out = capsys.readouterr().out
    assert "72 by records" in out and "216 by records" in out
    assert "prices assumed (read 2026-11-28)" in out


def test_cli_refuses_a_bad_boolean() -> None:
    with pytest.raises(SystemExit):
        main(["capacity", "--pg-multi-az", "maybe"])


def test_cli_help_lists_every_input_with_its_default(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["capacity", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "--events-per-record" in out and "--burst-events-per-s" in out
    assert "90%" in out and "[0.9]" in out  # a % in help text does not break argparse's formatting
