"""The capacity planner behind ``dcmms capacity``: the spec's scale figures in, AWS sizes and a monthly cost out.

Every figure is arithmetic on two inputs: ``Scale`` (what the platform must carry; defaults are the spec's
§1.2 numbers) and ``Assumptions`` (how dCMMS uses each service: record packing, request costs, cache hit
rate, measured bytes per stored row). Both are printed with the plan, so a reader can redo any line by hand;
docs/capacity.md works the spec's figures through and documents the JSON that the CDK configuration reads.
Prices are assumptions too: one dict, ``PRICES``, with the date they were read.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

SCHEMA = "dcmms.capacity/1"

MIB = 1024 * 1024
GIB = 1024 * MIB
GB = 1_000_000_000  # storage is quoted in decimal units, as AWS bills it
SECONDS_PER_DAY = 86_400
HOURS_PER_MONTH = 730  # AWS's billing month
SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600

# Service limits (AWS documentation): a Kinesis shard takes 1,000 records/s and 1 MiB/s of writes and serves
# 2 MiB/s of reads shared by its consumers; a Lambda event-source mapping runs at most 10 batches per shard.
KINESIS_SHARD_WRITE_RECORDS_PER_S = 1_000
KINESIS_SHARD_WRITE_BYTES_PER_S = 1 * MIB
KINESIS_SHARD_READ_BYTES_PER_S = 2 * MIB
KINESIS_PUT_PAYLOAD_UNIT_BYTES = 25 * 1024
LAMBDA_MAX_PARALLELIZATION_FACTOR = 10
LAMBDA_ACCOUNT_CONCURRENCY_DEFAULT = 1_000
LAMBDA_UNRESERVED_MINIMUM = 100  # Lambda keeps this much of the account's concurrency unreserved
# RDS gp3: storage below 400 GiB has 3,000 IOPS included, from 400 GiB on 12,000 (PostgreSQL).
RDS_GP3_LARGE_VOLUME_GB = 400 * GIB / GB
RDS_GP3_BASELINE_IOPS = (3_000, 12_000)
# DynamoDB on-demand: a new table serves up to these request units per second before it has scaled.
DYNAMODB_NEW_TABLE_RRU_PER_S = 12_000
DYNAMODB_NEW_TABLE_WRU_PER_S = 4_000

# Unit prices assumed by the cost estimate: us-east-1, on-demand, USD, read from the AWS pricing pages (and
# summaries of them) on PRICES_READ_ON. They are assumptions: check the AWS Pricing Calculator before
# relying on a total. Volume tiers are listed only where the plan reaches them (API Gateway).
PRICES_READ_ON = "2026-11-28"
PRICES_REGION = "us-east-1"
PRICES: dict[str, Any] = {
    "kinesis_shard_hour": 0.015,  # provisioned mode
    "kinesis_put_payload_units_per_million": 0.014,  # 25 KiB units
    "lambda_requests_per_million": 0.20,
    "lambda_gb_second": 0.0000166667,  # x86, first 6 billion GB-s a month
    "lambda_provisioned_concurrency_gb_second": 0.0000041667,
    "lambda_provisioned_duration_gb_second": 0.0000097222,
    # REST API requests: (requests per month up to, USD per million) in order
    "api_gateway_rest_tiers": [(333e6, 3.50), (1e9, 2.80), (20e9, 2.38), (math.inf, 1.51)],
    "dynamodb_read_request_units_per_million": 0.125,
    "dynamodb_write_request_units_per_million": 0.625,
    "dynamodb_storage_gb_month": 0.25,
    "elasticache_node_hour": {"cache.r7g.large": 0.219, "cache.r7g.xlarge": 0.437},
    "rds_instance_hour": {"db.r6g.xlarge": 0.449, "db.r6g.2xlarge": 0.898, "db.r6g.4xlarge": 1.796},
    "rds_gp3_gb_month": 0.115,
    "rds_gp3_iops_month": 0.02,  # above the included baseline
}
# Usable memory of the node types above, GiB (ElastiCache's published node memory).
ELASTICACHE_NODE_GIB = {"cache.r7g.large": 13.07, "cache.r7g.xlarge": 26.32}


def _function_memory(name: str) -> int:
    from dcmms.catalogue import by_name

    return by_name(name).memory_mb


def _indexes(table_name: str) -> int:
    """GSIs on a table (store/models.py): every one (all projected) is written, and stored, with the item."""
    from dcmms.store.models import table_definitions

    table = next(t for t in table_definitions() if t["base_name"] == table_name)
    return len(table.get("global_secondary_indexes", []))


def _help(text: str) -> dict[str, str]:
    return {"help": text}


@dataclass(frozen=True)
class Scale:
    """What the platform must carry. Defaults: the spec's §1.2 production scale."""

    concurrent_users: int = field(default=5_000, metadata=_help("concurrent users (spec 5,000)"))
    peak_users: int = field(default=10_000, metadata=_help("peak concurrent users (spec 10,000)"))
    registered_users: int = field(default=50_000, metadata=_help("registered users (spec 50,000)"))
    events_per_s: float = field(default=72_000.0, metadata=_help("telemetry events/s sustained (spec 72,000)"))
    burst_events_per_s: float = field(default=216_000.0, metadata=_help("telemetry events/s burst (spec 216,000)"))
    api_requests_per_min: float = field(default=50_000.0, metadata=_help("API requests/min sustained (spec 50,000)"))
    peak_api_requests_per_min: float = field(default=150_000.0, metadata=_help("API requests/min peak (spec 150,000)"))
    work_orders: int = field(default=10_000, metadata=_help("active work orders (spec 10,000)"))
    assets: int = field(default=50_000, metadata=_help("assets (spec 50,000)"))
    sites: int = field(default=200, metadata=_help("sites (spec 200)"))
    growth: float = field(
        default=0.0,
        metadata=_help("growth to plan for, as a fraction added to every figure (spec: 0.5 at 6 months, 1.0 at 12)"),
    )

    def grown(self) -> Scale:
        """Every load and data figure times (1 + growth): the scale the plan is sized for."""
        k = 1 + self.growth
        grown = {
            f.name: _up(getattr(self, f.name) * k) if f.type == "int" else getattr(self, f.name) * k
            for f in fields(self)
            if f.name != "growth"
        }
        return Scale(**grown)


@dataclass(frozen=True)
class Assumptions:
    """How dCMMS uses each service. Measured where it could be (docs/capacity.md says which)."""

    # Telemetry records (docs/telemetry.md): one Kinesis record carries one asset's readings.
    events_per_record: float = field(default=7, metadata=_help("events (metric values) per Kinesis record"))
    bytes_per_event: float = field(
        default=27, metadata=_help("record bytes each event adds (JSON name, value, share of ts)")
    )
    record_envelope_bytes: float = field(
        default=164, metadata=_help("bytes per record besides its events: v, tenant/site/asset ids, partition key")
    )
    kinesis_consumers: int = field(default=1, metadata=_help("consumers sharing each shard's 2 MiB/s of reads"))
    kinesis_headroom: float = field(default=0.2, metadata=_help("spare shard capacity for uneven partition keys"))
    metrics_per_asset: float = field(default=7, metadata=_help("metrics each asset reports: series = assets x this"))
    # PostgreSQL telemetry store (telemetry/postgres.py), bytes measured on PostgreSQL 15 with the real schema.
    stored_bytes_per_event: float = field(default=91, metadata=_help("raw row + primary key + BRIN, bytes"))
    rollup_row_bytes: float = field(default=190, metadata=_help("1-minute/1-hour rollup row + primary key, bytes"))
    raw_retention_days: int = field(default=7, metadata=_help("raw readings kept (TelemetryStore.apply_retention)"))
    rollup_retention_days: int = field(default=90, metadata=_help("1m and 1h rollups kept"))
    compression_ratio: float = field(
        default=10, metadata=_help("TimescaleDB compression, where available (spec 10-20x)")
    )
    pg_instance_rows_per_s: float = field(
        default=100_000, metadata=_help("rows/s one PostgreSQL primary absorbs (spec §2.3 write throughput)")
    )
    pg_write_amplification: float = field(default=2.0, metadata=_help("bytes written per byte stored: WAL + heap"))
    pg_io_kib: float = field(default=16, metadata=_help("average KiB per I/O operation"))
    pg_read_iops_share: float = field(default=0.3, metadata=_help("read IOPS as a share of write IOPS"))
    pg_headroom: float = field(default=0.25, metadata=_help("spare storage and IOPS"))
    pg_instance: str = field(default="db.r6g.2xlarge", metadata=_help("RDS instance class (priced in PRICES)"))
    pg_multi_az: bool = field(default=True, metadata=_help("primary with a Multi-AZ standby"))
    pg_read_replicas: int = field(default=2, metadata=_help("read replicas (spec §5.3 minimum 2)"))
    burst_duration_s: float = field(default=300, metadata=_help("how long a telemetry burst lasts, seconds"))
    # Ingest Lambda.
    ingest_events_per_s_per_invocation: float = field(
        default=25_000, metadata=_help("events/s one ingest invocation decodes and writes")
    )
    ingest_batch_records: int = field(default=500, metadata=_help("records per ingest batch"))
    ingest_memory_mb: int = field(default_factory=lambda: _function_memory("ingest"), metadata=_help("ingest memory"))
    # API Lambda.
    api_mean_duration_ms: float = field(default=30, metadata=_help("mean API invocation duration, ms"))
    api_memory_mb: int = field(default_factory=lambda: _function_memory("api"), metadata=_help("API memory, MB"))
    provisioned_utilization: float = field(
        default=0.7, metadata=_help("target tracking on provisioned-concurrency utilization")
    )
    reserved_multiple: float = field(default=2.0, metadata=_help("reserved concurrency as a multiple of peak"))
    # DynamoDB, reached on cache misses and writes.
    read_share: float = field(default=0.9, metadata=_help("share of API requests that read (spec §10.2: 90%)"))
    cache_hit_rate: float = field(default=0.85, metadata=_help("Redis hit rate for reads (spec §10.1: 85%)"))
    item_kb: float = field(default=1.0, metadata=_help("average item size, KB"))
    page_items: int = field(default=50, metadata=_help("items per list page (API default limit)"))
    work_order_indexes: int = field(
        default_factory=lambda: _indexes("work-orders"), metadata=_help("GSIs written with each work order")
    )
    asset_indexes: int = field(default_factory=lambda: _indexes("assets"), metadata=_help("GSIs of the assets table"))
    reads_per_write: float = field(default=2, metadata=_help("consistent reads before a write (site, asset, current)"))
    # Redis.
    redis_node_type: str = field(default="cache.r7g.large", metadata=_help("ElastiCache node type"))
    redis_reserved_memory: float = field(default=0.25, metadata=_help("share of node memory kept for overhead"))
    redis_ops_per_s_per_shard: float = field(default=100_000, metadata=_help("ops/s per shard (spec §2.3)"))
    redis_ops_per_request: float = field(default=3, metadata=_help("Redis calls per API request"))
    redis_ops_per_record: float = field(default=1, metadata=_help("Redis calls per ingested record (rules)"))
    redis_replicas_per_shard: int = field(default=1, metadata=_help("replicas per shard (Multi-AZ)"))
    redis_fragmentation: float = field(default=1.3, metadata=_help("allocator overhead on the data set"))
    list_pages_per_site: int = field(default=20, metadata=_help("cached list pages per site (filters x resources)"))
    list_pages_per_user: int = field(default=2, metadata=_help("cached per-user list pages (e.g. assigned to me)"))
    key_overhead_bytes: int = field(default=100, metadata=_help("Redis bytes per key besides its value"))
    principal_bytes: int = field(default=512, metadata=_help("cached API-key principal, bytes"))
    rate_limit_keys_per_user: int = field(default=2, metadata=_help("GCRA keys per user (tier + endpoint)"))


def _up(x: float) -> int:
    """Ceiling that ignores floating-point dust: 72.00000000001 shards is 72."""
    return math.ceil(x - 1e-9)


def _kinesis(s: Scale, a: Assumptions) -> dict[str, Any]:
    record_bytes = a.record_envelope_bytes + a.events_per_record * a.bytes_per_event

    def load(events_per_s: float) -> dict[str, Any]:
        records = events_per_s / a.events_per_record
        bytes_per_s = records * record_bytes
        by = {
            "records": _up(records / KINESIS_SHARD_WRITE_RECORDS_PER_S),
            "bytes": _up(bytes_per_s / KINESIS_SHARD_WRITE_BYTES_PER_S),
            "read": _up(bytes_per_s * a.kinesis_consumers / KINESIS_SHARD_READ_BYTES_PER_S),
        }
        return {
            "events_per_s": events_per_s,
            "records_per_s": records,
            "bytes_per_s": bytes_per_s,
            "shards_by_records": by["records"],
            "shards_by_bytes": by["bytes"],
            "shards_by_read": by["read"],
            "shards_required": max(by.values()),
            "limited_by": max(by, key=lambda k: by[k]),
        }

    sustained, burst = load(s.events_per_s), load(s.burst_events_per_s)
    return {
        "events_per_record": a.events_per_record,
        "record_bytes": record_bytes,
        "sustained": sustained,
        "burst": burst,
        "headroom": a.kinesis_headroom,
        # Sized for the burst: a shard cannot borrow capacity, so a burst above it is throttled.
        "shards": max(1, _up(burst["shards_required"] * (1 + a.kinesis_headroom))),
    }


def _lambda(s: Scale, a: Assumptions, shards: int) -> dict[str, Any]:
    rps, peak_rps = s.api_requests_per_min / 60, s.peak_api_requests_per_min / 60
    busy, peak_busy = rps * a.api_mean_duration_ms / 1000, peak_rps * a.api_mean_duration_ms / 1000  # Little's law
    provisioned_min = _up(busy / a.provisioned_utilization)
    provisioned_max = _up(peak_busy / a.provisioned_utilization)
    reserved = max(provisioned_max, _up(peak_busy * a.reserved_multiple))
    # Ingest: one batch in flight per shard and parallelization slot; enough slots for the burst.
    needed = _up(s.burst_events_per_s / a.ingest_events_per_s_per_invocation)
    factor = min(LAMBDA_MAX_PARALLELIZATION_FACTOR, max(1, _up(needed / shards)))
    ingest_concurrency = shards * factor
    return {
        "api": {
            "requests_per_s": rps,
            "peak_requests_per_s": peak_rps,
            "mean_duration_ms": a.api_mean_duration_ms,
            "memory_mb": a.api_memory_mb,
            "concurrency": busy,
            "peak_concurrency": peak_busy,
            "provisioned_min": provisioned_min,
            "provisioned_max": provisioned_max,
            "provisioned_utilization_target": a.provisioned_utilization,
            "reserved_concurrency": reserved,
        },
        "ingest": {
            "invocations_needed": needed,
            "parallelization_factor": factor,
            "concurrency": ingest_concurrency,
            "keeps_up": ingest_concurrency >= needed,
            "batch_size": a.ingest_batch_records,
            "memory_mb": a.ingest_memory_mb,
        },
        # The two scheduled functions reserve one each (catalogue).
        "account_concurrency_needed": reserved + ingest_concurrency + 2 + LAMBDA_UNRESERVED_MINIMUM,
    }


def _dynamodb(s: Scale, a: Assumptions) -> dict[str, Any]:
    rru_per_read = _up(a.page_items * a.item_kb / 4) * 0.5  # a query, eventually consistent: 0.5 RRU per 4 KB
    wru_per_write = _up(a.item_kb) * (1 + a.work_order_indexes)  # item + every all-projected GSI
    rru_per_write = a.reads_per_write * _up(a.item_kb / 4)  # consistent gets of items up to 4 KB

    def units(requests_per_s: float) -> tuple[float, float]:
        reads = requests_per_s * a.read_share * (1 - a.cache_hit_rate)
        writes = requests_per_s * (1 - a.read_share)
        return reads * rru_per_read + writes * rru_per_write, writes * wru_per_write

    rru, wru = units(s.api_requests_per_min / 60)
    peak_rru, peak_wru = units(s.peak_api_requests_per_min / 60)
    return {
        "billing_mode": "PAY_PER_REQUEST",
        "read_units_per_read": rru_per_read,
        "write_units_per_write": wru_per_write,
        "read_units_per_s": rru,
        "write_units_per_s": wru,
        "peak_read_units_per_s": peak_rru,
        "peak_write_units_per_s": peak_wru,
        # Pre-warm only above what a new on-demand table serves at once.
        "warm_read_units_per_s": _up(peak_rru) if peak_rru > DYNAMODB_NEW_TABLE_RRU_PER_S else None,
        "warm_write_units_per_s": _up(peak_wru) if peak_wru > DYNAMODB_NEW_TABLE_WRU_PER_S else None,
        "read_units_per_month": rru * SECONDS_PER_MONTH,
        "write_units_per_month": wru * SECONDS_PER_MONTH,
        # Items and their index copies: sites have no GSI.
        "storage_gb": (s.sites + s.assets * (1 + a.asset_indexes) + s.work_orders * (1 + a.work_order_indexes))
        * a.item_kb
        * 1000
        / GB,
    }


def _redis(s: Scale, a: Assumptions, records_per_s_burst: float) -> dict[str, Any]:
    item = a.item_kb * 1024 + a.key_overhead_bytes
    page = a.page_items * a.item_kb * 1024 + a.key_overhead_bytes
    parts = {
        "entities": (s.sites + s.assets + s.work_orders) * item,
        "list_pages": (s.sites * a.list_pages_per_site + s.peak_users * a.list_pages_per_user) * page,
        "principals": s.registered_users * (a.principal_bytes + a.key_overhead_bytes),
        "rate_limits": s.registered_users * a.rate_limit_keys_per_user * a.key_overhead_bytes,
    }
    memory = sum(parts.values()) * a.redis_fragmentation
    usable = ELASTICACHE_NODE_GIB[a.redis_node_type] * GIB * (1 - a.redis_reserved_memory)
    peak_ops = s.peak_api_requests_per_min / 60 * a.redis_ops_per_request + records_per_s_burst * a.redis_ops_per_record
    shards_by = {"memory": _up(memory / usable), "ops": _up(peak_ops / a.redis_ops_per_s_per_shard)}
    shards = max(1, *shards_by.values())
    return {
        "memory_bytes_by_part": parts,
        "memory_bytes": memory,
        "memory_gib": memory / GIB,
        "node_type": a.redis_node_type,
        "node_usable_gib": usable / GIB,
        "peak_ops_per_s": peak_ops,
        "shards_by_memory": shards_by["memory"],
        "shards_by_ops": shards_by["ops"],
        "shards": shards,
        "replicas_per_shard": a.redis_replicas_per_shard,
        "nodes": shards * (1 + a.redis_replicas_per_shard),
    }


def _postgresql(s: Scale, a: Assumptions, ingest_concurrency: int) -> dict[str, Any]:
    series = s.assets * a.metrics_per_asset
    raw_day = s.events_per_s * SECONDS_PER_DAY * a.stored_bytes_per_event
    rollup_1m_day = series * 1440 * a.rollup_row_bytes
    rollup_1h_day = series * 24 * a.rollup_row_bytes
    # Retention drops whole daily partitions, so one more day than the retention is on disk.
    retained = raw_day * (a.raw_retention_days + 1) + (rollup_1m_day + rollup_1h_day) * (a.rollup_retention_days + 1)
    allocated = retained * (1 + a.pg_headroom)
    # Writes run at the burst rate up to what one primary absorbs; the rest waits in Kinesis.
    write_rows = min(s.burst_events_per_s, a.pg_instance_rows_per_s)
    # Each stored event also rewrites its series' 1-minute and 1-hour rollup rows.
    write_bytes = write_rows * (a.stored_bytes_per_event + 2 * a.rollup_row_bytes) * a.pg_write_amplification
    write_iops = write_bytes / (a.pg_io_kib * 1024)
    iops_needed = _up(write_iops * (1 + a.pg_read_iops_share) * (1 + a.pg_headroom))
    baseline = RDS_GP3_BASELINE_IOPS[allocated / GB >= RDS_GP3_LARGE_VOLUME_GB]
    excess = max(0.0, s.burst_events_per_s - a.pg_instance_rows_per_s)
    spare = a.pg_instance_rows_per_s - s.events_per_s
    backlog = excess * a.burst_duration_s
    return {
        "series": series,
        "reading_interval_s": series / s.events_per_s,
        "raw_gb_per_day": raw_day / GB,
        "raw_gb_per_day_compressed": raw_day / a.compression_ratio / GB,
        "rollup_gb_per_day": (rollup_1m_day + rollup_1h_day) / GB,
        "rollup_1m_gb_per_day": rollup_1m_day / GB,
        "rollup_1h_gb_per_day": rollup_1h_day / GB,
        "retained_gb": retained / GB,
        "allocated_gb": _up(allocated / GB),
        "write_rows_per_s": write_rows,
        "write_mib_per_s": write_bytes / MIB,
        "iops_needed": iops_needed,
        "iops_baseline": baseline,
        "iops": max(iops_needed, baseline),
        "instance": a.pg_instance,
        "multi_az": a.pg_multi_az,
        "read_replicas": a.pg_read_replicas,
        "ingest_connections": ingest_concurrency,
        "burst_backlog_rows": backlog,
        # How long the backlog of one burst takes to drain at the primary's spare capacity.
        "burst_drain_s": backlog / spare if spare > 0 else None,  # None: the primary never catches up
    }


def _api_gateway_cost(requests: float) -> float:
    cost, below = 0.0, 0.0
    for up_to, per_million in PRICES["api_gateway_rest_tiers"]:
        in_tier = max(0.0, min(requests, up_to) - below)
        cost += in_tier / 1e6 * per_million
        below = up_to
    return cost


def _cost(s: Scale, a: Assumptions, plan: dict[str, Any]) -> dict[str, Any]:
    """Monthly USD at the sustained rates (bursts and peaks are short), with PRICES."""
    p = PRICES
    k, lam, ddb, redis, pg = plan["kinesis"], plan["lambda"], plan["dynamodb"], plan["redis"], plan["postgresql"]
    records_month = k["sustained"]["records_per_s"] * SECONDS_PER_MONTH
    put_units = records_month * _up(k["record_bytes"] / KINESIS_PUT_PAYLOAD_UNIT_BYTES)
    api_requests = lam["api"]["requests_per_s"] * SECONDS_PER_MONTH
    api_gb = a.api_memory_mb / 1024
    # Requests within provisioned concurrency pay its lower duration rate, the concurrency itself all month.
    api_duration_gb_s = api_requests * a.api_mean_duration_ms / 1000 * api_gb
    api_cost = (
        api_requests / 1e6 * p["lambda_requests_per_million"]
        + api_duration_gb_s * p["lambda_provisioned_duration_gb_second"]
        + lam["api"]["provisioned_min"] * api_gb * SECONDS_PER_MONTH * p["lambda_provisioned_concurrency_gb_second"]
    )
    ingest_busy = s.events_per_s / a.ingest_events_per_s_per_invocation
    ingest_cost = (
        records_month / a.ingest_batch_records / 1e6 * p["lambda_requests_per_million"]
        + ingest_busy * SECONDS_PER_MONTH * a.ingest_memory_mb / 1024 * p["lambda_gb_second"]
    )
    pg_instances = (2 if a.pg_multi_az else 1) + a.pg_read_replicas
    extra_iops = max(0, pg["iops"] - pg["iops_baseline"])
    items = {
        "kinesis": k["shards"] * HOURS_PER_MONTH * p["kinesis_shard_hour"]
        + put_units / 1e6 * p["kinesis_put_payload_units_per_million"],
        "lambda_api": api_cost,
        "lambda_ingest": ingest_cost,
        "api_gateway": _api_gateway_cost(api_requests),
        "dynamodb": ddb["read_units_per_month"] / 1e6 * p["dynamodb_read_request_units_per_million"]
        + ddb["write_units_per_month"] / 1e6 * p["dynamodb_write_request_units_per_million"]
        + ddb["storage_gb"] * p["dynamodb_storage_gb_month"],
        "elasticache": redis["nodes"] * HOURS_PER_MONTH * p["elasticache_node_hour"][a.redis_node_type],
        "rds_instances": pg_instances * HOURS_PER_MONTH * p["rds_instance_hour"][a.pg_instance],
        "rds_storage": pg_instances
        * (pg["allocated_gb"] * p["rds_gp3_gb_month"] + extra_iops * p["rds_gp3_iops_month"]),
    }
    return {
        "monthly_usd": sum(items.values()),
        "items_usd": items,
        "region": PRICES_REGION,
        "prices_read_on": PRICES_READ_ON,
        "prices": {name: value for name, value in p.items() if name != "api_gateway_rest_tiers"}
        | {"api_gateway_rest_tiers": [[None if math.isinf(t) else t, c] for t, c in p["api_gateway_rest_tiers"]]},
        "excludes": "data transfer, CloudFront, CloudWatch, backups beyond the free allowance, NAT, Secrets Manager",
    }


def _notes(plan: dict[str, Any], a: Assumptions) -> list[str]:
    """What a reader of the plan should not miss."""
    notes = []
    lam, pg = plan["lambda"], plan["postgresql"]
    if not lam["ingest"]["keeps_up"]:
        notes.append(
            f"ingest needs {lam['ingest']['invocations_needed']} concurrent batches but "
            f"{plan['kinesis']['shards']} shards x {LAMBDA_MAX_PARALLELIZATION_FACTOR} allow "
            f"{lam['ingest']['concurrency']}: add shards"
        )
    if lam["account_concurrency_needed"] > LAMBDA_ACCOUNT_CONCURRENCY_DEFAULT:
        notes.append(
            f"Lambda needs {lam['account_concurrency_needed']} concurrency with the unreserved minimum; "
            f"the account default is {LAMBDA_ACCOUNT_CONCURRENCY_DEFAULT}: request an increase"
        )
    if pg["burst_drain_s"] is None:
        notes.append(
            f"the sustained {plan['sized_for']['events_per_s']:,.0f} events/s exceed what one primary writes "
            f"({a.pg_instance_rows_per_s:,.0f} rows/s): shard telemetry over several databases"
        )
    elif pg["burst_backlog_rows"] > 0:
        notes.append(
            f"a {a.burst_duration_s:.0f}-s burst leaves {pg['burst_backlog_rows']:,.0f} rows in Kinesis above the "
            f"primary's {a.pg_instance_rows_per_s:,.0f} rows/s; they drain in {pg['burst_drain_s']:,.0f} s "
            "(alarm on iterator age above that)"
        )
    if pg["ingest_connections"] > 100:
        notes.append(f"{pg['ingest_connections']} ingest invocations may hold a connection each: use RDS Proxy")
    if pg["rollup_1m_gb_per_day"] * a.rollup_retention_days > pg["raw_gb_per_day"] * a.raw_retention_days:
        notes.append("1-minute rollups kept for the rollup retention outweigh the raw readings: consider a shorter one")
    return notes


def plan(scale: Scale | None = None, assumptions: Assumptions | None = None) -> dict[str, Any]:
    """The whole plan as a JSON-able dict (schema in docs/capacity.md)."""
    scale, a = scale or Scale(), assumptions or Assumptions()
    s = scale.grown()
    kinesis = _kinesis(s, a)
    lam = _lambda(s, a, kinesis["shards"])
    out: dict[str, Any] = {
        "schema": SCHEMA,
        "scale": asdict(scale),
        "sized_for": asdict(s) | {"growth": scale.growth},
        "assumptions": asdict(a),
        "kinesis": kinesis,
        "lambda": lam,
        "dynamodb": _dynamodb(s, a),
        "redis": _redis(s, a, kinesis["burst"]["records_per_s"]),
        "postgresql": _postgresql(s, a, lam["ingest"]["concurrency"]),
    }
    out["cost"] = _cost(s, a, out)
    out["notes"] = _notes(out, a)
    return out


def _n(x: float, digits: int = 0) -> str:
    return f"{x:,.{digits}f}"


def format_table(p: dict[str, Any]) -> str:
    """The plan as a fixed-width table, each figure beside how it was reached."""
    k, lam, ddb, r, pg, c = p["kinesis"], p["lambda"], p["dynamodb"], p["redis"], p["postgresql"], p["cost"]
    ks, kb, api, ing = k["sustained"], k["burst"], lam["api"], lam["ingest"]
    s = p["sized_for"]
    rows = [
        (
            "sized for",
            f"{_n(s['events_per_s'])} events/s ({_n(s['burst_events_per_s'])} burst), "
            f"{_n(s['api_requests_per_min'])} req/min ({_n(s['peak_api_requests_per_min'])} peak), growth {p['scale']['growth']:.0%}",
        ),
        ("Kinesis", ""),
        ("  record", f"{k['events_per_record']:g} event(s), {_n(k['record_bytes'])} bytes"),
        (
            "  sustained",
            f"{_n(ks['records_per_s'])} records/s, {_n(ks['bytes_per_s'] / MIB, 2)} MiB/s -> "
            f"{ks['shards_by_records']} by records, {ks['shards_by_bytes']} by bytes, {ks['shards_by_read']} by reads",
        ),
        (
            "  burst",
            f"{_n(kb['records_per_s'])} records/s, {_n(kb['bytes_per_s'] / MIB, 2)} MiB/s -> "
            f"{kb['shards_by_records']} by records, {kb['shards_by_bytes']} by bytes, {kb['shards_by_read']} by reads",
        ),
        (
            "  shards",
            f"{k['shards']} (burst {kb['shards_required']}, limited by {kb['limited_by']}, +{k['headroom']:.0%})",
        ),
        (
            "Lambda api",
            f"{_n(api['requests_per_s'])} req/s ({_n(api['peak_requests_per_s'])} peak) x "
            f"{api['mean_duration_ms']:g} ms = {_n(api['concurrency'], 1)} busy ({_n(api['peak_concurrency'], 1)} peak)",
        ),
        (
            "  provisioned",
            f"{api['provisioned_min']}-{api['provisioned_max']} "
            f"(target utilization {api['provisioned_utilization_target']:.0%})",
        ),
        ("  reserved", f"{api['reserved_concurrency']}"),
        (
            "Lambda ingest",
            f"{ing['invocations_needed']} batches in flight for the burst -> parallelization factor "
            f"{ing['parallelization_factor']}, concurrency {ing['concurrency']}",
        ),
        ("  account", f"{lam['account_concurrency_needed']} concurrency incl. the unreserved 100"),
        (
            "DynamoDB",
            f"{_n(ddb['read_units_per_s'])} RRU/s, {_n(ddb['write_units_per_s'])} WRU/s "
            f"(peak {_n(ddb['peak_read_units_per_s'])} / {_n(ddb['peak_write_units_per_s'])}), on demand",
        ),
        (
            "  per request",
            f"{ddb['read_units_per_read']:g} RRU per list page, {ddb['write_units_per_write']:g} WRU per write",
        ),
        (
            "Redis",
            f"{_n(r['memory_gib'], 2)} GiB, {_n(r['peak_ops_per_s'])} ops/s peak -> {r['shards']} shard(s) "
            f"x {1 + r['replicas_per_shard']} {r['node_type']} = {r['nodes']} nodes",
        ),
        ("PostgreSQL", f"{_n(pg['series'])} series, a reading every {pg['reading_interval_s']:.1f} s"),
        (
            "  per day",
            f"raw {_n(pg['raw_gb_per_day'])} GB (compressed {_n(pg['raw_gb_per_day_compressed'])} GB), "
            f"rollups {_n(pg['rollup_gb_per_day'], 1)} GB",
        ),
        ("  storage", f"{_n(pg['retained_gb'])} GB retained -> {_n(pg['allocated_gb'])} GB allocated"),
        (
            "  writes",
            f"{_n(pg['write_rows_per_s'])} rows/s, {_n(pg['write_mib_per_s'], 1)} MiB/s -> "
            f"{_n(pg['iops_needed'])} IOPS needed, {_n(pg['iops'])} provisioned (baseline {_n(pg['iops_baseline'])})",
        ),
        ("  instances", f"{pg['instance']}{' Multi-AZ' if pg['multi_az'] else ''} + {pg['read_replicas']} replicas"),
        ("cost / month", f"${_n(c['monthly_usd'])} at sustained rates ({c['region']}, on-demand)"),
        *((f"  {name}", f"${_n(usd)}") for name, usd in c["items_usd"].items()),
        (f"prices assumed (read {c['prices_read_on']})", ""),
        *((f"  {name}", _price(value)) for name, value in c["prices"].items()),
    ]
    width = max(len(label) for label, _ in rows)
    lines = [f"{label:<{width}}  {value}".rstrip() for label, value in rows]
    lines += [f"note: {n}" for n in p["notes"]]
    return "\n".join(lines)


def _price(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{name} {_usd(price)}" for name, price in value.items())
    if isinstance(value, list):  # tiers: [up to (None: no limit), USD per million]
        return ", ".join(f"{'beyond' if t is None else f'to {t / 1e6:,.0f}M'} {_usd(c)}" for t, c in value)
    return _usd(value)


def _usd(value: float) -> str:
    return "$" + f"{value:.10f}".rstrip("0").rstrip(".")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One ``--option`` per Scale and Assumptions field, named after it."""
    for group, cls in (("scale (spec §1.2)", Scale), ("assumptions", Assumptions)):
        options = parser.add_argument_group(group)
        defaults = asdict(cls())
        for f in fields(cls):
            kind = {"int": int, "float": float, "str": str, "bool": _boolean}[str(f.type)]
            text = f"{f.metadata['help']} [{defaults[f.name]}]".replace("%", "%%")  # argparse formats help with %
            metavar = {"str": "NAME", "bool": "BOOL"}.get(str(f.type), "N")
            options.add_argument(f"--{f.name.replace('_', '-')}", type=kind, default=None, metavar=metavar, help=text)


def _boolean(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, not {text!r}")


def from_arguments(args: argparse.Namespace) -> tuple[Scale, Assumptions]:
    """Scale and Assumptions with the options given on the command line, defaults for the rest."""

    def given(cls: type) -> dict[str, Any]:
        return {f.name: getattr(args, f.name) for f in fields(cls) if getattr(args, f.name, None) is not None}

    return Scale(**given(Scale)), Assumptions(**given(Assumptions))
