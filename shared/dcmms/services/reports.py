"""Reports: requested through the API (``ReportService``), made by the ``reports`` function from its queue
(``ReportRunner``), and put on the queue by the schedules (``ReportScheduler``).

A report is a job in the reports table: ``queued`` when requested, ``running`` while a worker holds it (a
versioned write claims it, so two deliveries of one message make one document), then ``ready`` with its
document in the reports bucket, or ``failed`` with a reason. A scheduled report's id is derived from what it
covers (``scheduled_report_id``), so a retried schedule run finds the report it already made instead of making
a second one. Every call is scoped to the caller's tenant: another tenant's report is a 404.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import IO, Any, Protocol
from zoneinfo import ZoneInfo

import orjson

from dcmms.cache import Doc
from dcmms.domain.errors import NotFound, ServiceUnavailable, ValidationFailed
from dcmms.domain.model import AssetType, Principal, utcnow
from dcmms.domain.reports import (
    ASSET_ALLOWED,
    CONTENT_TYPES,
    FORMATS,
    MAX_SPAN_DAYS,
    SCHEDULED_TYPES,
    SITE_ALLOWED,
    SITE_REQUIRED,
    Report,
    ReportCreate,
    ReportFormat,
    ReportInterval,
    ReportStatus,
    ReportSubscription,
    ReportSubscriptionCreate,
    ReportType,
    default_format,
    default_period,
    scheduled_report_id,
)
from dcmms.reports.document import Document
from dcmms.store.errors import AlreadyExists, StaleVersion
from dcmms.store.results import ListResult

from .common import field_error, new_entity, read_all, require_fleet
from .fleet import FleetService
from .ports import Repository

log = logging.getLogger(__name__)

# A worker that claimed a report this long ago is gone (the function's timeout is 300 s): another may take over.
STALE_CLAIM = timedelta(minutes=10)
# Email links: a person opens an email hours later; a 15-minute link would be dead by then (docs/reports.md).
EMAIL_LINK_TTL_S = 7 * 86400
SITE_DAILY_AT = (6, 0)  # local time the site-daily report is made, for the previous local day
SCHEDULE_WINDOW = timedelta(minutes=15)  # the site-daily schedule's period


class Reports(Repository[Report], Protocol):
    def list(self, tenant_id: str, limit: int, cursor: str | None = None) -> ListResult[Report]: ...


class Subscriptions(Repository[ReportSubscription], Protocol):
    def list(self, tenant_id: str, limit: int, cursor: str | None = None) -> ListResult[ReportSubscription]: ...


class ReportQueue(Protocol):
    def send(self, tenant_id: str, report_id: str) -> None: ...


class ReportFiles(Protocol):
    def put(self, key: str, body: IO[bytes], content_type: str, file_name: str) -> int:
        """Store ``body`` at ``key`` (encrypted); returns its size in bytes."""
        ...

    def download_url(self, key: str, file_name: str, content_type: str, ttl_s: int) -> str: ...


class Mailer(Protocol):
    def send(self, sender: str, recipients: Sequence[str], subject: str, text: str, html: str) -> str: ...


class Rendered(Protocol):
    @property
    def body(self) -> bytes: ...


class TelemetryExport(Protocol):
    def export_telemetry(
        self,
        tenant_id: str,
        asset_ids: Sequence[str] | None,
        site_id: str | None,
        metrics: Sequence[str],
        counters: frozenset[str],
        since: datetime,
        until: datetime,
        width: str,
        out: IO[bytes],
    ) -> int: ...

    def all_sites(self) -> list[dict[str, Any]]: ...


def object_key(report: Report) -> str:
    return f"reports/{report.tenant_id}/{report.id}.{report.format.value}"


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def report_json(r: Report, download_url: str | None = None, expires: datetime | None = None) -> dict[str, Any]:
    return {
        "id": r.id,
        "type": r.type.value,
        "format": r.format.value,
        "status": r.status.value,
        "reason": r.reason,
        "site_id": r.site_id,
        "asset_id": r.asset_id,
        "from": r.from_.isoformat(),
        "to": r.to.isoformat(),
        "metrics": r.metrics,
        "interval": r.interval.value if r.interval else None,
        "schedule": r.schedule,
        "requested_by": r.requested_by,
        "created_at": _iso(r.created_at),
        "started_at": _iso(r.started_at),
        "finished_at": _iso(r.finished_at),
        "file_name": r.file_name,
        "size_bytes": r.size_bytes,
        "rows": r.rows,
        "download_url": download_url,
        "download_expires_at": _iso(expires),
        "href": f"/api/v1/reports/{r.id}",
    }


def subscription_json(s: ReportSubscription) -> dict[str, Any]:
    return {**orjson.loads(s.model_dump_json()), "href": f"/api/v1/report-subscriptions/{s.id}"}


def _page(items: list[dict[str, Any]], next_cursor: str | None) -> bytes:
    return orjson.dumps({"items": items, "next_cursor": next_cursor})


class ReportService:
    """The API's side: request, read (with a fresh 15-minute link when ready), list; subscriptions."""

    def __init__(
        self,
        fleet: FleetService,
        reports: Callable[[], Reports],
        subscriptions: Callable[[], Subscriptions],
        queue: Callable[[], ReportQueue],
        files: Callable[[], ReportFiles],
        metrics_of: Callable[[str], frozenset[str]],
        link_ttl_s: int = 900,
        today: Callable[[], date] = lambda: datetime.now(UTC).date(),
    ) -> None:
        self.fleet = fleet
        self._reports = reports
        self._subscriptions = subscriptions
        self._queue = queue
        self._files = files
        self._metrics_of = metrics_of  # asset type -> its metric names
        self.link_ttl_s = link_ttl_s
        self._today = today

    # -- requests --------------------------------------------------------------------------------------------

    def request(self, p: Principal, body: ReportCreate) -> Report:
        """Check the request, store the job ``queued`` and put it on the queue (the reports function makes it)."""
        kind = body.type
        fmt = body.format or default_format(kind)
        if fmt not in FORMATS[kind]:
            allowed = ", ".join(sorted(f.value for f in FORMATS[kind]))
            raise field_error("format", f"{kind.value} is made as {allowed}")
        if body.site_id is None and kind in SITE_REQUIRED:
            raise field_error("site_id", f"{kind.value} needs a site_id")
        if body.site_id is not None and kind not in SITE_ALLOWED:
            raise field_error("site_id", f"{kind.value} covers the whole fleet; leave site_id out")
        if body.asset_id is not None and kind not in ASSET_ALLOWED:
            raise field_error("asset_id", f"{kind.value} takes no asset_id")
        if kind is ReportType.telemetry_export and body.site_id is None and body.asset_id is None:
            raise field_error("site_id", "telemetry-export needs a site_id or an asset_id")
        if kind is not ReportType.telemetry_export and body.metrics:
            raise field_error("metrics", "only telemetry-export takes metrics")
        zone = "UTC"
        asset: dict[str, Any] | None = None
        if body.asset_id is not None:
            asset = self._referenced(lambda: self.fleet.read_asset(p, body.asset_id or ""), "asset_id", body.asset_id)
            if body.site_id is not None and asset.get("site_id") != body.site_id:
                raise field_error("asset_id", f"the asset is not at site '{body.site_id}'")
        if body.site_id is not None:
            site = self._referenced(lambda: self.fleet.read_site(p, body.site_id or ""), "site_id", body.site_id)
            if kind is ReportType.site_daily:
                zone = site.get("timezone") or "UTC"
        today = datetime.now(ZoneInfo(zone)).date() if zone != "UTC" else self._today()
        since, until = _period(kind, body.from_, body.to, today)
        metrics = self._metrics(body, asset) if kind is ReportType.telemetry_export else []
        report = new_entity(
            Report,
            "rpt",
            p,
            {
                "type": kind,
                "format": fmt,
                "site_id": body.site_id,
                "asset_id": body.asset_id,
                "from": since,
                "to": until,
                "metrics": metrics,
                "interval": body.interval if kind is ReportType.telemetry_export else None,
                "requested_by": p.user_id,
            },
        )
        self._reports().create(report)
        self._enqueue(report)
        return report

    @staticmethod
    def _referenced(read: Callable[[], Doc], field: str, entity_id: str) -> dict[str, Any]:
        """A site or asset the request names, or a 422 naming the field (another tenant's is no different)."""
        try:
            found: dict[str, Any] = orjson.loads(read().body)
        except NotFound:
            raise field_error(field, f"no {field.removesuffix('_id')} '{entity_id}'") from None
        return found

    def _metrics(self, body: ReportCreate, asset: dict[str, Any] | None) -> list[str]:
        known = (
            self._metrics_of(asset["type"])
            if asset
            else frozenset().union(*(self._metrics_of(t.value) for t in AssetType))
        )
        if not body.metrics:
            return sorted(known)
        unknown = [m for m in body.metrics if m not in known]
        if unknown:
            scope = f"{asset['type']} assets" if asset else "any asset type"
            raise field_error("metrics", f"not metrics of {scope}: {', '.join(unknown)}")
        return list(dict.fromkeys(body.metrics))

    def _enqueue(self, report: Report) -> None:
        try:
            self._queue().send(report.tenant_id, report.id)
        except Exception as exc:
            log.exception("report could not be queued", extra={"report_id": report.id})
            failed = report.model_copy(
                update={
                    "status": ReportStatus.failed,
                    "reason": "it could not be queued; request it again",
                    "version": report.version + 1,
                    "updated_at": utcnow(),
                }  # fmt: skip
            )
            self._reports().replace(failed, report.version)
            raise ServiceUnavailable("The report queue cannot be reached; try again shortly.") from exc

    # -- reads -----------------------------------------------------------------------------------------------

    def read(self, p: Principal, report_id: str) -> bytes:
        report = self._reports().get(p.tenant_id, report_id)  # NotFound for a missing or foreign one
        return orjson.dumps(self._shown(report))

    def list(self, p: Principal, limit: int, cursor: str | None) -> bytes:
        page = self._reports().list(p.tenant_id, limit, cursor)
        return _page([report_json(r) for r in page.items], page.next_cursor)

    def _shown(self, report: Report) -> dict[str, Any]:
        if report.status is not ReportStatus.ready or not report.object_key:
            return report_json(report)
        url = self._files().download_url(
            report.object_key, report.file_name, CONTENT_TYPES[report.format], self.link_ttl_s
        )
        return report_json(report, url, utcnow() + timedelta(seconds=self.link_ttl_s))

    # -- subscriptions ---------------------------------------------------------------------------------------

    def subscribe(self, p: Principal, body: ReportSubscriptionCreate) -> ReportSubscription:
        require_fleet(p)
        if body.type not in SCHEDULED_TYPES:
            raise field_error("type", "only the scheduled reports (site-daily, fleet-monthly) are delivered")
        if body.type is ReportType.fleet_monthly and body.site_ids:
            raise field_error("site_ids", "fleet-monthly covers the whole fleet; leave site_ids out")
        for site_id in body.site_ids:
            self._referenced(lambda: self.fleet.read_site(p, site_id), "site_ids", site_id)  # noqa: B023
        sub = new_entity(
            ReportSubscription,
            "rsub",
            p,
            {**body.model_dump(), "site_ids": list(dict.fromkeys(body.site_ids)), "created_by": p.user_id},
        )
        return self._subscriptions().create(sub)

    def subscription(self, p: Principal, subscription_id: str) -> bytes:
        return orjson.dumps(subscription_json(self._subscriptions().get(p.tenant_id, subscription_id)))

    def list_subscriptions(self, p: Principal, limit: int, cursor: str | None) -> bytes:
        page = self._subscriptions().list(p.tenant_id, limit, cursor)
        return _page([subscription_json(s) for s in page.items], page.next_cursor)

    def unsubscribe(self, p: Principal, subscription_id: str) -> None:
        require_fleet(p)
        self._subscriptions().delete(self._subscriptions().get(p.tenant_id, subscription_id))


def _period(kind: ReportType, since: date | None, until: date | None, today: date) -> tuple[date, date]:
    """The request's period: its dates, else the type's default; 422 naming ``from`` or ``to`` when it is
    reversed, in the future or longer than the type allows."""
    default_since, default_until = default_period(kind, today)
    if since is None and until is None:
        since, until = default_since, default_until
    elif until is None:
        assert since is not None
        if kind is ReportType.site_daily:
            until = since
        elif kind is ReportType.fleet_monthly:
            until = (since.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
        else:
            until = today
    elif since is None:
        span = (default_until - default_since).days
        since = until.replace(day=1) if kind is ReportType.fleet_monthly else until - timedelta(days=span)
    if since > until:
        raise field_error("from", "must not be after 'to'")
    if until > today:
        raise field_error("to", f"must not be after today ({today.isoformat()})")
    longest = MAX_SPAN_DAYS[kind]
    if (until - since).days + 1 > longest:
        raise field_error("to", f"{kind.value} covers at most {longest} day{'s' if longest > 1 else ''}")
    return since, until


# -- the reports function ----------------------------------------------------------------------------------------


class ReportRunner:
    """Makes one report: claim it, build and render its document (or stream the telemetry export), store it,
    mark it ready, email the subscribers of a scheduled one."""

    def __init__(
        self,
        reports: Reports,
        subscriptions: Subscriptions,
        files: ReportFiles,
        mailer: Mailer | None,
        build: Callable[[Report, str], Document],
        render: Callable[[Document, str], Rendered],
        export: TelemetryExport,
        counters: frozenset[str],
        tenant_name: Callable[[str], str],
        sender: str,
        link_base: str = "",
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self.reports, self.subscriptions, self.files, self.mailer = reports, subscriptions, files, mailer
        self.build, self.render, self.export, self.counters = build, render, export, counters
        self.tenant_name, self.sender, self.link_base, self.now = tenant_name, sender, link_base, now

    def run(self, tenant_id: str, report_id: str, final_attempt: bool = False) -> str:
        """``made``, ``done`` (already ready or failed: a redelivered message), ``busy`` (another worker holds
        it: the caller retries later) or ``failed``. A transient error propagates after the job is put back to
        ``queued`` (``failed`` on the final attempt), so the queue redelivers it."""
        try:
            report = self.reports.get(tenant_id, report_id)
        except NotFound:
            log.warning("report job for a report that does not exist", extra={"report_id": report_id})
            return "done"
        if report.status in (ReportStatus.ready, ReportStatus.failed):
            return "done"
        now = self.now()
        if report.status is ReportStatus.running and report.started_at and now - report.started_at < STALE_CLAIM:
            return "busy"
        claimed = report.model_copy(
            update={
                "status": ReportStatus.running,
                "started_at": now,
                "attempts": report.attempts + 1,
                "reason": None,
                "version": report.version + 1,
                "updated_at": now,
            }  # fmt: skip
        )
        try:
            self.reports.replace(claimed, report.version)
        except StaleVersion:
            return "busy"
        try:
            size, rows = self._make(claimed)
        except (ValidationFailed, NotFound) as exc:
            self._finish(claimed, ReportStatus.failed, reason=exc.detail)
            return "failed"
        except Exception as exc:
            reason = f"generation failed ({type(exc).__name__}); " + ("gave up" if final_attempt else "retrying")
            self._finish(claimed, ReportStatus.failed if final_attempt else ReportStatus.queued, reason=reason)
            raise
        ready = self._finish(claimed, ReportStatus.ready, object_key=object_key(claimed), size_bytes=size, rows=rows)
        if ready.schedule:
            self._deliver(ready)
        return "made"

    def _finish(self, report: Report, status: ReportStatus, **fields: Any) -> Report:
        now = self.now()
        done = report.model_copy(
            update={
                "status": status,
                "finished_at": now if status is not ReportStatus.queued else None,
                "version": report.version + 1,
                "updated_at": now,
                **fields,
            }  # fmt: skip
        )
        return self.reports.replace(done, report.version)

    def _make(self, report: Report) -> tuple[int, int | None]:
        key, content_type = object_key(report), CONTENT_TYPES[report.format]
        with tempfile.TemporaryFile(prefix="dcmms-report-") as out:
            if report.type is ReportType.telemetry_export:
                rows: int | None = self._export(report, out)
            else:
                document = self.build(report, self.tenant_name(report.tenant_id))
                rendered = self.render(document, report.format.value)
                out.write(rendered.body)
                table = document.primary_table()
                rows = len(table.rows) if table is not None else None
            out.seek(0)
            return self.files.put(key, out, content_type, report.file_name), rows

    def _export(self, report: Report, out: IO[bytes]) -> int:
        since = datetime.combine(report.from_, datetime.min.time(), UTC)
        until = datetime.combine(report.to + timedelta(days=1), datetime.min.time(), UTC)
        assets = [report.asset_id] if report.asset_id else None
        width = _WIDTHS[report.interval or ReportInterval.one_minute]
        return self.export.export_telemetry(
            report.tenant_id, assets, report.site_id, report.metrics, self.counters, since, until, width, out
        )

    def _deliver(self, report: Report) -> None:
        """Email the report's link to each subscription it covers; a failed send is logged, the report stays."""
        if self.mailer is None or not report.object_key:
            return
        subs = [s for s in read_all(self.subscriptions.list, report.tenant_id) if s.covers(report)]
        if not subs:
            return
        url = self.files.download_url(
            report.object_key, report.file_name, CONTENT_TYPES[report.format], EMAIL_LINK_TTL_S
        )
        scope = report.site_id or "fleet"
        period = report.from_.isoformat() if report.from_ == report.to else f"{report.from_} – {report.to}"
        subject = f"dCMMS {report.type.value} report: {scope}, {period}"
        page = f"{self.link_base}/api/v1/reports/{report.id}"
        text = (
            f"Your {report.type.value} report for {scope} ({period}) is ready.\n\n"
            f"Download ({report.format.value.upper()}, link valid 7 days): {url}\n"
            f"Report: {page}\n"
        )
        html = (
            f"<p>Your <b>{report.type.value}</b> report for {scope} ({period}) is ready.</p>"
            f'<p><a href="{url}">Download the {report.format.value.upper()}</a> (link valid 7 days)</p>'
            f'<p>Report: <a href="{page}">{page}</a></p>'
        )
        for sub in subs:
            try:
                self.mailer.send(self.sender, sub.recipients, subject, text, html)
            except Exception:
                log.exception("report email failed", extra={"report_id": report.id, "subscription_id": sub.id})


_WIDTHS = {
    ReportInterval.one_minute: "1 minute",
    ReportInterval.five_minutes: "5 minutes",
    ReportInterval.fifteen_minutes: "15 minutes",
    ReportInterval.one_hour: "1 hour",
    ReportInterval.one_day: "1 day",
}


class ReportScheduler:
    """What a schedule run makes: ``site-daily`` for every site whose local time at the run's scheduled time is
    06:00-06:14 (its previous local day), ``fleet-monthly`` for every tenant (the previous month). Each report
    is created once (its id is derived from what it covers) and queued; a retried run re-queues only what is
    still queued (the runner ignores a second message for a report already made)."""

    def __init__(self, reports: Reports, subscriptions: Subscriptions, queue: ReportQueue, data: TelemetryExport):
        self.reports, self.subscriptions, self.queue, self.data = reports, subscriptions, queue, data

    def run(self, schedule: str, scheduled_at: datetime) -> dict[str, int]:
        kind = ReportType(schedule)
        counts = {"created": 0, "existing": 0, "queued": 0}
        subs: dict[str, list[ReportSubscription]] = {}
        for tenant_id, scope, since, until in self._due(kind, scheduled_at):
            if tenant_id not in subs:
                subs[tenant_id] = [s for s in read_all(self.subscriptions.list, tenant_id) if s.type is kind]
            formats = {ReportFormat.pdf} | {
                s.format
                for s in subs[tenant_id]
                if kind is ReportType.fleet_monthly or not s.site_ids or scope in s.site_ids
            }
            for fmt in sorted(formats):
                self._create(tenant_id, kind, scope, since, until, fmt, counts)
        return counts

    def _due(self, kind: ReportType, at: datetime) -> Iterator[tuple[str, str | None, date, date]]:
        sites = self.data.all_sites()
        if kind is ReportType.site_daily:
            for s in sites:
                local = at.astimezone(ZoneInfo(s["timezone"]))
                start = local.replace(hour=SITE_DAILY_AT[0], minute=SITE_DAILY_AT[1], second=0, microsecond=0)
                if start <= local < start + SCHEDULE_WINDOW:
                    day = local.date() - timedelta(days=1)
                    yield s["tenant_id"], s["site_id"], day, day
        else:
            last = at.astimezone(UTC).date().replace(day=1) - timedelta(days=1)
            for tenant_id in sorted({s["tenant_id"] for s in sites}):
                yield tenant_id, None, last.replace(day=1), last

    def _create(
        self,
        tenant_id: str,
        kind: ReportType,
        site_id: str | None,
        since: date,
        until: date,
        fmt: ReportFormat,
        counts: dict[str, int],
    ) -> None:
        now = utcnow()
        report = Report.model_validate(
            {
                "id": scheduled_report_id(tenant_id, kind, site_id or "fleet", since, fmt),
                "tenant_id": tenant_id,
                "created_at": now,
                "updated_at": now,
                "type": kind,
                "format": fmt,
                "site_id": site_id,
                "from": since,
                "to": until,
                "requested_by": f"schedule:{kind.value}",
                "schedule": kind.value,
            }  # fmt: skip
        )
        try:
            self.reports.create(report)
            counts["created"] += 1
        except AlreadyExists:
            counts["existing"] += 1
            report = self.reports.get(tenant_id, report.id)
            if report.status is not ReportStatus.queued:
                return
        self.queue.send(tenant_id, report.id)
        counts["queued"] += 1
