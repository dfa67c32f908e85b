"""The local stand-in for the Kinesis event-source mapping, with the real ingest function behind it:
poison records are handled once, transient failures are retried and end in replayable dead letters."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta

import orjson
import psycopg
import pytest

from dcmms import clients
from dcmms.catalogue import StreamSource, by_name
from dcmms.config import Settings
from dcmms_dev.stack import LocalKinesisPoller
from tests.support import failing_ingest
from tests.support.handlers import telemetry_record
from tests.support.waiting import eventually

INGEST = "functions.ingest.handler.lambda_handler"


@pytest.fixture
def start_poller(settings: Settings) -> Iterator[Callable[..., LocalKinesisPoller]]:
    started: list[LocalKinesisPoller] = []

    def start(handler: str = INGEST, **kwargs) -> LocalKinesisPoller:
        poller = LocalKinesisPoller(settings, handler, **kwargs)
        poller.start()
        assert poller.ready.wait(20), "the poller did not reach the shards"
        started.append(poller)
        return poller

    yield start
    for poller in started:
        poller.stop()
        poller.join(10)


def _letter_keys(settings: Settings, records: Iterable[str]) -> list[str]:
    """The keys of these records' ("<shard>-<sequence number>") dead letters: a listing, no reads."""
    wanted = set(records)
    pages = (
        clients.aws_client("s3", settings).get_paginator("list_objects_v2").paginate(Bucket=settings.dead_letter_bucket)
    )
    return [o["Key"] for p in pages for o in p.get("Contents", []) if o["Key"].rsplit("/", 1)[-1][:-5] in wanted]


def _letters(settings: Settings, records: Iterable[str]) -> dict[str, dict]:
    """The dead letters of these records, by "<shard>-<sequence number>", read without the others'."""
    s3 = clients.aws_client("s3", settings)
    entries = [
        orjson.loads(s3.get_object(Bucket=settings.dead_letter_bucket, Key=key)["Body"].read())
        for key in _letter_keys(settings, records)
    ]
    return {f"{e['shard_id']}-{e['sequence_number']}": e for e in entries}


def _stored_events(settings: Settings, tenant_id: str) -> int:
    with psycopg.connect(settings.database_url) as conn:
        return conn.execute(
            "SELECT count(*) FROM telemetry_raw JOIN telemetry_series USING (series_id) WHERE tenant_id = %s",
            (tenant_id,),
        ).fetchone()[0]


def _put(settings: Settings, entries: list[tuple[str, bytes]]) -> list[str]:
    """One PutRecords call, every entry accepted; the records' "<shard>-<sequence number>" in entry order."""
    reply = clients.aws_client("kinesis", settings).put_records(
        StreamName=settings.kinesis_stream, Records=[{"Data": d, "PartitionKey": k} for k, d in entries]
    )
    assert reply["FailedRecordCount"] == 0
    return [f"{r['ShardId']}-{r['SequenceNumber']}" for r in reply["Records"]]


def _batch_with_poison(api, tenant) -> tuple[list[tuple[str, bytes]], dict[int, str], int]:
    """500 records (3 readings x 2 metrics each) over 10 inverters, 5 of them poison with known reasons."""
    site = api.site()
    inverters = [api.asset(site["id"], type="inverter", name=f"INV-{n}")["id"] for n in range(10)]
    t, now = tenant.tenant.id, datetime.now(UTC).replace(microsecond=0)
    poison = {
        40: (b"{not json", "malformed JSON"),
        140: (telemetry_record(t, site["id"], "ast_missing", now, ac_power_kw=1.0), "unknown tenant or asset"),
        240: (
            telemetry_record(t, site["id"], inverters[0], now + timedelta(hours=1), ac_power_kw=1.0),
            "ts more than 15 minutes in the future",
        ),
        340: (
            telemetry_record(t, site["id"], inverters[0], now - timedelta(days=8), ac_power_kw=1.0),
            "ts older than the raw retention",
        ),
        440: (
            telemetry_record(t, site["id"], inverters[0], now, ac_power_kw="NaN"),  # type: ignore[arg-type]
            "ac_power_kw is not a finite number",
        ),
    }
    start = now - timedelta(minutes=50)
    entries = []
    for n in range(500):
        asset = inverters[n % 10]
        if n in poison:
            entries.append((asset, poison[n][0]))
            continue
        readings = [
            {
                "ts": (start + timedelta(seconds=n * 3 + k)).isoformat(),
                "metrics": {"ac_power_kw": 10.0 + k, "dc_voltage_v": 900.0},
            }
            for k in range(3)
        ]
        body = {"v": 1, "tenant_id": t, "site_id": site["id"], "asset_id": asset, "readings": readings}
        entries.append((asset, orjson.dumps(body)))
    return entries, {n: reason for n, (_, reason) in poison.items()}, 495 * 3 * 2


def test_the_poller_delivers_with_the_settings_the_stacks_deploy() -> None:
    source = by_name("ingest").stream
    assert source == StreamSource() and source is not None
    poller = LocalKinesisPoller(Settings(), INGEST, source)
    assert (poller.batch_size, poller.max_retries) == (source.batch_size, source.retry_attempts)


def test_poison_records_are_delivered_once_and_dead_lettered_with_their_own_reasons(
    ingest_handler, api, tenant, settings, start_poller
) -> None:
    # given the real ingest function behind the poller, and 500 records of which 5 are poison
    poller = start_poller()
    entries, poison, good_events = _batch_with_poison(api, tenant)
    sequence = _put(settings, entries)
    # when the poller has delivered them
    assert eventually(
        lambda: poller.delivered >= 500 and _stored_events(settings, tenant.tenant.id) >= good_events, 30, 0.2
    )
    time.sleep(1.0)  # a redelivery, if there were one, would follow at once
    # then every record was handed over exactly once (one invocation per shard that had records)
    shards = clients.aws_client("kinesis", settings).list_shards(StreamName=settings.kinesis_stream)["Shards"]
    assert poller.delivered == 500 and poller.batches <= len(shards)
    # and every good event is stored, and exactly the 5 poison records are kept, each with its own reason
    assert _stored_events(settings, tenant.tenant.id) == good_events
    letters = _letters(settings, sequence)
    assert {seq: e["reason"] for seq, e in letters.items()} == {sequence[n]: reason for n, reason in poison.items()}


def test_a_store_outage_is_retried_then_dead_lettered_and_replayed_without_duplicates(
    ingest_handler, api, tenant, settings, start_poller, monkeypatch, tmp_path
) -> None:
    from dcmms_dev.cli import main

    # given PostgreSQL refusing every write, and the same 500 records with 5 poison
    module = sys.modules["functions.ingest.handler"]

    def database_down(groups):
        raise OSError("database unreachable")

    monkeypatch.setattr(module._pipeline.store, "write_grouped", database_down)
    poller = start_poller()
    entries, poison, good_events = _batch_with_poison(api, tenant)
    sequence = _put(settings, entries)
    # when the mapping has retried and given up
    assert eventually(lambda: len(_letter_keys(settings, sequence)) >= 500, 60, 0.2), (poller.delivered, poller.batches)
    # then every good record came round retry_attempts more times and ended as "retries exhausted",
    # while each poison record kept the reason the function gave it
    assert poller.delivered > 500 and _stored_events(settings, tenant.tenant.id) == 0
    reasons = {seq: e["reason"] for seq, e in _letters(settings, sequence).items()}
    assert {n: reasons[sequence[n]] for n in poison} == poison
    exhausted = {seq for seq, reason in reasons.items() if reason == "retries exhausted"}
    assert exhausted == set(sequence) - {sequence[n] for n in poison}
    # when the database is back and an operator replays what was exhausted
    monkeypatch.undo()
    state = tmp_path / "local.json"
    state.write_text(
        json.dumps(
            {"aws_endpoint_url": settings.aws_endpoint_url, "kinesis_endpoint_url": settings.kinesis_endpoint_url}
        )
    )
    assert (
        main(["dlq", "replay", "--reason", "retries exhausted", "--limit", "100000", "--state-file", str(state)]) == 0
    )
    # then every good event is stored once, and the poison records are still in the dead-letter store
    assert eventually(lambda: _stored_events(settings, tenant.tenant.id) >= good_events, 30, 0.2)
    time.sleep(1.0)
    assert _stored_events(settings, tenant.tenant.id) == good_events
    left = _letters(settings, sequence)
    assert {seq: e["reason"] for seq, e in left.items()} == {sequence[n]: reason for n, reason in poison.items()}


def test_records_failing_every_retry_end_in_the_dead_letter_store(settings, start_poller) -> None:
    failing_ingest.CALLS.clear()
    start_poller("tests.support.failing_ingest.lambda_handler", max_retries=2)
    payload = b'{"v": 1, "note": "always fails"}'
    (seq,) = _put(settings, [("poller-test", payload)])
    assert eventually(lambda: bool(_letter_keys(settings, [seq])), 20, 0.2)
    letter = _letters(settings, [seq])[seq]
    assert letter["reason"] == "retries exhausted"
    assert failing_ingest.CALLS.count(1) == 3  # first delivery + 2 retries


def test_a_function_error_bisects_the_batch_without_spending_retries(settings, start_poller) -> None:
    # given a function that raises on any batch holding the poison record
    from tests.support import raising_ingest

    raising_ingest.CALLS.clear()
    poller = start_poller("tests.support.raising_ingest.lambda_handler", max_retries=1)
    entries = [("bisect-test", b"ok-%d" % n) for n in range(7)] + [("bisect-test", raising_ingest.POISON)]
    sequence = _put(settings, entries)
    # when it has been delivered
    assert eventually(lambda: bool(_letter_keys(settings, sequence)), 20, 0.2)
    time.sleep(0.5)
    # then the halves without the poison record succeeded and only the poison one was given up on
    assert set(_letters(settings, sequence)) == {sequence[-1]}
    assert poller.delivered > len(entries)
    # 8 -> 4 + 4 -> 2 + 2 -> 1 + 1: the lone poison record raised on its first try and on its one retry
    assert [call for call in raising_ingest.CALLS if call[0] == 1 and call[1]] == [(1, True), (1, True)]
