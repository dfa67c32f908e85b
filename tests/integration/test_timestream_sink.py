"""The optional Timestream sink: write path on moto (moto does not evaluate queries), rejected records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import botocore.session
from botocore.stub import Stubber

from dcmms import clients
from dcmms.domain.model import AssetType
from dcmms.telemetry.record_format import DecodedRecord
from dcmms.telemetry.timestream import TimestreamSink, to_timestream_records

T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def _record(n_timestamps: int, asset: str = "inv1") -> DecodedRecord:
    readings = [
        (T0 + timedelta(seconds=i), {m: float(i) for m in ("ac_power_kw", "heatsink_temp_c")})
        for i in range(n_timestamps)
    ]
    return DecodedRecord("t1", "s1", asset, AssetType.inverter, readings)


def test_multi_measure_records_one_per_asset_and_timestamp() -> None:
    rows = to_timestream_records(_record(3))
    assert len(rows) == 3 and rows[0]["MeasureValueType"] == "MULTI"
    assert [v["Name"] for v in rows[0]["MeasureValues"]] == ["ac_power_kw", "heatsink_temp_c"]
    assert {d["Name"] for d in rows[0]["Dimensions"]} == {"tenant_id", "site_id", "asset_id", "asset_type"}
    assert rows[1]["Time"] == str(int((T0 + timedelta(seconds=1)).timestamp() * 1000))


def test_writes_in_chunks_of_100_on_moto(settings) -> None:
    client = clients.aws_client("timestream-write", settings)
    client.create_database(DatabaseName="dcmms")
    client.create_table(DatabaseName="dcmms", TableName="telemetry")
    calls = []
    client.meta.events.register("before-call.timestream-write.WriteRecords", lambda **_: calls.append(1))
    result = TimestreamSink(client, "dcmms", "telemetry").write([_record(150), _record(100, "inv2")])
    assert result.written == 250 and result.rejected == [] and len(calls) == 3


def test_rejected_records_are_reported_and_replays_count_as_written() -> None:
    client = botocore.session.get_session().create_client(
        "timestream-write", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y"
    )
    stub = Stubber(client)
    stub.add_client_error(
        "write_records",
        service_error_code="RejectedRecordsException",
        http_status_code=419,
        service_message="some records were rejected",
        response_meta=None,
        modeled_fields={
            "RejectedRecords": [
                {
                    "RecordIndex": 0,
                    "Reason": "The record timestamp is outside the time range of the data ingestion window.",
                },
                {"RecordIndex": 1, "Reason": "A record with the same version exists.", "ExistingVersion": 1},
            ]
        },
    )
    with stub:
        result = TimestreamSink(client, "dcmms", "telemetry").write([_record(3)])
    assert result.written == 2
    assert result.rejected == [
        (
            f"inv1@{int(T0.timestamp() * 1000)}",
            "The record timestamp is outside the time range of the data ingestion window.",
        )
    ]


def test_ingest_also_writes_to_timestream_when_configured(settings, api, tenant) -> None:
    from dcmms.telemetry.ingest import S3DeadLetters, ingest_batch, records_from_event
    from dcmms.telemetry.postgres import TelemetryStore
    from dcmms.telemetry.record_format import AssetRef
    from dcmms_dev.events import kinesis_event
    from tests.support.handlers import telemetry_record

    client = clients.aws_client("timestream-write", settings)
    if "ingest" not in [d["DatabaseName"] for d in client.list_databases()["Databases"]]:
        client.create_database(DatabaseName="ingest")
        client.create_table(DatabaseName="ingest", TableName="telemetry")
    writes = []
    client.meta.events.register("before-call.timestream-write.WriteRecords", lambda **_: writes.append(1))
    site = api.site()
    inv = api.asset(site["id"], type="inverter")
    data = telemetry_record(tenant.tenant.id, site["id"], inv["id"], datetime.now(UTC), ac_power_kw=5.0)
    store = TelemetryStore(settings.database_url)
    store.migrate()
    outcome = ingest_batch(
        records_from_event(kinesis_event([(inv["id"], data)], first_sequence=70_000)),
        lambda t, a: AssetRef(site["id"], AssetType.inverter) if a == inv["id"] else None,
        store,
        S3DeadLetters(clients.aws_client("s3", settings), settings.dead_letter_bucket),
        timestream=TimestreamSink(client, "ingest", "telemetry"),
    )
    store.close()
    assert outcome.failed == [] and outcome.stored_rows == 1 and writes == [1]
