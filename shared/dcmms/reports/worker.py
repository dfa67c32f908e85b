"""The ``reports`` function's composition root and event handling: SQS messages (one report job each, from the
API or a schedule run) and EventBridge Scheduler runs (``{"report_schedule", "scheduled_at"}``).

A message whose job fails transiently is reported in ``batchItemFailures`` so SQS redelivers it (after the
visibility timeout) up to the queue's receive limit, then moves it to the dead-letter queue; the job itself is
marked ``failed`` with its reason on the last attempt, so a client polling it never waits forever.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson

from dcmms import runtime
from dcmms.catalogue import by_name
from dcmms.config import Settings
from dcmms.reports.delivery import SesMailer
from dcmms.reports.render import render
from dcmms.services.report_documents import DocumentBuilder
from dcmms.services.reports import ReportRunner, ReportScheduler

log = logging.getLogger(__name__)


@lru_cache(maxsize=4)
def runner(settings: Settings) -> ReportRunner:
    from dcmms.clients import aws_client
    from dcmms.telemetry.metric_names import COUNTERS

    repositories = runtime.store_repositories(settings)
    data = runtime.report_data(settings)
    return ReportRunner(
        reports=repositories.reports,
        subscriptions=repositories.report_subscriptions,
        files=runtime.report_files(settings),
        mailer=SesMailer(aws_client("ses", settings)),
        build=DocumentBuilder(data).build,
        render=render,
        export=data,
        counters=COUNTERS,
        tenant_name=repositories.directory.tenant_name,
        sender=settings.report_sender,
        link_base=settings.public_base_url,
    )


@lru_cache(maxsize=4)
def scheduler(settings: Settings) -> ReportScheduler:
    repositories = runtime.store_repositories(settings)
    return ReportScheduler(
        repositories.reports,
        repositories.report_subscriptions,
        runtime.report_queue(settings),
        runtime.report_data(settings),
    )


def handle(event: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """An SQS batch -> ``{"batchItemFailures": [...]}``; a schedule run -> what it queued."""
    if "report_schedule" in event:
        at = event.get("scheduled_at")
        scheduled_at = datetime.fromisoformat(at.replace("Z", "+00:00")) if at else datetime.now(UTC)
        counts = scheduler(settings).run(event["report_schedule"], scheduled_at)
        log.info("report schedule run", extra={"schedule": event["report_schedule"], "reports": counts})
        return counts
    source = by_name("reports").queue
    max_receives = source.max_receive_count if source else 3
    failures = []
    for record in event.get("Records", []):
        job = orjson.loads(record["body"])
        receives = int(record.get("attributes", {}).get("ApproximateReceiveCount", "1"))
        try:
            outcome = runner(settings).run(job["tenant_id"], job["report_id"], final_attempt=receives >= max_receives)
        except Exception:
            log.exception("report generation failed", extra={"report_id": job.get("report_id")})
            failures.append({"itemIdentifier": record["messageId"]})
            continue
        if outcome == "busy":  # another worker holds it: let the queue bring it back later
            failures.append({"itemIdentifier": record["messageId"]})
        log.info("report job", extra={"report_id": job["report_id"], "outcome": outcome})
    return {"batchItemFailures": failures}
