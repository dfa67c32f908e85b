"""Reports as the domain knows them: the types, formats and states, a report job (``Report``), a subscription,
and the request rules (which parameters each type takes, its default period and its longest span). No I/O.

Periods are inclusive local dates: a site's own days for the site and fleet reports (the dashboards' daily
rows are per local day), UTC days for the telemetry export.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from .ids import ulid
from .model import Entity


class ReportType(StrEnum):
    site_daily = "site-daily"
    fleet_monthly = "fleet-monthly"
    work_order_backlog = "work-order-backlog"
    asset_reliability = "asset-reliability"
    telemetry_export = "telemetry-export"


class ReportFormat(StrEnum):
    pdf = "pdf"
    csv = "csv"
    xlsx = "xlsx"


class ReportStatus(StrEnum):
    queued = "queued"
    running = "running"
    ready = "ready"
    failed = "failed"


class ReportInterval(StrEnum):
    """The telemetry export's buckets: the telemetry API's intervals."""

    one_minute = "1m"
    five_minutes = "5m"
    fifteen_minutes = "15m"
    one_hour = "1h"
    one_day = "1d"


FORMATS: dict[ReportType, frozenset[ReportFormat]] = {
    ReportType.site_daily: frozenset(ReportFormat),
    ReportType.fleet_monthly: frozenset(ReportFormat),
    ReportType.work_order_backlog: frozenset(ReportFormat),
    ReportType.asset_reliability: frozenset(ReportFormat),
    # rows by the million: a spreadsheet holds at most 1,048,576, and nobody prints them
    ReportType.telemetry_export: frozenset({ReportFormat.csv}),
}
# The longest period a request may cover (days, both ends included).
MAX_SPAN_DAYS: dict[ReportType, int] = {
    ReportType.site_daily: 1,
    ReportType.fleet_monthly: 92,
    ReportType.work_order_backlog: 366,
    ReportType.asset_reliability: 366,
    ReportType.telemetry_export: 31,
}
SITE_REQUIRED = frozenset({ReportType.site_daily})
SITE_ALLOWED = frozenset({ReportType.site_daily, ReportType.work_order_backlog, ReportType.asset_reliability,
                          ReportType.telemetry_export})  # fmt: skip
ASSET_ALLOWED = frozenset({ReportType.asset_reliability, ReportType.telemetry_export})
CONTENT_TYPES = {
    ReportFormat.pdf: "application/pdf",
    ReportFormat.csv: "text/csv; charset=utf-8",
    ReportFormat.xlsx: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def default_format(kind: ReportType) -> ReportFormat:
    return ReportFormat.csv if kind is ReportType.telemetry_export else ReportFormat.pdf


def default_period(kind: ReportType, today: date) -> tuple[date, date]:
    """The period a request without ``from`` covers, ``today`` being the site's (site-daily) or UTC date."""
    if kind is ReportType.site_daily:
        yesterday = today - timedelta(days=1)
        return yesterday, yesterday
    if kind is ReportType.fleet_monthly:
        last = today.replace(day=1) - timedelta(days=1)
        return last.replace(day=1), last
    if kind is ReportType.telemetry_export:
        return today - timedelta(days=6), today
    return today - timedelta(days=29), today


def previous_period(since: date, until: date) -> tuple[date, date]:
    """The comparison period of month-over-month deltas: the previous calendar month for a whole month, else
    the same number of days just before."""
    if since.day == 1 and (until + timedelta(days=1)).day == 1 and since.replace(day=1) == until.replace(day=1):
        last = since - timedelta(days=1)
        return last.replace(day=1), last
    days = (until - since).days + 1
    return since - timedelta(days=days), since - timedelta(days=1)


class ReportCreate(BaseModel):
    """``POST /api/v1/reports``: what to report on; omitted dates take the type's default period."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    type: ReportType
    format: ReportFormat | None = Field(default=None, description="Default: pdf (telemetry-export: csv).")
    site_id: str | None = Field(default=None, min_length=1, max_length=100)
    asset_id: str | None = Field(default=None, min_length=1, max_length=100)
    from_: date | None = Field(default=None, alias="from", description="First day (included).")
    to: date | None = Field(default=None, description="Last day (included); default: the type's default period.")
    metrics: list[str] | None = Field(
        default=None,
        max_length=32,
        description="telemetry-export: the metrics to export (default: every metric of the asset's or site's types).",
    )
    interval: ReportInterval = Field(
        default=ReportInterval.one_minute, description="telemetry-export: the bucket of each row."
    )


class Report(Entity):
    """A report job and, once ready, its document in the reports bucket (``object_key``)."""

    model_config = ConfigDict(populate_by_name=True, defer_build=True)

    type: ReportType
    format: ReportFormat
    status: ReportStatus = ReportStatus.queued
    reason: str | None = None  # why it failed
    site_id: str | None = None
    asset_id: str | None = None
    from_: date = Field(alias="from")
    to: date
    metrics: list[str] = Field(default_factory=list)
    interval: ReportInterval | None = None
    requested_by: str
    schedule: str | None = None  # the schedule that made it ("site-daily", "fleet-monthly"); None on demand
    object_key: str | None = None
    size_bytes: int | None = None
    rows: int | None = None
    attempts: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def file_name(self) -> str:
        scope = self.asset_id or self.site_id or "fleet"
        period = self.from_.isoformat() if self.from_ == self.to else f"{self.from_.isoformat()}_{self.to.isoformat()}"
        return f"{self.type.value}_{scope}_{period}.{self.format.value}"


# An address as SES takes it (the full RFC 5322 grammar is SES's to judge; this catches typos early).
Email = Annotated[str, Field(pattern=r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+$", max_length=254)]


class ReportSubscriptionCreate(BaseModel):
    """``POST /api/v1/report-subscriptions``: email the scheduled reports of a type to people."""

    model_config = ConfigDict(extra="forbid")

    type: ReportType = Field(description="site-daily or fleet-monthly: the scheduled types.")
    site_ids: list[str] = Field(
        default_factory=list, max_length=500, description="site-daily: only these sites (empty: every site)."
    )
    recipients: list[Email] = Field(min_length=1, max_length=50)
    format: ReportFormat = ReportFormat.pdf


SCHEDULED_TYPES = frozenset({ReportType.site_daily, ReportType.fleet_monthly})


class ReportSubscription(Entity):
    type: ReportType
    site_ids: list[str] = Field(default_factory=list)
    recipients: list[str]
    format: ReportFormat = ReportFormat.pdf
    created_by: str

    def covers(self, report: Report) -> bool:
        """Whether ``report`` (a scheduled one) is delivered to this subscription's recipients."""
        if report.type is not self.type or report.format is not self.format or report.schedule is None:
            return False
        return not self.site_ids or report.site_id in self.site_ids or report.type is ReportType.fleet_monthly


def scheduled_report_id(tenant_id: str, kind: ReportType, scope: str, since: date, fmt: ReportFormat) -> str:
    """The id of the one report a schedule makes for (tenant, type, site or fleet, period, format): a ULID whose
    time is the period's first day and whose randomness is a hash of the rest, so a retried run names the same
    report (created once, conditionally) and ids still sort by period."""
    at_ms = int(datetime(since.year, since.month, since.day, tzinfo=UTC).timestamp() * 1000)
    digest = hashlib.sha256(f"{tenant_id}|{kind.value}|{scope}|{since.isoformat()}|{fmt.value}".encode()).digest()
    return f"rpt_{ulid(at_ms, digest)}"
