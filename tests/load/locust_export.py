"""What a Locust run hands to ``report.py``, raw: per endpoint the counts, the response-time histogram,
requests and failures per second and the bytes received; Locust's errors; the run's start and end.

Imported only by the locustfiles (Locust, and so gevent's patching, runs in their process).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from locust.env import Environment


def export_stats(environment: Environment, path: Path) -> None:
    stats = environment.stats
    entries = [
        {
            "method": e.method,
            "name": e.name,
            "num_requests": e.num_requests,
            "num_failures": e.num_failures,
            "total_response_time": e.total_response_time,
            "max_response_time": e.max_response_time,
            "total_content_length": e.total_content_length,
            "response_times": {str(k): v for k, v in e.response_times.items()},
            "num_reqs_per_sec": {str(k): v for k, v in e.num_reqs_per_sec.items()},
            "num_fail_per_sec": {str(k): v for k, v in e.num_fail_per_sec.items()},
        }
        for e in stats.entries.values()
    ]
    errors = [
        {"method": e.method, "name": e.name, "error": str(e.error), "occurrences": e.occurrences}
        for e in stats.errors.values()
    ]
    out = {
        "start_time": stats.start_time,
        "end_time": stats.last_request_timestamp or time.time(),
        "entries": entries,
        "errors": errors,
    }
    path.write_text(json.dumps(out))
