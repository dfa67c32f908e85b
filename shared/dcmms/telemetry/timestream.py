"""Optional Timestream sink, for accounts that already have Timestream for LiveAnalytics.

One multi-measure record per (asset, timestamp) with the tenant, site, asset and type as dimensions;
WriteRecords takes at most 100 records per call. Rejected records come back with their index and
reason; a rejection that reports an ``ExistingVersion`` is a replay of data already written (the same
record arriving again with a redelivered batch) and counts as written.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .record_format import DecodedRecord

MAX_RECORDS_PER_WRITE = 100


@dataclass
class SinkResult:
    written: int = 0
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (asset_id@ts, reason)


def to_timestream_records(record: DecodedRecord) -> list[dict[str, Any]]:
    by_ts: dict[int, list[dict[str, str]]] = defaultdict(list)
    for s in record.samples:
        by_ts[int(s.ts.timestamp() * 1000)].append({"Name": s.metric, "Value": repr(s.value), "Type": "DOUBLE"})
    dimensions = [
        {"Name": "tenant_id", "Value": record.tenant_id},
        {"Name": "site_id", "Value": record.site_id},
        {"Name": "asset_id", "Value": record.asset_id},
        {"Name": "asset_type", "Value": record.asset_type.value},
    ]
    return [
        {
            "Dimensions": dimensions,
            "MeasureName": "readings",
            "MeasureValueType": "MULTI",
            "MeasureValues": values,
            "Time": str(ts),
            "TimeUnit": "MILLISECONDS",
        }
        for ts, values in sorted(by_ts.items())
    ]


class TimestreamSink:
    def __init__(self, client: Any, database: str, table: str) -> None:
        self.client = client
        self.database = database
        self.table = table

    def write(self, records: Sequence[DecodedRecord]) -> SinkResult:
        rows = [row for r in records for row in to_timestream_records(r)]
        result = SinkResult()
        for start in range(0, len(rows), MAX_RECORDS_PER_WRITE):
            chunk = rows[start : start + MAX_RECORDS_PER_WRITE]
            try:
                reply = self.client.write_records(DatabaseName=self.database, TableName=self.table, Records=chunk)
                result.written += reply.get("RecordsIngested", {}).get("Total", len(chunk))
            except self.client.exceptions.RejectedRecordsException as exc:
                rejected = exc.response.get("RejectedRecords", [])
                refused = [r for r in rejected if r.get("ExistingVersion") is None]
                result.written += len(chunk) - len(refused)
                for r in refused:
                    row = chunk[r["RecordIndex"]]
                    asset = next(d["Value"] for d in row["Dimensions"] if d["Name"] == "asset_id")
                    result.rejected.append((f"{asset}@{row['Time']}", r.get("Reason", "rejected")))
        return result
