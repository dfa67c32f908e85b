"""Hit and miss counters per keyspace, kept in process and published as metrics by the handlers."""

from __future__ import annotations

import threading
from collections import defaultdict


class CacheStats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        self._drained: dict[str, tuple[int, int]] = {}

    def hit(self, keyspace: str) -> None:
        with self._lock:
            self._counts[keyspace][0] += 1

    def miss(self, keyspace: str) -> None:
        with self._lock:
            self._counts[keyspace][1] += 1

    def snapshot(self) -> dict[str, dict[str, float]]:
        with self._lock:
            return {
                ks: {"hits": h, "misses": m, "hit_rate": round(h / (h + m), 4) if h + m else 0.0}
                for ks, (h, m) in self._counts.items()
            }

    def drain(self) -> dict[str, tuple[int, int]]:
        """(hits, misses) per keyspace since the previous drain, for per-invocation metrics."""
        with self._lock:
            out = {}
            for ks, (h, m) in self._counts.items():
                h0, m0 = self._drained.get(ks, (0, 0))
                if h > h0 or m > m0:
                    out[ks] = (h - h0, m - m0)
                self._drained[ks] = (h, m)
            return out
