"""The read model's projection lag during a load test: the API process's ``projection_lag_seconds`` (the lag of
the latest batch the projector wrote: now minus its oldest record's creation time) read from ``/metrics``
every ``interval_s``, kept only when ``projection_records_total`` moved (a new batch since the last read)."""

from __future__ import annotations

import threading
import urllib.request
from typing import Any

from tests.load import report
from tests.load.scenarios import require_loopback


class LagSampler(threading.Thread):
    def __init__(self, api_url: str, interval_s: float = 1.0) -> None:
        super().__init__(name="projection-lag-sampler", daemon=True)
        self.url = require_loopback(api_url) + "/metrics"
        self.interval_s = interval_s
        self.lags: list[float] = []
        self.records = 0.0
        self._first: float | None = None
        self._halt = threading.Event()

    def run(self) -> None:
        last: float | None = None
        while not self._halt.wait(self.interval_s):
            try:
                with urllib.request.urlopen(self.url, timeout=5) as response:
                    metrics = report.parse_metrics(response.read().decode())
            except OSError:
                continue
            records = metrics.get(("projection_records_total", frozenset()))
            lag = metrics.get(("projection_lag_seconds", frozenset()))
            if records is None or lag is None:
                continue
            if self._first is None:
                self._first = records
            if last is not None and records > last:
                self.lags.append(lag)
            last = records
            self.records = records - self._first

    def stop(self) -> None:
        self._halt.set()

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.lags)

        def at(q: float) -> float | None:
            return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else None

        return {
            "batches_sampled": len(ordered),
            "records": self.records,
            "lag_p50_s": at(0.5),
            "lag_p95_s": at(0.95),
            "lag_max_s": ordered[-1] if ordered else None,
        }
