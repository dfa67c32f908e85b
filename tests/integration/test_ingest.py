"""The ingest Lambda with a real PostgreSQL, moto S3 for dead letters and assets from the API."""

from __future__ import annotations

import base64
import sys
from datetime import UTC, datetime, timedelta

import orjson
import psycopg

from dcmms import clients
from dcmms.telemetry.ingest import S3DeadLetters
from dcmms.telemetry.postgres import TelemetryStore
from dcmms_dev.events import FakeLambdaContext, kinesis_event
from tests.support.handlers import import_handler, telemetry_record


def test_bad_records_are_dead_lettered_and_not_redelivered(ingest_handler, api, tenant, settings) -> None:
    # given an inverter and a batch with good records around malformed ones
    site = api.site()
    inv = api.asset(site["id"], type="inverter")
    t, now = tenant.tenant.id, datetime.now(UTC).replace(microsecond=0)
    good1 = telemetry_record(
        t, site["id"], inv["id"], now - timedelta(minutes=2), ac_power_kw=800.0, heatsink_temp_c=55.0
    )
    bad_json = b'{"v": 1, "tenant_id": '
    bad_asset = telemetry_record(t, site["id"], "ast_unknown", now, ac_power_kw=1.0)
    good2 = telemetry_record(t, site["id"], inv["id"], now - timedelta(minutes=1), ac_power_kw=810.0)
    event = kinesis_event(
        [(inv["id"], good1), (inv["id"], bad_json), ("x", bad_asset), (inv["id"], good2)], first_sequence=1000
    )
    # when the ingest function handles it
    response = ingest_handler(event, FakeLambdaContext())
    # then nothing is reported failed: the bad records are durably dead-lettered, so they are done
    assert response["batchItemFailures"] == []
    # and the good ones are stored
    store = TelemetryStore(settings.database_url)
    series = store.series(t, inv["id"], "ac_power_kw", now - timedelta(minutes=5), now + timedelta(minutes=1))
    assert [v for _, v in series] == [800.0, 810.0]
    # and the bad ones are kept with payload and reason
    letters = {
        e["sequence_number"]: e
        for e in S3DeadLetters(clients.aws_client("s3", settings), settings.dead_letter_bucket).list(1000)
    }
    assert letters[event["Records"][1]["kinesis"]["sequenceNumber"]]["reason"] == "malformed JSON"
    assert letters[event["Records"][2]["kinesis"]["sequenceNumber"]]["reason"] == "unknown tenant or asset"
    assert base64.b64decode(letters[event["Records"][1]["kinesis"]["sequenceNumber"]]["payload_b64"]) == bad_json
    # when the same batch is delivered again, nothing is stored twice
    ingest_handler(event, FakeLambdaContext())
    again = store.series(t, inv["id"], "ac_power_kw", now - timedelta(minutes=5), now + timedelta(minutes=1))
    assert len(again) == 2
    store.close()


def test_store_outage_reports_the_good_records_for_redelivery(ingest_handler, api, tenant, monkeypatch) -> None:
    site = api.site()
    inv = api.asset(site["id"], type="inverter")
    record = telemetry_record(tenant.tenant.id, site["id"], inv["id"], datetime.now(UTC), ac_power_kw=1.0)
    module = sys.modules["functions.ingest.handler"]

    def broken(readings):
        raise OSError("database unreachable")

    monkeypatch.setattr(module._pipeline.store, "write_grouped", broken)
    event = kinesis_event([(inv["id"], record)], first_sequence=5000)
    response = ingest_handler(event, FakeLambdaContext())
    assert [f["itemIdentifier"] for f in response["batchItemFailures"]] == [
        event["Records"][0]["kinesis"]["sequenceNumber"]
    ]


def test_a_failed_dead_letter_write_is_the_only_record_redelivered(
    ingest_handler, api, tenant, settings, monkeypatch
) -> None:
    # given a batch of good, bad, good records, and a dead-letter store that is down
    site = api.site()
    inv = api.asset(site["id"], type="inverter")
    now = datetime.now(UTC).replace(microsecond=0)
    good = [
        telemetry_record(tenant.tenant.id, site["id"], inv["id"], now - timedelta(seconds=s), ac_power_kw=5.0)
        for s in (20, 10)
    ]
    event = kinesis_event([(inv["id"], good[0]), (inv["id"], b"{broken"), (inv["id"], good[1])], first_sequence=6100)
    module = sys.modules["functions.ingest.handler"]

    def s3_down(record, reason):
        raise OSError("S3 unreachable")

    monkeypatch.setattr(module._pipeline.dead_letters, "put", s3_down)
    # when the batch is handled
    response = ingest_handler(event, FakeLambdaContext())
    # then only the record whose dead letter was not written comes round again; the good ones are stored
    assert [f["itemIdentifier"] for f in response["batchItemFailures"]] == [
        event["Records"][1]["kinesis"]["sequenceNumber"]
    ]
    store = TelemetryStore(settings.database_url)
    assert len(store.series(tenant.tenant.id, inv["id"], "ac_power_kw", now - timedelta(minutes=1), now)) == 2
    store.close()


def test_a_dead_letter_keeps_its_first_reason(settings) -> None:
    from dcmms.telemetry.ingest import StreamRecord

    dead = S3DeadLetters(clients.aws_client("s3", settings), settings.dead_letter_bucket)
    record = StreamRecord("49" + "7" * 54, "pk-first-reason", b"{oops", datetime.now(UTC))
    key = dead.put(record, "malformed JSON")
    assert dead.put(record, "retries exhausted") == key  # a later put is a success that changes nothing
    (entry,) = [e for e in dead.list(10_000) if e["partition_key"] == "pk-first-reason"]
    assert entry["reason"] == "malformed JSON"
    dead.delete(key)


def test_dlq_cli_lists_and_replays(ingest_handler, settings, tmp_path, capsys) -> None:
    import json

    from dcmms_dev.cli import main

    state = tmp_path / "local.json"
    state.write_text(
        json.dumps(
            {"aws_endpoint_url": settings.aws_endpoint_url, "kinesis_endpoint_url": settings.kinesis_endpoint_url}
        )
    )
    bad = b"not json at all \x00\x07 from gateway GW-17"
    event = kinesis_event([("gw-17", bad)], first_sequence=9000)
    ingest_handler(event, FakeLambdaContext())
    dead = S3DeadLetters(clients.aws_client("s3", settings), settings.dead_letter_bucket)
    assert any(base64.b64decode(e["payload_b64"]) == bad for e in dead.list(1000))
    capsys.readouterr()
    assert main(["dlq", "list", "--state-file", str(state), "--limit", "1000"]) == 0
    (line,) = [row for row in capsys.readouterr().out.splitlines() if " gw-17 " in row]
    # arrival time, sequence number, partition key, reason, and a printable excerpt of the payload
    arrived = datetime.fromtimestamp(event["Records"][0]["kinesis"]["approximateArrivalTimestamp"], UTC)
    assert line.startswith(arrived.strftime("%Y-%m-%d %H:%M:%S"))
    assert event["Records"][0]["kinesis"]["sequenceNumber"] in line and "malformed JSON" in line
    assert "not json at all ·· from gateway GW-17" in line and f"({len(bad)} bytes)" in line
    assert main(["dlq", "replay", "--state-file", str(state), "--limit", "1000"]) == 0
    assert dead.list(1000) == []


def test_every_dcmms_subcommand_without_a_stack_or_aws_says_what_is_missing(tmp_path, monkeypatch, capsys) -> None:
    from dcmms_dev.cli import main

    for name in [n for n in __import__("os").environ if n.startswith(("AWS_", "DCMMS_"))]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    missing = str(tmp_path / "local.json")
    for argv in (["dlq", "list"], ["dlq", "replay"], ["simulate", "--duration", "1"], ["seed"]):
        assert main([*argv, "--state-file", missing]) == 2, argv
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and "Traceback" not in err, err
        assert err.startswith(f"dcmms {argv[0]}: no local stack") and "make run" in err, err
    stale = tmp_path / "stale.json"
    stale.write_text('{"pid": 999999999, "aws_endpoint_url": "http://127.0.0.1:9"}')
    assert main(["dlq", "list", "--state-file", str(stale)]) == 2
    assert "no longer running" in capsys.readouterr().err


def test_telemetry_partitions_lambda_keeps_partitions_ahead(ingest_handler, settings, monkeypatch) -> None:
    import psycopg

    handler = import_handler("functions.telemetry_partitions.handler", settings, monkeypatch)
    from dcmms_dev.events import scheduled_event

    result = handler(scheduled_event(), FakeLambdaContext())
    assert result["ran"] is True and "telemetry_raw" in result["dropped_partitions"]
    ahead = (datetime.now(UTC) + timedelta(days=3)).strftime("%Y%m%d")
    with psycopg.connect(settings.database_url) as conn:
        assert conn.execute("SELECT to_regclass(%s)", (f"telemetry_raw_p{ahead}",)).fetchone()[0] is not None


def test_one_percent_poison_in_a_500_record_batch(ingest_handler, api, tenant, settings) -> None:
    # given 10 inverters and a batch of 500 records (5 readings x 3 metrics each), 5 of them poison
    site = api.site()
    inverters = [api.asset(site["id"], type="inverter", name=f"INV-{n}")["id"] for n in range(10)]
    t, now = tenant.tenant.id, datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(hours=1)
    poison = {
        50: b"{not json",
        150: telemetry_record(t, site["id"], "ast_missing", now, ac_power_kw=1.0),
        250: telemetry_record(t, site["id"], inverters[0], now + timedelta(hours=1), ac_power_kw=1.0),
        350: telemetry_record(t, site["id"], inverters[0], now - timedelta(days=8), ac_power_kw=1.0),
        450: telemetry_record(t, site["id"], inverters[0], now, ac_power_kw="NaN"),  # type: ignore[arg-type]
    }
    entries = []
    for n in range(500):
        asset = inverters[n % 10]
        if n in poison:
            entries.append((asset, poison[n]))
            continue
        readings = [
            {
                "ts": (start + timedelta(seconds=n * 5 + k)).isoformat(),
                "metrics": {"ac_power_kw": 100.0 + k, "heatsink_temp_c": 40.0, "dc_voltage_v": 900.0},
            }
            for k in range(5)
        ]
        entries.append(
            (
                asset,
                orjson.dumps({"v": 1, "tenant_id": t, "site_id": site["id"], "asset_id": asset, "readings": readings}),
            )
        )
    event = kinesis_event(entries, first_sequence=900_000)
    sequence = [r["kinesis"]["sequenceNumber"] for r in event["Records"]]

    def stored_events() -> int:
        with psycopg.connect(settings.database_url) as conn:
            return conn.execute(
                "SELECT count(*) FROM telemetry_raw JOIN telemetry_series USING (series_id) WHERE tenant_id = %s", (t,)
            ).fetchone()[0]

    # when the ingest function handles it
    response = ingest_handler(event, FakeLambdaContext())
    # then nothing is redelivered, every good event is stored, every bad record is kept with its reason
    assert response["batchItemFailures"] == []
    assert stored_events() == 495 * 5 * 3
    letters = {
        e["sequence_number"]: e["reason"]
        for e in S3DeadLetters(clients.aws_client("s3", settings), settings.dead_letter_bucket).list(10_000)
    }
    assert [letters[sequence[n]] for n in sorted(poison)] == [
        "malformed JSON",
        "unknown tenant or asset",
        "ts more than 15 minutes in the future",
        "ts older than the raw retention",
        "ac_power_kw is not a finite number",
    ]
    # and replaying the batch adds no rows
    ingest_handler(event, FakeLambdaContext())
    assert stored_events() == 495 * 5 * 3
