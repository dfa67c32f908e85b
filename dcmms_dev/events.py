"""Builders of canonical Lambda events from the templates in ``events/`` (for tests and ``dcmms invoke``)."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

EVENTS_DIR = Path(__file__).resolve().parents[1] / "events"


@cache
def _template(name: str) -> dict[str, Any]:
    return json.loads((EVENTS_DIR / name).read_text())


def api_gateway_event(method: str, url: str, headers: dict[str, str] | None = None, body: Any = None) -> dict[str, Any]:
    """An API Gateway REST proxy event for ``method url`` (url may carry a query string)."""
    event = copy.deepcopy(_template("api_gateway_rest.json"))
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    event["httpMethod"] = event["requestContext"]["httpMethod"] = method
    event["path"] = parts.path
    event["pathParameters"] = {"proxy": parts.path.lstrip("/")}
    event["requestContext"]["path"] = f"/{event['requestContext']['stage']}{parts.path}"
    event["headers"].update(headers or {})
    event["multiValueHeaders"] = {k: [v] for k, v in event["headers"].items()}
    event["queryStringParameters"] = {k: v[-1] for k, v in query.items()} or None
    event["multiValueQueryStringParameters"] = query or None
    if body is not None:
        event["body"] = body if isinstance(body, str) else json.dumps(body)
        event["headers"]["Content-Type"] = "application/json"
        event["multiValueHeaders"]["Content-Type"] = ["application/json"]
    return event


def kinesis_event(
    records: list[tuple[str, bytes]], first_sequence: int = 1, arrived: float | None = None
) -> dict[str, Any]:
    """A Kinesis event-source batch of ``(partition_key, data)`` records with increasing sequence numbers."""
    import time
    from datetime import UTC, datetime

    at = datetime.fromtimestamp(arrived if arrived is not None else time.time(), UTC)
    shard = [
        {
            "PartitionKey": key,
            "SequenceNumber": f"{first_sequence + n:056d}",
            "Data": data,
            "ApproximateArrivalTimestamp": at,
        }
        for n, (key, data) in enumerate(records)
    ]
    return kinesis_event_from_shard("shardId-000000000000", shard)


def kinesis_event_from_shard(shard_id: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    """The event Lambda's event-source mapping builds from a shard's ``GetRecords`` records: their own
    sequence numbers, partition keys and arrival times, so redelivering a record changes none of them."""
    import base64

    template = _template("kinesis_batch.json")["Records"][0]
    out = []
    for rec in records:
        record = copy.deepcopy(template)
        record["kinesis"].update(
            partitionKey=rec["PartitionKey"],
            sequenceNumber=rec["SequenceNumber"],
            data=base64.b64encode(rec["Data"]).decode(),
            approximateArrivalTimestamp=rec["ApproximateArrivalTimestamp"].timestamp(),
        )
        record["eventID"] = f"{shard_id}:{rec['SequenceNumber']}"
        out.append(record)
    return {"Records": out}


def dynamodb_stream_event(stream_arn: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    """The event a DynamoDB Streams event-source mapping builds from ``GetRecords`` records: each with its
    stream's ARN and its creation time as epoch seconds (boto3 gives a datetime), the rest as read."""
    out = []
    for rec in records:
        ddb = dict(rec["dynamodb"])
        created = ddb.get("ApproximateCreationDateTime")
        if created is not None and not isinstance(created, int | float):
            ddb["ApproximateCreationDateTime"] = created.timestamp()
        out.append(
            {
                "eventID": rec.get("eventID"),
                "eventName": rec.get("eventName"),
                "eventVersion": rec.get("eventVersion", "1.1"),
                "eventSource": "aws:dynamodb",
                "awsRegion": rec.get("awsRegion", "us-east-1"),
                "dynamodb": ddb,
                "eventSourceARN": stream_arn,
                **({"userIdentity": rec["userIdentity"]} if "userIdentity" in rec else {}),
            }
        )
    return {"Records": out}


def scheduled_event(payload: Mapping[str, Any] | None = None, scheduled_at: datetime | None = None) -> dict[str, Any]:
    """An EventBridge Scheduler invocation, as the schedules deliver it: the template, or a schedule's
    ``payload`` with ``<aws.scheduler.scheduled-time>`` replaced by ``scheduled_at`` (as the scheduler does)."""
    if payload is None:
        return copy.deepcopy(_template("eventbridge_scheduled.json"))
    from dcmms.catalogue import SCHEDULED_TIME

    at = (scheduled_at or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {k: at if v == SCHEDULED_TIME else copy.deepcopy(v) for k, v in payload.items()}


def sqs_event(queue_url: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The event an SQS event-source mapping builds from ``ReceiveMessage`` messages."""
    name = queue_url.rstrip("/").rsplit("/", 1)[-1]
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": dict(m.get("Attributes") or {}),
                "messageAttributes": {},
                "md5OfBody": m.get("MD5OfBody"),
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:us-east-1:123456789012:{name}",
                "awsRegion": "us-east-1",
            }
            for m in messages
        ]
    }


class FakeLambdaContext:
    """The attributes of LambdaContext that Powertools reads; a real context exists only in Lambda."""

    function_name = "dcmms-api"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:dcmms-api"
    memory_limit_in_mb = 1769
    aws_request_id = "00000000-0000-0000-0000-000000000000"
    log_group_name = "/aws/lambda/dcmms-api"
    log_stream_name = "local"

    def get_remaining_time_in_millis(self) -> int:
        return 29_000
