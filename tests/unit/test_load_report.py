"""The load-test arithmetic: scenario scaling and caps, percentiles, thresholds, CPU saturation, host guard."""

from __future__ import annotations

import pytest

from tests.load import report
from tests.load.scenarios import DEFAULT_FACTOR, SCENARIOS, gateways_for, require_loopback, scale

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


def _entry(method: str, name: str, times: dict[int, int], failures: int, per_second: dict[int, int]) -> dict:
    count = sum(times.values())
    return {
        "method": method,
        "name": name,
        "num_requests": count,
        "num_failures": failures,
        "total_response_time": sum(ms * n for ms, n in times.items()),
        "max_response_time": max(times),
        "response_times": {str(k): v for k, v in times.items()},
        "num_reqs_per_sec": {str(k): v for k, v in per_second.items()},
    }


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


def test_thresholds() -> None:
    total = report.summarize_stats(_stats(), ramp_s=10)["total"]
    checks = report.check_thresholds(total)
    assert [c["passed"] for c in checks] == [True, False]  # p95 40 ms; errors 1.18%
    assert [c["passed"] for c in report.check_thresholds(total | {"p95_ms": 500.0})] == [False, False]
    fast = total | {"p95_ms": 120.0, "error_rate": 0.005}
    assert all(c["passed"] for c in report.check_thresholds(fast))
    assert not report.check_thresholds(total | {"requests": 0, "p95_ms": None, "error_rate": 0.0})[0]["passed"]


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


def test_cpu_nothing_saturated_names_the_busiest() -> None:
    cpu = report.summarize_cpu([_sample(START + 20, 0.8, api=0.5, locust=0.2)], steady_from=START, cores=2)
    assert cpu["saturated"] == []
    assert report.saturation_verdict(cpu) == "nothing saturated; busiest in the test: api at 0.50 cores"


def test_table_lists_endpoints_total_checks_and_cpu() -> None:
    summary = report.summarize_stats(_stats(), ramp_s=10)
    summary["checks"] = report.check_thresholds(summary["total"] | {"p95_ms": 700.0})
    summary["cpu"] = report.summarize_cpu([_sample(START + 15, 1.0, api=0.9)], steady_from=START, cores=2)
    table = report.format_table(summary)
    assert "GET /api/v1/work-orders" in table and "total" in table
    assert "FAIL  p95 < 500 ms" in table and "FAIL  error rate < 1%" in table
    assert "saturated: api (0.90 cores)" in table


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
