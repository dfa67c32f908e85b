"""Telemetry use cases of the API: aggregated series, latest values, and records submitted over HTTP.

Every call is scoped to the caller's tenant: the asset is read through the fleet service first (cached,
404 across tenants), and series are looked up by (tenant, asset, metric). Submitted records are checked
with the same ``decode_record`` the ingest function uses, so a record the API accepts is one the ingest
function will store; they are then put on the Kinesis stream like a site gateway's.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import orjson

from dcmms.domain.errors import NotFound, ServiceUnavailable, ValidationFailed
from dcmms.domain.model import AssetType, Principal

from .common import field_error, require_write
from .fleet import FleetService

if TYPE_CHECKING:
    from dcmms.telemetry.postgres import TelemetryStore
    from dcmms.telemetry.record_format import AssetRef

# The telemetry modules are imported by the methods that use them: an API cold start whose first
# request is not about telemetry should not pay for them (~8 ms measured).

MAX_POINTS = 10_000
MAX_RECORDS = 500  # one PutRecords call
DEFAULT_SPAN = timedelta(hours=24)


def _invalid(location: Literal["body", "query"], field: str, message: str) -> ValidationFailed:
    """A 422 on one query parameter or body field; the detail names it as the client sent it."""
    return field_error(field, message, location, detail=f"{location}.{field}: {message}")


def _floor(moment: datetime, width: timedelta) -> datetime:
    """``moment`` rounded down to a UTC multiple of ``width`` (every interval divides a day)."""
    step = int(width.total_seconds())
    epoch = int(moment.timestamp())
    return datetime.fromtimestamp(epoch - epoch % step, UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class TelemetryService:
    def __init__(
        self,
        fleet: FleetService,
        store: Callable[[], TelemetryStore],
        kinesis: Callable[[], Any],
        stream: str,
    ) -> None:
        self.fleet = fleet
        self._store_factory = store
        self._kinesis_factory = kinesis
        self.stream = stream

    def _asset(self, p: Principal, asset_id: str) -> AssetRef:
        from dcmms.telemetry.record_format import AssetRef

        doc = orjson.loads(self.fleet.read_asset(p, asset_id).body)
        return AssetRef(doc["site_id"], AssetType(doc["type"]))

    def series(
        self,
        p: Principal,
        asset_id: str,
        metric: str,
        start: datetime | None,
        end: datetime | None,
        interval: str,
        agg: str,
    ) -> bytes:
        from dcmms.telemetry.metric_names import METRICS
        from dcmms.telemetry.postgres import INTERVALS

        asset = self._asset(p, asset_id)
        if metric not in METRICS[asset.type]:
            raise _invalid("query", "metric", f"'{metric}' is not a metric of {asset.type.value} assets")
        width, _ = INTERVALS[interval]
        end = (end or datetime.now(UTC)).astimezone(UTC)
        start = (start or end - DEFAULT_SPAN).astimezone(UTC)
        if start >= end:
            raise _invalid("query", "from", "must be before 'to'")
        start = _floor(start, width)
        points = -(-(end - start) // width)
        if points > MAX_POINTS:
            raise _invalid(
                "query", "interval", f"{points:,} points requested; at most {MAX_POINTS:,} (widen the interval)"
            )
        rows = self._store_factory().aggregate(p.tenant_id, asset_id, metric, start, end, interval, agg)
        return orjson.dumps(
            {
                "asset_id": asset_id,
                "metric": metric,
                "interval": interval,
                "agg": agg,
                "from": _iso(start),
                "to": _iso(end),
                "points": [{"ts": _iso(ts), "value": value} for ts, value in rows],
            }
        )

    def latest(self, p: Principal, asset_id: str) -> bytes:
        self._asset(p, asset_id)
        values = self._store_factory().latest(p.tenant_id, asset_id)
        return orjson.dumps(
            {
                "asset_id": asset_id,
                "metrics": {m: {"ts": _iso(ts), "value": v} for m, (ts, v) in sorted(values.items())},
            }
        )

    def submit(self, p: Principal, body: dict[str, Any]) -> int:
        """Validate every record of ``{"records": [...]}`` (or of a single record) as the ingest function
        would, then put them all on the stream.

        All or nothing: one bad record refuses the request with a 422 naming it, so a client never has
        to work out which half of its batch was taken.
        """
        from dcmms.telemetry.producer import chunks, put_records
        from dcmms.telemetry.record_format import RAW_RETENTION, RecordRejected, decode_record

        require_write(p)
        records = body.get("records", [body])
        if not isinstance(records, list) or not records:
            raise _invalid("body", "records", "a non-empty list of records")
        if len(records) > MAX_RECORDS:
            raise _invalid("body", "records", f"at most {MAX_RECORDS} records per request")
        assets: dict[str, AssetRef | None] = {}

        def lookup(tenant_id: str, asset_id: str) -> AssetRef | None:
            if asset_id not in assets:
                try:
                    assets[asset_id] = self._asset(p, asset_id)
                except NotFound:  # another tenant's asset reads as unknown, like a missing one
                    assets[asset_id] = None
            return assets[asset_id]

        now = datetime.now(UTC)
        entries: list[tuple[str, bytes]] = []
        for n, record in enumerate(records):
            if not isinstance(record, dict):
                raise _invalid("body", f"records.{n}", "a record is a JSON object")
            tenant = record.setdefault("tenant_id", p.tenant_id)
            if tenant != p.tenant_id:
                raise _invalid("body", f"records.{n}.tenant_id", "must be the tenant of the API key (or omitted)")
            data = orjson.dumps(record)
            try:
                decode_record(data, lookup, now, RAW_RETENTION)
            except RecordRejected as exc:
                raise _invalid("body", f"records.{n}", exc.reason) from None
            entries.append((str(record["asset_id"]), data))
        kinesis = self._kinesis_factory()
        unsent = sum(put_records(kinesis, self.stream, batch, attempts=3) for batch in chunks(entries))
        if unsent:
            raise ServiceUnavailable(
                f"{unsent} of {len(entries)} records could not be put on the stream; send the request again"
                " (readings already stored are kept once)."
            )
        return len(entries)
