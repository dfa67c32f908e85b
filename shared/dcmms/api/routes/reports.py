"""Reports: requested here, made asynchronously by the ``reports`` function, downloaded from S3 by a presigned
link; and the subscriptions that email the scheduled ones."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from dcmms.domain.reports import (
    MAX_SPAN_DAYS,
    ReportCreate,
    ReportFormat,
    ReportInterval,
    ReportStatus,
    ReportSubscription,
    ReportSubscriptionCreate,
    ReportType,
)
from dcmms.services.reports import report_json, subscription_json

from ..http import Caller, PageParams, body_response, json_response, model_response, page_response
from ..http import schema_response as schema

router = APIRouter(tags=["reports"])

_TEXT = {"anyOf": [{"type": "string"}, {"type": "null"}]}
_TIME = {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}]}
_COUNT = {"anyOf": [{"type": "integer"}, {"type": "null"}]}
REPORT: dict[str, Any] = {
    "type": "object",
    "required": ["id", "type", "format", "status", "from", "to", "download_url", "href"],
    "properties": {
        "id": {"type": "string"},
        "type": {"enum": [t.value for t in ReportType]},
        "format": {"enum": [f.value for f in ReportFormat]},
        "status": {"enum": [s.value for s in ReportStatus]},
        "reason": _TEXT | {"description": "Why it failed (or why it is being retried)."},
        "site_id": _TEXT,
        "asset_id": _TEXT,
        "from": {"type": "string", "format": "date", "description": "First day covered (included)."},
        "to": {"type": "string", "format": "date", "description": "Last day covered (included)."},
        "metrics": {"type": "array", "items": {"type": "string"}},
        "interval": {"anyOf": [{"enum": [i.value for i in ReportInterval]}, {"type": "null"}]},
        "schedule": _TEXT | {"description": "The schedule that made it (site-daily, fleet-monthly); null on demand."},
        "requested_by": {"type": "string"},
        "created_at": {"type": "string", "format": "date-time"},
        "started_at": _TIME,
        "finished_at": _TIME,
        "file_name": {"type": "string"},
        "size_bytes": _COUNT,
        "rows": _COUNT | {"description": "Rows of the main table (the CSV's data rows)."},
        "download_url": _TEXT
        | {
            "description": "When ready: a presigned S3 URL, valid 15 minutes from this answer; GET again for a new one."
        },
        "download_expires_at": _TIME,
        "href": {"type": "string"},
    },
}
PAGE = {
    "type": "object",
    "required": ["items", "next_cursor"],
    "properties": {"items": {"type": "array", "items": REPORT}, "next_cursor": _TEXT},
}
_SPANS = ", ".join(f"{t.value} {d} day{'s' if d > 1 else ''}" for t, d in MAX_SPAN_DAYS.items())


@router.post(
    "/api/v1/reports",
    status_code=202,
    summary="Request a report; it is made asynchronously (poll its Location)",
    description="Types: `site-daily` (a site's day; `site_id` required; default yesterday in the site's time "
    "zone), `fleet-monthly` (every site; default last month), `work-order-backlog`, `asset-reliability` (optional "
    "`site_id` or `asset_id`; default the last 30 days), `telemetry-export` (CSV of an asset's or a site's "
    "readings per `interval`; `metrics` default all). Formats: pdf, csv, xlsx (telemetry-export: csv). "
    f"Dates are inclusive days; the longest periods: {_SPANS}. Limited to 10 requests a minute per user.",
    responses={202: schema("Report", REPORT, "Queued: the report's state, at the URL in Location")},
)
def request_report(request: Request, body: ReportCreate, caller: Caller) -> Response:
    report = request.app.state.reports.request(caller, body)
    return json_response(report_json(report), 202, {"Location": f"/api/v1/reports/{report.id}"})


@router.get(
    "/api/v1/reports",
    summary="The tenant's reports, newest first",
    responses={200: schema("ReportPage", PAGE, "A page of reports")},
)
def list_reports(request: Request, caller: Caller, page: PageParams) -> Response:
    return body_response(request, request.app.state.reports.list(caller, page.limit, page.cursor), "no-store")


@router.get(
    "/api/v1/reports/{report_id}",
    summary="A report's state; when ready, a download link valid 15 minutes",
    responses={200: schema("Report", REPORT, "The report")},
)
def get_report(request: Request, report_id: str, caller: Caller) -> Response:
    # no-store: the answer carries a short-lived signed link
    return body_response(request, request.app.state.reports.read(caller, report_id), "no-store")


@router.post(
    "/api/v1/report-subscriptions",
    status_code=201,
    summary="Email the scheduled reports (site-daily, fleet-monthly) to people (admins and supervisors)",
    responses={201: model_response(ReportSubscription, "The subscription")},
)
def subscribe(request: Request, body: ReportSubscriptionCreate, caller: Caller) -> Response:
    sub = request.app.state.reports.subscribe(caller, body)
    return json_response(subscription_json(sub), 201, {"Location": f"/api/v1/report-subscriptions/{sub.id}"})


@router.get(
    "/api/v1/report-subscriptions",
    summary="The tenant's report subscriptions",
    responses={200: page_response(ReportSubscription, "A page of subscriptions")},
)
def list_subscriptions(request: Request, caller: Caller, page: PageParams) -> Response:
    return body_response(request, request.app.state.reports.list_subscriptions(caller, page.limit, page.cursor))


@router.get(
    "/api/v1/report-subscriptions/{subscription_id}",
    summary="A report subscription",
    responses={200: model_response(ReportSubscription, "The subscription")},
)
def get_subscription(request: Request, subscription_id: str, caller: Caller) -> Response:
    return body_response(request, request.app.state.reports.subscription(caller, subscription_id))


@router.delete(
    "/api/v1/report-subscriptions/{subscription_id}",
    status_code=204,
    summary="Stop a subscription's emails (admins and supervisors)",
)
def unsubscribe(request: Request, subscription_id: str, caller: Caller) -> Response:
    request.app.state.reports.unsubscribe(caller, subscription_id)
    return Response(status_code=204)
