"""What the recording API records, as protocols: the callers' own types satisfy them structurally, so
observability (the lowest layer) never imports the modules above it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class RuleFigures(Protocol):
    """What one batch's rule evaluation did."""

    @property
    def raised(self) -> int: ...
    @property
    def resolved(self) -> int: ...
    @property
    def skipped(self) -> bool: ...


class IngestFigures(Protocol):
    """What one Kinesis batch through ingest did."""

    @property
    def failed(self) -> Sequence[str]: ...  # sequence numbers reported for redelivery
    @property
    def records_ok(self) -> int: ...
    @property
    def events(self) -> int: ...
    @property
    def dead_lettered(self) -> int: ...
    @property
    def alerts(self) -> RuleFigures | None: ...


class CacheCounts(Protocol):
    """A cache's hit and miss counters per keyspace."""

    def snapshot(self) -> dict[str, dict[str, float]]: ...
