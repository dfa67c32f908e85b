"""The load-test summary: percentiles per endpoint, throughput, error rate, thresholds, where CPU ran out.

Input is what the locustfile exports at the end of a run (per endpoint: request and failure counts, the
response-time histogram Locust keeps, requests per second) and the runner's CPU samples. Pure functions,
so the arithmetic is unit-tested without Locust.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from tests.load.scenarios import ERROR_RATE_LIMIT, P95_LIMIT_MS

TOTAL = "total"
SATURATED = 0.9  # share of a core (or of all cores) counted as saturated


def percentile(histogram: Mapping[int, int], q: float) -> float | None:
    """Nearest-rank percentile of a {response ms: count} histogram (Locust keeps response times rounded:
    to 1 ms below 100 ms, to 10 ms below 1 s, to 100 ms above)."""
    total = sum(histogram.values())
    if total == 0:
        return None
    rank = max(1, -(-total * q // 1))  # ceil(total * q), at least the first
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen >= rank:
            return float(value)
    return float(max(histogram))


def _histogram(raw: Mapping[Any, int]) -> Counter[int]:
    return Counter({int(k): int(v) for k, v in raw.items()})


def _per_second(raw: Mapping[Any, int]) -> Counter[int]:
    return Counter({int(float(k)): int(v) for k, v in raw.items()})


def endpoint_summary(
    name: str,
    requests: int,
    failures: int,
    histogram: Mapping[int, int],
    per_second: Mapping[int, int],
    elapsed_s: float,
    steady_from: float,
    total_ms: float,
    max_ms: float,
) -> dict[str, Any]:
    """One row of the report. ``steady_rps`` counts only the seconds after the ramp-up."""
    steady = [count for second, count in per_second.items() if second >= steady_from]
    last = max(per_second, default=steady_from)
    steady_seconds = max(1.0, last - steady_from + 1) if steady else 0.0
    return {
        "name": name,
        "requests": requests,
        "failures": failures,
        "error_rate": failures / requests if requests else 0.0,
        "rps": requests / elapsed_s if elapsed_s > 0 else 0.0,
        "ok_rps": (requests - failures) / elapsed_s if elapsed_s > 0 else 0.0,  # what was served, not offered
        "steady_rps": sum(steady) / steady_seconds if steady_seconds else 0.0,
        "p50_ms": percentile(histogram, 0.50),
        "p95_ms": percentile(histogram, 0.95),
        "p99_ms": percentile(histogram, 0.99),
        "avg_ms": total_ms / requests if requests else None,
        "max_ms": max_ms if requests else None,
    }


def summarize_stats(stats: Mapping[str, Any], ramp_s: float) -> dict[str, Any]:
    """Rows per endpoint (named 'METHOD template') and the total, from the locustfile's export."""
    start, end = float(stats["start_time"]), float(stats["end_time"])
    elapsed = max(0.0, end - start)
    steady_from = start + ramp_s
    rows = []
    all_hist: Counter[int] = Counter()
    all_seconds: Counter[int] = Counter()
    requests = failures = 0
    total_ms = max_ms = 0.0
    for e in sorted(stats["entries"], key=lambda e: (e["name"], e["method"])):
        hist, seconds = _histogram(e["response_times"]), _per_second(e["num_reqs_per_sec"])
        name = e["name"] if e["name"].startswith(e["method"] + " ") else f"{e['method']} {e['name']}"
        rows.append(
            endpoint_summary(
                name,
                e["num_requests"],
                e["num_failures"],
                hist,
                seconds,
                elapsed,
                steady_from,
                e["total_response_time"],
                e["max_response_time"],
            )
        )
        all_hist.update(hist)
        all_seconds.update(seconds)
        requests += e["num_requests"]
        failures += e["num_failures"]
        total_ms += e["total_response_time"]
        max_ms = max(max_ms, e["max_response_time"])
    total = endpoint_summary(TOTAL, requests, failures, all_hist, all_seconds, elapsed, steady_from, total_ms, max_ms)
    return {"elapsed_s": elapsed, "endpoints": rows, "total": total, "errors": list(stats.get("errors", []))}


def check_thresholds(total: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The spec's k6 thresholds on all requests together: p95 < 500 ms, error rate < 1%."""
    p95, rate = total["p95_ms"], total["error_rate"]
    return [
        {
            "name": f"p95 < {P95_LIMIT_MS:.0f} ms",
            "value": p95,
            "limit": P95_LIMIT_MS,
            "passed": p95 is not None and p95 < P95_LIMIT_MS,
        },
        {
            "name": f"error rate < {ERROR_RATE_LIMIT:.0%}",
            "value": rate,
            "limit": ERROR_RATE_LIMIT,
            "passed": total["requests"] > 0 and rate < ERROR_RATE_LIMIT,
        },
    ]


def summarize_cpu(samples: Iterable[Mapping[str, Any]], steady_from: float, cores: int) -> dict[str, Any]:
    """Mean and max CPU (in cores) per process group over the steady part of the run, and what saturated.

    A group is saturated at 0.9 of a core (every group here is one Python or server process, or a
    single-threaded one such as Redis); the machine at 0.9 of all its cores.
    """
    steady = [s for s in samples if s["t"] >= steady_from]
    groups = sorted({name for s in steady for name in s["cores"]})
    out: dict[str, Any] = {"cores": cores, "samples": len(steady), "groups": {}}
    for name in groups:
        values = [s["cores"].get(name, 0.0) for s in steady]
        out["groups"][name] = {"mean": sum(values) / len(values), "max": max(values)}
    system = [s["system"] for s in steady]
    out["system"] = {"mean": sum(system) / len(system), "max": max(system)} if system else None
    ours = sum(g["mean"] for g in out["groups"].values())
    out["other_mean"] = max(0.0, out["system"]["mean"] - ours) if system else None
    saturated = [name for name, g in out["groups"].items() if g["mean"] >= SATURATED]
    if system and out["system"]["mean"] >= SATURATED * cores:
        saturated.append("machine")
    out["saturated"] = saturated
    return out


def saturation_verdict(cpu: Mapping[str, Any]) -> str:
    """One sentence on where the machine ran out, for the report and the table."""
    if not cpu.get("samples"):
        return "no CPU samples"
    parts = [f"{name} ({cpu['groups'][name]['mean']:.2f} cores)" for name in cpu["saturated"] if name != "machine"]
    busiest = max(cpu["groups"].items(), key=lambda kv: kv[1]["mean"], default=None)
    if "machine" in cpu["saturated"]:
        parts.append(
            f"the machine ({cpu['system']['mean']:.2f} of {cpu['cores']} cores busy, "
            f"{cpu['other_mean']:.2f} of them outside the test)"
        )
    verdict = "saturated: " + ", ".join(parts) if parts else "nothing saturated"
    if busiest is not None and busiest[0] not in cpu["saturated"]:
        verdict += f"; busiest in the test: {busiest[0]} at {busiest[1]['mean']:.2f} cores"
    return verdict


MetricKey = tuple[str, frozenset[tuple[str, str]]]
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text: str) -> dict[MetricKey, float]:
    """Samples of a Prometheus text exposition: (name, labels) -> value."""
    out: dict[MetricKey, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        name, _, labels = head.partition("{")
        try:
            out[(name, frozenset(_LABEL.findall(labels)))] = float(value)
        except ValueError:
            continue
    return out


def _delta(before: Mapping[MetricKey, float], after: Mapping[MetricKey, float], name: str) -> dict[frozenset, float]:
    return {labels: v - before.get((n, labels), 0.0) for (n, labels), v in after.items() if n == name}


def _counter(before: Mapping[MetricKey, float], after: Mapping[MetricKey, float], name: str) -> dict[frozenset, float]:
    """A counter's deltas whether or not the exposition added the ``_total`` suffix."""
    return _delta(before, after, name) | _delta(before, after, name + "_total")


_EXCEPTION = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Timeout)):\s*(.*)$")


def exception_counts(log_lines: Iterable[str], top: int = 10) -> list[dict[str, Any]]:
    """The exceptions a server log reports most (the last line of each traceback), for the summary."""
    counts: Counter[str] = Counter()
    for line in log_lines:
        match = _EXCEPTION.match(line)
        if match:
            counts[f"{match.group(1)}: {match.group(2)[:160]}"] += 1
    return [{"exception": text, "count": n} for text, n in counts.most_common(top)]


def server_breakdown(before: Mapping[MetricKey, float], after: Mapping[MetricKey, float]) -> dict[str, Any]:
    """What the API process measured during the run (its ``/metrics``): time in requests, time waiting on
    each store (DynamoDB, Redis, PostgreSQL; the Kinesis poller's ingest calls included) and cache hits."""
    requests = {
        dict(labels).get("route"): v
        for labels, v in _delta(before, after, "http_request_duration_seconds_sum").items()
        if dict(labels).get("route", "").startswith("/api/")
    }
    counts = _delta(before, after, "http_request_duration_seconds_count")
    request_count = sum(v for labels, v in counts.items() if dict(labels).get("route", "").startswith("/api/"))
    request_s = sum(requests.values())
    stores: dict[str, dict[str, float]] = {}
    sums = _delta(before, after, "database_query_duration_seconds_sum")
    for labels, calls in _delta(before, after, "database_query_duration_seconds_count").items():
        system = dict(labels).get("system", "?")
        entry = stores.setdefault(system, {"calls": 0.0, "seconds": 0.0})
        entry["calls"] += calls
        entry["seconds"] += sums.get(labels, 0.0)
    for entry in stores.values():
        entry["mean_ms"] = 1000 * entry["seconds"] / entry["calls"] if entry["calls"] else 0.0
    hits, misses = _counter(before, after, "cache_hits"), _counter(before, after, "cache_misses")
    cache = {}
    for labels in sorted(set(hits) | set(misses), key=sorted):
        h, m = hits.get(labels, 0.0), misses.get(labels, 0.0)
        cache[dict(labels).get("keyspace", "?")] = {"hits": h, "misses": m, "hit_rate": h / (h + m) if h + m else None}
    return {
        "api_requests": request_count,
        "api_request_seconds": request_s,
        "mean_request_ms": 1000 * request_s / request_count if request_count else None,
        "stores": stores,
        "cache": cache,
    }


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def format_table(summary: Mapping[str, Any]) -> str:
    """The endpoint table, the checks, and the CPU line, as printed at the end of a run."""
    header = (
        f"{'endpoint':<32} {'requests':>9} {'errors':>7} {'req/s':>7} {'ok/s':>6} "
        f"{'p50':>6} {'p95':>6} {'p99':>6} {'max':>7}"
    )
    lines = [header, "-" * len(header)]
    for row in [*summary["endpoints"], summary["total"]]:
        lines.append(
            f"{row['name']:<32} {row['requests']:>9,} {row['error_rate']:>7.2%} {row['steady_rps']:>7.1f} "
            f"{row['ok_rps']:>6.1f} "
            f"{_ms(row['p50_ms']):>6} {_ms(row['p95_ms']):>6} {_ms(row['p99_ms']):>6} {_ms(row['max_ms']):>7}"
        )
    lines.append("(times in ms; req/s after the ramp-up; ok/s: successful requests per second over the run)")
    for check in summary["checks"]:
        lines.append(f"{'PASS' if check['passed'] else 'FAIL'}  {check['name']}")
    cpu = summary.get("cpu")
    if cpu and cpu.get("samples"):
        groups = ", ".join(f"{name} {g['mean']:.2f}" for name, g in cpu["groups"].items())
        lines.append(f"CPU (cores, mean after ramp-up): {groups}; machine {cpu['system']['mean']:.2f}/{cpu['cores']}")
        lines.append(saturation_verdict(cpu))
    server = summary.get("server")
    if server and server.get("api_requests"):
        stores = ", ".join(
            f"{name} {s['calls']:,.0f} calls ({s['mean_ms']:.1f} ms mean, {s['seconds']:,.1f} s)"
            for name, s in sorted(server["stores"].items())
        )
        lines.append(f"server: {server['mean_request_ms']:.1f} ms mean per API request (its own timing)")
        lines.append(f"store calls from the API process (requests and the Kinesis poller): {stores}")
        rates = ", ".join(
            f"{name} {c['hit_rate']:.0%}" for name, c in server["cache"].items() if c["hit_rate"] is not None
        )
        lines.append(f"cache hit rate: {rates}")
    return "\n".join(lines)
