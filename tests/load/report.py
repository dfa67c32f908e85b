"""The load-test summary: percentiles per endpoint and per group (reads, writes, total), throughput, error
rate, thresholds, where CPU ran out, and requests/s per core against the floor.

Input is what the locustfile exports at the end of a run (per endpoint: request and failure counts, the
response-time histogram Locust keeps, requests and failures per second) and the runner's CPU samples.
Pure functions, so the arithmetic is unit-tested without Locust.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from tests.load.scenarios import ERROR_RATE_LIMIT, READ_P95_LIMIT_MS, WRITE_P95_LIMIT_MS

TOTAL = "total"
READS = "reads"  # every GET endpoint together
WRITES = "writes"  # every other method together (POST, PATCH, DELETE; telemetry ingest included)
SATURATED = 0.9  # share of a core (or of all cores) counted as saturated
# A process is also saturated when it was at SATURATED in at least this share of the seconds: a Python process
# (the API: uvicorn, pollers, scheduler under one GIL) queues requests well before its mean reaches 0.9, its
# I/O waits pulling the mean down while its busy seconds sit at one core.
SATURATED_SECONDS_SHARE = 0.25


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
    failures_per_second: Mapping[int, int] | None = None,
) -> dict[str, Any]:
    """One row of the report. ``steady_rps`` counts only the seconds after the ramp-up, ``steady_ok_rps``
    only the successful requests among them (``failures_per_second``: Locust's failures per second)."""
    steady = [count for second, count in per_second.items() if second >= steady_from]
    steady_failed = [n for second, n in (failures_per_second or {}).items() if second >= steady_from]
    last = max(per_second, default=steady_from)
    steady_seconds = max(1.0, last - steady_from + 1) if steady else 0.0
    steady_rps = sum(steady) / steady_seconds if steady_seconds else 0.0
    return {
        "name": name,
        "requests": requests,
        "failures": failures,
        "error_rate": failures / requests if requests else 0.0,
        "rps": requests / elapsed_s if elapsed_s > 0 else 0.0,
        "ok_rps": (requests - failures) / elapsed_s if elapsed_s > 0 else 0.0,  # what was served, not offered
        "steady_rps": steady_rps,
        "steady_ok_rps": max(0.0, steady_rps - sum(steady_failed) / steady_seconds) if steady_seconds else 0.0,
        "p50_ms": percentile(histogram, 0.50),
        "p95_ms": percentile(histogram, 0.95),
        "p99_ms": percentile(histogram, 0.99),
        "avg_ms": total_ms / requests if requests else None,
        "max_ms": max_ms if requests else None,
    }


class _Group:
    """Requests of several endpoints merged: histograms and per-second counts added, as Locust's total."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.hist: Counter[int] = Counter()
        self.seconds: Counter[int] = Counter()
        self.failed_seconds: Counter[int] = Counter()
        self.requests = self.failures = 0
        self.total_ms = self.max_ms = 0.0

    def add(self, e: Mapping[str, Any], hist: Counter[int], seconds: Counter[int], failed: Counter[int]) -> None:
        self.hist.update(hist)
        self.seconds.update(seconds)
        self.failed_seconds.update(failed)
        self.requests += e["num_requests"]
        self.failures += e["num_failures"]
        self.total_ms += e["total_response_time"]
        self.max_ms = max(self.max_ms, e["max_response_time"])

    def row(self, elapsed: float, steady_from: float) -> dict[str, Any]:
        return endpoint_summary(
            self.name,
            self.requests,
            self.failures,
            self.hist,
            self.seconds,
            elapsed,
            steady_from,
            self.total_ms,
            self.max_ms,
            self.failed_seconds,
        )


def summarize_stats(stats: Mapping[str, Any], ramp_s: float) -> dict[str, Any]:
    """Rows per endpoint (named 'METHOD template'), for the reads (GET), the writes (every other method)
    and the total, from the locustfile's export. A group's percentiles come from its endpoints' merged
    histograms, never from averaging their percentiles."""
    start, end = float(stats["start_time"]), float(stats["end_time"])
    elapsed = max(0.0, end - start)
    steady_from = start + ramp_s
    rows = []
    reads, writes, total = _Group(READS), _Group(WRITES), _Group(TOTAL)
    for e in sorted(stats["entries"], key=lambda e: (e["name"], e["method"])):
        hist, seconds = _histogram(e["response_times"]), _per_second(e["num_reqs_per_sec"])
        failed = _per_second(e.get("num_fail_per_sec", {}))
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
                failed,
            )
        )
        for group in (reads if e["method"].upper() == "GET" else writes, total):
            group.add(e, hist, seconds, failed)
    return {
        "elapsed_s": elapsed,
        "endpoints": rows,
        READS: reads.row(elapsed, steady_from),
        WRITES: writes.row(elapsed, steady_from),
        TOTAL: total.row(elapsed, steady_from),
        "errors": list(stats.get("errors", [])),
    }


def threshold_limits() -> dict[str, float]:
    """The limits the checks apply, for the summary's ``thresholds``."""
    return {
        "reads_p95_ms": READ_P95_LIMIT_MS,
        "writes_p95_ms": WRITE_P95_LIMIT_MS,
        "error_rate": ERROR_RATE_LIMIT,
    }


def _p95_check(row: Mapping[str, Any], limit_ms: float) -> dict[str, Any]:
    p95 = row["p95_ms"]
    return {
        "name": f"{row['name']} p95 < {limit_ms:.0f} ms",
        "value": p95,
        "limit": limit_ms,
        "unit": "ms",
        # a group with no requests has nothing to show: it does not pass
        "passed": row["requests"] > 0 and p95 is not None and p95 < limit_ms,
    }


def check_thresholds(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The three checks on a run's summary (``summarize_stats``): reads p95 < 200 ms, writes p95 < 500 ms,
    error rate < 0.1% over all requests."""
    total = summary[TOTAL]
    rate = total["error_rate"]
    return [
        _p95_check(summary[READS], READ_P95_LIMIT_MS),
        _p95_check(summary[WRITES], WRITE_P95_LIMIT_MS),
        {
            "name": f"error rate < {ERROR_RATE_LIMIT:.1%}",
            "value": rate,
            "limit": ERROR_RATE_LIMIT,
            "unit": "share",
            "passed": total["requests"] > 0 and rate < ERROR_RATE_LIMIT,
        },
    ]


def summarize_cpu(
    samples: Iterable[Mapping[str, Any]], steady_from: float, cores: int, until: float | None = None
) -> dict[str, Any]:
    """Mean and max CPU (in cores) per process group over the steady part of the run (from ``steady_from``,
    until ``until`` if given: the last request, so the shutdown after it does not dilute the means), and
    what saturated.

    A group is saturated at 0.9 of a core mean, or when it was at 0.9 of a core in at least a quarter of the
    seconds (``busy_share``; every group here is one Python or server process, or a single-threaded one such
    as Redis); the machine at 0.9 of all its cores.
    """
    steady = [s for s in samples if s["t"] >= steady_from and (until is None or s["t"] <= until)]
    groups = sorted({name for s in steady for name in s["cores"]})
    out: dict[str, Any] = {"cores": cores, "samples": len(steady), "groups": {}}
    for name in groups:
        values = [s["cores"].get(name, 0.0) for s in steady]
        busy = sum(v >= SATURATED for v in values) / len(values)
        out["groups"][name] = {"mean": sum(values) / len(values), "max": max(values), "busy_share": busy}
    system = [s["system"] for s in steady]
    out["system"] = {"mean": sum(system) / len(system), "max": max(system)} if system else None
    ours = sum(g["mean"] for g in out["groups"].values())
    out["other_mean"] = max(0.0, out["system"]["mean"] - ours) if system else None
    saturated = [
        name
        for name, g in out["groups"].items()
        if g["mean"] >= SATURATED or g["busy_share"] >= SATURATED_SECONDS_SHARE
    ]
    if system and out["system"]["mean"] >= SATURATED * cores:
        saturated.append("machine")
    out["saturated"] = saturated
    return out


def _saturated_group(name: str, group: Mapping[str, Any]) -> str:
    if group["mean"] >= SATURATED:
        return f"{name} ({group['mean']:.2f} cores)"
    return f"{name} ({group['mean']:.2f} cores mean, at a full core in {group['busy_share']:.0%} of the seconds)"


def saturation_verdict(cpu: Mapping[str, Any]) -> str:
    """One sentence on where the machine ran out, for the report and the table."""
    if not cpu.get("samples"):
        return "no CPU samples"
    parts = [_saturated_group(name, cpu["groups"][name]) for name in cpu["saturated"] if name != "machine"]
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


def mean_content_length(stats: Mapping[str, Any], method: str = "GET") -> float | None:
    """Mean bytes received per ``method`` request in the locustfile's export (None without such requests):
    the floor app answers a document of this size, so both servers write as much per response."""
    entries = [e for e in stats["entries"] if e["method"].upper() == method.upper()]
    requests = sum(e["num_requests"] for e in entries)
    if not requests or any("total_content_length" not in e for e in entries):
        return None
    return sum(e["total_content_length"] for e in entries) / requests


def per_core(ok_rps: float, cores: float | None) -> dict[str, Any]:
    """Successful requests/s per core of the serving process: ``ok_rps`` / its mean ``cores``. None where the
    process used no measurable CPU or served nothing."""
    return {
        "ok_rps": ok_rps,
        "cores": cores,
        "rps_per_core": ok_rps / cores if cores and cores > 0 and ok_rps > 0 else None,
    }


def floor_comparison(api: Mapping[str, Any], floor: Mapping[str, Any] | None) -> dict[str, Any]:
    """The API's requests/s per core beside the floor's (``per_core`` rows), and their ratio: the share of
    the bare server stack's throughput per core that the API keeps with its application work."""
    a = api["rps_per_core"]
    f = floor["rps_per_core"] if floor else None
    return {"api": dict(api), "floor": dict(floor) if floor else None, "ratio": a / f if a and f else None}


def floor_line(comparison: Mapping[str, Any], reason: str | None = None) -> str:
    """``API 1,234 req/s per core; floor (...) 5,678 req/s per core; ratio 0.22``, or what is missing."""

    def figure(row: Mapping[str, Any] | None) -> str:
        if not row or row["rps_per_core"] is None:
            return "- (no measurable CPU or no successful requests)"
        return f"{row['rps_per_core']:,.0f} req/s per core"

    api, floor = comparison["api"], comparison.get("floor")
    line = f"API {figure(api)}; "
    if floor is None:
        return line + f"floor not measured ({reason or 'no floor phase'})"
    line += f"floor (minimal FastAPI app, same server settings) {figure(floor)}; "
    ratio = comparison.get("ratio")
    return line + ("ratio -" if ratio is None else f"ratio {ratio:.2f}")


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


def _check_value(check: Mapping[str, Any]) -> str:
    value = check["value"]
    if value is None:
        return " (no requests)"
    if check.get("unit") == "share":
        return f" ({value:.2%})"
    return f" ({value:,.0f} ms)"


def format_table(summary: Mapping[str, Any]) -> str:
    """The endpoint, group (reads, writes) and total rows, the checks with their values, the CPU lines, the
    server's own figures and requests/s per core against the floor, as printed at the end of a run."""
    header = (
        f"{'endpoint':<32} {'requests':>9} {'errors':>7} {'req/s':>7} {'ok/s':>6} "
        f"{'p50':>6} {'p95':>6} {'p99':>6} {'max':>7}"
    )
    lines = [header, "-" * len(header)]
    group_rows = [summary[name] for name in (READS, WRITES) if name in summary]
    for n, row in enumerate([*summary["endpoints"], *group_rows, summary[TOTAL]]):
        if n == len(summary["endpoints"]):
            lines.append("-" * len(header))
        lines.append(
            f"{row['name']:<32} {row['requests']:>9,} {row['error_rate']:>7.2%} {row['steady_rps']:>7.1f} "
            f"{row['ok_rps']:>6.1f} "
            f"{_ms(row['p50_ms']):>6} {_ms(row['p95_ms']):>6} {_ms(row['p99_ms']):>6} {_ms(row['max_ms']):>7}"
        )
    lines.append("(times in ms; req/s after the ramp-up; ok/s: successful requests per second over the run)")
    for check in summary["checks"]:
        lines.append(f"{'PASS' if check['passed'] else 'FAIL'}  {check['name']}{_check_value(check)}")
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
    projection = summary.get("projection")
    if projection and projection.get("batches_sampled"):
        lines.append(
            f"read model: projection lag p50 {projection['lag_p50_s']:.2f} s, p95 {projection['lag_p95_s']:.2f} s, "
            f"max {projection['lag_max_s']:.2f} s ({projection['batches_sampled']} batches sampled, "
            f"{projection['records']:,.0f} stream records projected)"
        )
    per_core_summary = summary.get("rps_per_core")
    if per_core_summary:
        lines.append(floor_line(per_core_summary, per_core_summary.get("floor_skipped")))
        details = [
            f"{label} {row['ok_rps']:,.1f} ok req/s on {row['cores']:.3f} cores"
            for label, row in (("API", per_core_summary["api"]), ("floor", per_core_summary.get("floor")))
            if row and row.get("cores") is not None
        ]
        if details:
            lines.append(f"(steady part: {'; '.join(details)})")
    return "\n".join(lines)
