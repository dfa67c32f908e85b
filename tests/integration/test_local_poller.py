"""The local stand-in for the Kinesis event-source mapping: retries, then dead letters."""

from __future__ import annotations

import time

from dcmms import clients
from dcmms.local.stack import LocalKinesisPoller
from dcmms.telemetry.ingest import S3DeadLetters
from tests.support import failing_ingest


def test_records_failing_every_retry_end_in_the_dead_letter_store(settings) -> None:
    poller = LocalKinesisPoller(settings, "tests.support.failing_ingest.lambda_handler", max_retries=2)
    poller.start()
    time.sleep(1.0)  # the poller starts at LATEST
    payload = b'{"v": 1, "note": "always fails"}'
    clients.aws_client("kinesis", settings).put_record(
        StreamName=settings.kinesis_stream, Data=payload, PartitionKey="poller-test"
    )
    dead = S3DeadLetters(clients.aws_client("s3", settings), settings.dead_letter_bucket)
    deadline = time.monotonic() + 20
    found: list[dict] = []
    while time.monotonic() < deadline and not found:
        time.sleep(0.3)
        found = [e for e in dead.list(1000) if e["partition_key"] == "poller-test"]
    poller.stop()
    assert found and found[0]["reason"] == "retries exhausted"
    assert failing_ingest.CALLS.count(1) == 3  # first delivery + 2 retries
