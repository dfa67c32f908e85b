"""The load-test arithmetic: scenario scaling and caps, percentiles, read/write groups and thresholds, CPU
saturation, requests/s per core against the floor, host guard."""

from __future__ import annotations

import pytest

from tests.load import report
from tests.load.scenarios import (
    DEFAULT_FACTOR,
    ERROR_RATE_LIMIT,
    READ_P95_LIMIT_MS,
    SCENARIOS,
    WRITE_P95_LIMIT_MS,
    gateways_for,
    require_loopback,
    scale,
)

START = 1_800_000_000.0


def test_baseline_at_the_default_factor() -> None:
    # spec: 1,000 users, ramp-up 5 min, 30 min -> x 0.05: 50 users, 15 s, 90 s
    run = scale(SCENARIOS["baseline"], 0.05)
    assert (run.users, run.ramp_s, run.duration_s, run.run_time_s) == (50, 15, 90, 105)
    assert run.spawn_rate == pytest.approx(50 / 15)
    assert run.capped == ()


def test_the_default_factor_keeps_make_load_short() -> None:
    # 0.02: baseline is 20 users, 6 s of ramp-up and 36 s; peak 100 users for 2 + 30 s (the minimum)
    baseline, peak = scale(SCENARIOS["baseline"], DEFAULT_FACTOR), scale(SCENARIOS["peak"], DEFAULT_FACTOR)
    assert (baseline.users, baseline.ramp_s, baseline.duration_s) == (20, 6, 36)
    assert (peak.users, peak.ramp_s, peak.duration_s) == (100, 2, 30)


def test_peak_stress_endurance_scale_alike() -> None:
    assert (scale(SCENARIOS["peak"], 0.05).users, scale(SCENARIOS["peak"], 0.05).run_time_s) == (250, 6 + 45)
    assert scale(SCENARIOS["stress"], 0.05).users == 500
    endurance = scale(SCENARIOS["endurance"], 0.05)
    assert (endurance.users, endurance.duration_s) == (100, 720)


def test_caps_bound_any_factor() -> None:
    # given the full-size stress test: 10,000 users for 11 minutes
    run = scale(SCENARIOS["stress"], 1.0, max_users=1_000, max_run_s=3_600)
    assert run.users == 1_000
    assert run.capped == ("users 10000 -> 1000",)
    # and the full endurance test, 2,000 users for 4 h 5 min, is cut to both caps
    run = scale(SCENARIOS["endurance"], 1.0, max_users=1_000, max_run_s=3_600)
    assert (run.users, run.run_time_s) == (1_000, 3_600)
    assert run.capped == ("users 2000 -> 1000", "run time 14700 s -> 3600 s")


def test_tiny_factors_still_make_a_measurable_run() -> None:
    run = scale(SCENARIOS["stress"], 0.0001)
    assert (run.users, run.ramp_s, run.duration_s) == (1, 1, 30)


@pytest.mark.parametrize("factor", [0, -0.1, 1.5])
def test_factor_out_of_range_is_refused(factor: float) -> None:
    with pytest.raises(ValueError, match="factor"):
        scale(SCENARIOS["baseline"], factor)


@pytest.mark.parametrize(
    "url", ["http://10.0.0.5:8000", "http://localhost:8000", "https://127.0.0.1:8000", "http://127.0.0.2", ""]
)
def test_only_127_0_0_1_is_a_target(url: str) -> None:
    with pytest.raises(ValueError, match="127.0.0.1"):
        require_loopback(url)


def test_loopback_is_accepted() -> None:
    assert require_loopback("http://127.0.0.1:41234") == "http://127.0.0.1:41234"


def test_gateways() -> None:
    assert gateways_for(50, 0.04) == 2
    assert gateways_for(10, 0.04) == 1  # at least one
    assert gateways_for(1, 0.04) == 0  # the only user stays an API user
    assert gateways_for(250, 0) == 0


def test_percentile_is_nearest_rank_over_the_histogram() -> None:
    # 100 requests: 90 at 10 ms, 5 at 200 ms, 4 at 600 ms, 1 at 2,000 ms
    histogram = {10: 90, 200: 5, 600: 4, 2000: 1}
    assert report.percentile(histogram, 0.50) == 10
    assert report.percentile(histogram, 0.90) == 10
    assert report.percentile(histogram, 0.95) == 200  # the 95th request
    assert report.percentile(histogram, 0.96) == 600
    assert report.percentile(histogram, 0.99) == 600
    assert report.percentile(histogram, 1.0) == 2000
    assert report.percentile({}, 0.5) is None


def _entry(
    method: str,
    name: str,
    times: dict[int, int],
    failures: int,
    per_second: dict[int, int],
    failures_per_second: dict[int, int] | None = None,
    content_length: int | None = None,
) -> dict:
    count = sum(times.values())
    entry = {
        "method": method,
        "name": name,
        "num_requests": count,
        "num_failures": failures,
        "total_response_time": sum(ms * n for ms, n in times.items()),
        "max_response_time": max(times),
        "response_times": {str(k): v for k, v in times.items()},
        "num_reqs_per_sec": {str(k): v for k, v in per_second.items()},
    }
    if failures_per_second is not None:
        entry["num_fail_per_sec"] = {str(k): v for k, v in failures_per_second.items()}
    if content_length is not None:
        entry["total_content_length"] = content_length
    return entry


def _stats() -> dict:
    # a 20-s run with a 10-s ramp: GETs 10/s after the ramp, POSTs 1/s throughout
    gets = {int(START) + s: (5 if s < 10 else 10) for s in range(20)}
    posts = {int(START) + s: 1 for s in range(20)}
    return {
        "start_time": START,
        "end_time": START + 20,
        "entries": [
            _entry("GET", "GET /api/v1/work-orders", {8: 140, 30: 5, 700: 5}, 0, gets),
            _entry("POST", "POST /api/v1/work-orders", {40: 18, 900: 2}, 2, posts),
        ],
        "errors": [{"method": "POST", "name": "POST /api/v1/work-orders", "error": "HTTP 500", "occurrences": 2}],
    }


def test_summary_per_endpoint_and_total() -> None:
    summary = report.summarize_stats(_stats(), ramp_s=10)
    gets, posts = summary["endpoints"]
    assert gets["name"] == "GET /api/v1/work-orders"
    assert (gets["requests"], gets["p50_ms"], gets["p95_ms"], gets["p99_ms"]) == (150, 8, 30, 700)
    assert gets["rps"] == pytest.approx(150 / 20)
    assert gets["steady_rps"] == pytest.approx(10)  # seconds 10..19 only
    assert posts["error_rate"] == pytest.approx(0.1)
    assert posts["ok_rps"] == pytest.approx(18 / 20)
    total = summary["total"]
    assert (total["requests"], total["failures"]) == (170, 2)
    assert total["error_rate"] == pytest.approx(2 / 170)
    assert total["steady_rps"] == pytest.approx(11)
    # 170 requests: ranks 1-140 at 8 ms, 141-145 at 30, 146-163 at 40, 164-168 at 700, 169-170 at 900
    # p95 is rank ceil(161.5) = 162 -> 40 ms; p99 rank 169 -> 900 ms
    assert (total["p50_ms"], total["p95_ms"], total["p99_ms"]) == (8, 40, 900)
    assert total["max_ms"] == 900
    assert total["avg_ms"] == pytest.approx((8 * 140 + 30 * 5 + 700 * 5 + 40 * 18 + 900 * 2) / 170)


def _mixed_stats(
    work_orders: dict[int, int] | None = None,
    ingest: dict[int, int] | None = None,
    ingest_failures: int = 0,
) -> dict:
    """Two read endpoints and two write endpoints (one of them telemetry ingest) over a 20-s run."""
    per_second = {int(START) + s: 1 for s in range(20)}
    return {
        "start_time": START,
        "end_time": START + 20,
        "entries": [
            _entry("GET", "GET /api/v1/work-orders", work_orders or {10: 90, 300: 10}, 0, per_second),
            _entry("GET", "GET /api/v1/assets", {10: 100}, 0, per_second),
            _entry("POST", "POST /api/v1/work-orders", {100: 20}, 0, per_second),
            _entry("POST", "POST /api/v1/telemetry/ingest", ingest or {50: 18, 600: 2}, ingest_failures, per_second),
        ],
        "errors": [],
    }


def test_reads_and_writes_are_groups_of_merged_histograms() -> None:
    summary = report.summarize_stats(_mixed_stats(), ramp_s=10)
    by_name = {row["name"]: row for row in summary["endpoints"]}
    reads, writes, total = summary["reads"], summary["writes"], summary["total"]
    # a group row has an endpoint row's shape
    assert set(reads) == set(writes) == set(total) == set(by_name["GET /api/v1/assets"])
    assert (reads["name"], writes["name"]) == ("reads", "writes")
    assert (
        reads["requests"] == by_name["GET /api/v1/work-orders"]["requests"] + by_name["GET /api/v1/assets"]["requests"]
    )
    assert writes["requests"] + reads["requests"] == total["requests"]
    # work-order lists alone: p95 300 ms; with the assets' 100 fast ones, rank 190 of 200 is 10 ms: the
    # group's p95 comes from the merged histogram, not from its slowest endpoint
    assert by_name["GET /api/v1/work-orders"]["p95_ms"] == 300
    assert reads["p95_ms"] == 10
    assert reads["p99_ms"] == 300 and reads["max_ms"] == 300
    # writes: ingest alone has p95 600 ms; merged with the 20 work-order posts, rank 38 of 40 is 100 ms
    assert by_name["POST /api/v1/telemetry/ingest"]["p95_ms"] == 600
    assert writes["p95_ms"] == 100
    assert writes["steady_rps"] == pytest.approx(2)  # two write endpoints at 1/s each after the ramp


def _check(summary: dict) -> dict[str, bool]:
    return {c["name"]: c["passed"] for c in report.check_thresholds(summary)}


READS_CHECK = "reads p95 < 200 ms"
WRITES_CHECK = "writes p95 < 500 ms"
ERRORS_CHECK = "error rate < 0.1%"


def test_the_three_checks_and_their_limits() -> None:
    checks = report.check_thresholds(report.summarize_stats(_mixed_stats(), ramp_s=10))
    assert [c["name"] for c in checks] == [READS_CHECK, WRITES_CHECK, ERRORS_CHECK]
    assert [c["limit"] for c in checks] == [READ_P95_LIMIT_MS, WRITE_P95_LIMIT_MS, ERROR_RATE_LIMIT]
    assert report.threshold_limits() == {
        "reads_p95_ms": READ_P95_LIMIT_MS,
        "writes_p95_ms": WRITE_P95_LIMIT_MS,
        "error_rate": ERROR_RATE_LIMIT,
    }
    assert all(c["passed"] for c in checks)  # reads p95 10 ms, writes 100 ms, no errors


@pytest.mark.parametrize(("read_ms", "passed"), [(190, True), (200, False), (700, False)])
def test_the_reads_check_alone_follows_the_reads_p95(read_ms: int, passed: bool) -> None:
    # given work-order lists slow enough to carry the reads' p95: 20 of 200 reads at read_ms
    checks = _check(report.summarize_stats(_mixed_stats(work_orders={10: 80, read_ms: 20}), ramp_s=10))
    assert checks == {READS_CHECK: passed, WRITES_CHECK: True, ERRORS_CHECK: True}


@pytest.mark.parametrize(("ingest_ms", "passed"), [(490, True), (500, False), (900, False)])
def test_the_writes_check_counts_telemetry_ingest(ingest_ms: int, passed: bool) -> None:
    # given slow ingest posts: 4 of the 40 writes, enough to carry the writes' p95
    checks = _check(report.summarize_stats(_mixed_stats(ingest={50: 16, ingest_ms: 4}), ramp_s=10))
    assert checks == {READS_CHECK: True, WRITES_CHECK: passed, ERRORS_CHECK: True}


def test_slow_reads_do_not_fail_the_writes_check() -> None:
    # 500-ms reads would pass the writes' limit: each group is judged by its own
    checks = _check(report.summarize_stats(_mixed_stats(work_orders={10: 80, 480: 20}), ramp_s=10))
    assert checks == {READS_CHECK: False, WRITES_CHECK: True, ERRORS_CHECK: True}


@pytest.mark.parametrize(("failures", "passed"), [(0, True), (1, True), (2, False)])
def test_the_error_rate_check_is_over_all_requests(failures: int, passed: bool) -> None:
    # 1,240 requests: 1 failure is 0.08%, 2 are 0.16% -- the limit is 0.1%
    stats = _mixed_stats(work_orders={10: 1_100}, ingest_failures=failures)
    summary = report.summarize_stats(stats, ramp_s=10)
    assert summary["total"]["requests"] == 1_240
    assert _check(summary) == {READS_CHECK: True, WRITES_CHECK: True, ERRORS_CHECK: passed}


def test_a_group_without_requests_does_not_pass() -> None:
    # a run with reads only: nothing shows the writes' latency
    stats = _mixed_stats()
    stats["entries"] = [e for e in stats["entries"] if e["method"] == "GET"]
    summary = report.summarize_stats(stats, ramp_s=10)
    assert summary["writes"]["requests"] == 0 and summary["writes"]["p95_ms"] is None
    assert _check(summary) == {READS_CHECK: True, WRITES_CHECK: False, ERRORS_CHECK: True}
    empty = report.summarize_stats({"start_time": START, "end_time": START + 20, "entries": []}, ramp_s=10)
    assert not any(_check(empty).values())


def test_steady_ok_rps_leaves_out_the_failures_after_the_ramp() -> None:
    # 10 requests/s for 20 s; 3 failures per second, only during the ramp-up, then 1 per second
    seconds = {int(START) + s: 10 for s in range(20)}
    failed = {int(START) + s: (3 if s < 10 else 1) for s in range(20)}
    stats = {
        "start_time": START,
        "end_time": START + 20,
        "entries": [_entry("GET", "GET /api/v1/alerts", {10: 200}, 40, seconds, failed)],
    }
    summary = report.summarize_stats(stats, ramp_s=10)
    for row in (summary["endpoints"][0], summary["reads"], summary["total"]):
        assert row["steady_rps"] == pytest.approx(10)
        assert row["steady_ok_rps"] == pytest.approx(9)
    # an export without failures per second counts every steady request as served
    stats["entries"][0].pop("num_fail_per_sec")
    assert report.summarize_stats(stats, ramp_s=10)["total"]["steady_ok_rps"] == pytest.approx(10)


def test_mean_content_length_of_one_method() -> None:
    per_second = {int(START): 1}
    stats = {
        "entries": [
            _entry("GET", "GET /a", {10: 3}, 0, per_second, content_length=3_000),
            _entry("GET", "GET /b", {10: 1}, 0, per_second, content_length=5_000),
            _entry("POST", "POST /a", {10: 1}, 0, per_second, content_length=100_000),
        ]
    }
    assert report.mean_content_length(stats, "GET") == pytest.approx(8_000 / 4)
    assert report.mean_content_length(stats, "DELETE") is None
    stats["entries"][0].pop("total_content_length")  # an older export
    assert report.mean_content_length(stats, "GET") is None


def _sample(t: float, system: float, **cores: float) -> dict:
    return {"t": t, "cores": cores, "system": system}


def test_cpu_saturation_counts_only_the_steady_part() -> None:
    samples = [
        _sample(START + 1, 0.5, api=0.3, locust=0.1),  # ramp-up: ignored
        _sample(START + 11, 1.9, api=0.98, locust=0.5, postgres=0.1),
        _sample(START + 12, 1.96, api=0.96, locust=0.6, postgres=0.1),
    ]
    cpu = report.summarize_cpu(samples, steady_from=START + 10, cores=2)
    assert cpu["samples"] == 2
    assert cpu["groups"]["api"]["mean"] == pytest.approx(0.97)
    assert cpu["groups"]["locust"]["max"] == pytest.approx(0.6)
    assert cpu["saturated"] == ["api", "machine"]
    assert cpu["other_mean"] == pytest.approx(1.93 - 0.97 - 0.55 - 0.1)
    assert report.saturation_verdict(cpu) == (
        "saturated: api (0.97 cores), the machine (1.93 of 2 cores busy, 0.31 of them outside the test)"
    )
    # the machine full of someone else's work: the verdict says so, and names the test's busiest process
    busy = report.summarize_cpu([_sample(START + 20, 1.95, moto=0.75, api=0.15)], steady_from=START, cores=2)
    assert report.saturation_verdict(busy) == (
        "saturated: the machine (1.95 of 2 cores busy, 1.05 of them outside the test); "
        "busiest in the test: moto at 0.75 cores"
    )


def test_a_process_busy_in_a_quarter_of_the_seconds_is_saturated_whatever_its_mean() -> None:
    # a GIL-bound API: a full core in 3 of 8 seconds, waiting on I/O in the others
    values = [0.95, 0.4, 0.97, 0.5, 0.45, 0.92, 0.5, 0.5]
    samples = [_sample(START + 11 + n, v + 0.3, api=v, locust=0.1) for n, v in enumerate(values)]
    cpu = report.summarize_cpu(samples, steady_from=START + 10, cores=2)
    assert cpu["groups"]["api"]["mean"] == pytest.approx(sum(values) / 8)
    assert cpu["groups"]["api"]["busy_share"] == pytest.approx(3 / 8)
    assert cpu["saturated"] == ["api"]
    assert report.saturation_verdict(cpu) == "saturated: api (0.65 cores mean, at a full core in 38% of the seconds)"
    # in fewer than a quarter of the seconds: not saturated
    calm = report.summarize_cpu(samples[1:5] + samples[6:], steady_from=START + 10, cores=2)
    assert calm["saturated"] == []


def test_cpu_nothing_saturated_names_the_busiest() -> None:
    cpu = report.summarize_cpu([_sample(START + 20, 0.8, api=0.5, locust=0.2)], steady_from=START, cores=2)
    assert cpu["saturated"] == []
    assert report.saturation_verdict(cpu) == "nothing saturated; busiest in the test: api at 0.50 cores"


def test_table_lists_endpoints_groups_checks_cpu_and_the_floor() -> None:
    summary = report.summarize_stats(_mixed_stats(work_orders={10: 80, 700: 20}), ramp_s=10)
    summary["checks"] = report.check_thresholds(summary)
    summary["cpu"] = report.summarize_cpu([_sample(START + 15, 1.0, api=0.9)], steady_from=START, cores=2)
    summary["rps_per_core"] = report.floor_comparison(report.per_core(45.0, 0.18), report.per_core(19.5, 0.01))
    table = report.format_table(summary).splitlines()
    legend = next(n for n, line in enumerate(table) if line.startswith("(times in ms"))
    names = [line.split()[0] for line in table[2:legend]]
    # the four endpoints, a rule, then the groups beside the total
    assert names[:4] == ["GET", "GET", "POST", "POST"]
    assert names[4].startswith("---") and names[5:] == ["reads", "writes", "total"]
    assert "FAIL  reads p95 < 200 ms (700 ms)" in table
    assert "PASS  writes p95 < 500 ms (100 ms)" in table
    assert "PASS  error rate < 0.1% (0.00%)" in table
    assert "saturated: api (0.90 cores)" in table
    assert (
        "API 250 req/s per core; floor (minimal FastAPI app, same server settings) 1,950 req/s per core; ratio 0.13"
        in table
    )


def test_per_core_is_successful_requests_over_mean_cores() -> None:
    assert report.per_core(50.0, 0.2)["rps_per_core"] == pytest.approx(250)
    # nothing to divide by, or nothing served: no figure rather than infinity or zero
    assert report.per_core(50.0, 0.0)["rps_per_core"] is None
    assert report.per_core(50.0, None)["rps_per_core"] is None
    assert report.per_core(0.0, 0.2)["rps_per_core"] is None


def test_floor_ratio_is_the_api_per_core_over_the_floor_per_core() -> None:
    api, floor = report.per_core(48.0, 0.2), report.per_core(20.0, 0.01)  # 240 and 2,000 req/s per core
    comparison = report.floor_comparison(api, floor)
    assert comparison["ratio"] == pytest.approx(240 / 2_000)
    # a slower API lowers the ratio; an API as cheap per request as the floor is 1
    assert report.floor_comparison(report.per_core(48.0, 0.4), floor)["ratio"] == pytest.approx(0.06)
    assert report.floor_comparison(report.per_core(48.0, 0.024), floor)["ratio"] == pytest.approx(1)
    # no floor phase, or a floor without a figure: no ratio, and the line says why
    skipped = report.floor_comparison(api, None)
    assert skipped["ratio"] is None
    assert report.floor_line(skipped, "--no-floor") == "API 240 req/s per core; floor not measured (--no-floor)"
    unmeasured = report.floor_comparison(api, report.per_core(20.0, 0.0))
    assert unmeasured["ratio"] is None
    assert report.floor_line(unmeasured).endswith("ratio -")


def test_cpu_until_leaves_out_the_samples_after_the_last_request() -> None:
    samples = [_sample(START + t, 0.5, api=0.4) for t in range(11, 21)] + [_sample(START + 21, 0.1, api=0.0)]
    assert report.summarize_cpu(samples, START + 10, 2)["groups"]["api"]["mean"] < 0.4
    cpu = report.summarize_cpu(samples, START + 10, 2, until=START + 20)
    assert cpu["samples"] == 10
    assert cpu["groups"]["api"]["mean"] == pytest.approx(0.4)


METRICS_BEFORE = """# HELP http_request_duration_seconds Duration
http_request_duration_seconds_sum{method="GET",route="/api/v1/work-orders",status_code="200"} 1.0
http_request_duration_seconds_count{method="GET",route="/api/v1/work-orders",status_code="200"} 10.0
database_query_duration_seconds_sum{query_type="Query",system="dynamodb"} 0.5
database_query_duration_seconds_count{query_type="Query",system="dynamodb"} 5.0
cache_hits_total{keyspace="wo-list"} 4.0
cache_misses_total{keyspace="wo-list"} 6.0
"""
METRICS_AFTER = """http_request_duration_seconds_sum{method="GET",route="/api/v1/work-orders",status_code="200"} 11.0
http_request_duration_seconds_count{method="GET",route="/api/v1/work-orders",status_code="200"} 110.0
http_request_duration_seconds_sum{method="GET",route="/health",status_code="200"} 3.0
http_request_duration_seconds_count{method="GET",route="/health",status_code="200"} 3.0
database_query_duration_seconds_sum{query_type="Query",system="dynamodb"} 6.5
database_query_duration_seconds_count{query_type="Query",system="dynamodb"} 45.0
database_query_duration_seconds_sum{query_type="evalsha",system="redis"} 0.2
database_query_duration_seconds_count{query_type="evalsha",system="redis"} 100.0
cache_hits_total{keyspace="wo-list"} 64.0
cache_misses_total{keyspace="wo-list"} 46.0
"""


def test_server_breakdown_is_the_difference_over_the_run() -> None:
    # given /metrics before and after: 100 API requests took 10 s; 40 DynamoDB calls took 6 s
    server = report.server_breakdown(report.parse_metrics(METRICS_BEFORE), report.parse_metrics(METRICS_AFTER))
    assert server["api_requests"] == 100  # /health is not an API request
    assert server["mean_request_ms"] == pytest.approx(100)
    dynamodb = server["stores"]["dynamodb"]
    assert (dynamodb["calls"], dynamodb["seconds"], dynamodb["mean_ms"]) == (40, 6, 150)
    assert server["stores"]["redis"]["mean_ms"] == pytest.approx(2)
    # 60 hits and 40 misses during the run
    assert server["cache"]["wo-list"]["hit_rate"] == pytest.approx(0.6)


def test_parse_metrics_keeps_labels_and_skips_comments() -> None:
    parsed = report.parse_metrics(METRICS_BEFORE)
    assert parsed[("cache_hits_total", frozenset({("keyspace", "wo-list")}))] == 4
    assert len(parsed) == 6


def test_exception_counts_take_the_last_line_of_each_traceback() -> None:
    log = [
        "Traceback (most recent call last):",
        '  File "x.py", line 1, in <module>',
        "botocore.exceptions.ReadTimeoutError: Read timeout on endpoint URL",
        "pynamodb.exceptions.QueryError: Failed to query items: Read timeout",
        "TimeoutError: timed out",
        "pynamodb.exceptions.QueryError: Failed to query items: Read timeout",
        '{"level":"WARNING","message":"request"}',
    ]
    counts = report.exception_counts(log)
    assert counts[0] == {"exception": "pynamodb.exceptions.QueryError: Failed to query items: Read timeout", "count": 2}
    assert {c["exception"] for c in counts[1:]} == {
        "botocore.exceptions.ReadTimeoutError: Read timeout on endpoint URL",
        "TimeoutError: timed out",
    }
