"""Reliability of an asset over a period (MTTR, MTBF, downtime by reason) from the read model's downtime
episodes and corrective work orders, and a supervisor's edit of an episode's reason (docs/kpis.md)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import orjson

from dcmms.domain.commands import DowntimeReason
from dcmms.domain.energy import reliability
from dcmms.domain.errors import NotFound
from dcmms.domain.model import Principal

from .common import field_error, require_fleet
from .fleet import FleetService

DEFAULT_PERIOD = timedelta(days=30)
MAX_PERIOD = timedelta(days=366)
EPISODES_SHOWN = 50


class DowntimeReader(Protocol):
    def episodes(self, tenant_id: str, asset_id: str, since: datetime, until: datetime) -> list[dict[str, Any]]: ...

    def repairs(self, tenant_id: str, asset_id: str, since: datetime, until: datetime) -> list[float]: ...

    def edit(
        self, tenant_id: str, episode_id: str, reason: str, note: str | None, by: str
    ) -> dict[str, Any] | None: ...


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def episode_json(e: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": e["id"],
        "asset_id": e["asset_id"],
        "site_id": e.get("site_id"),
        "started_at": _iso(e["started_at"]),
        "ended_at": _iso(e.get("ended_at")),
        "reason": e["reason"],
        "source": e["source"],
        "alert_id": e.get("alert_id"),
        "note": e.get("note"),
        "edited_by": e.get("edited_by"),
        "edited_at": _iso(e.get("edited_at")),
        "href": f"/api/v1/downtime/{e['id']}",
    }


def clipped_hours(e: dict[str, Any], since: datetime, until: datetime) -> float:
    """The part of an episode inside [since, until), in hours (an open episode runs until ``until``)."""
    started: datetime = e["started_at"]
    ended: datetime = e.get("ended_at") or until
    return max(0.0, (min(ended, until) - max(started, since)).total_seconds() / 3600)


class ReliabilityService:
    def __init__(self, fleet: FleetService, reader: Callable[[], DowntimeReader]) -> None:
        self.fleet = fleet
        self._reader_factory = reader

    def asset_reliability(self, p: Principal, asset_id: str, start: datetime | None, end: datetime | None) -> bytes:
        """Forced outages (failures), MTTR and MTBF over the period (default: the last 30 days), excused
        downtime by reason, the corrective work completed in it, and the newest episodes."""
        self.fleet.read_asset(p, asset_id)  # 404 for a missing or foreign asset
        until = (end or datetime.now(UTC)).astimezone(UTC)
        since = (start or until - DEFAULT_PERIOD).astimezone(UTC)
        if since >= until:
            raise field_error("from", "must be before 'to'", "query")
        if until - since > MAX_PERIOD:
            raise field_error("from", f"the period may span at most {MAX_PERIOD.days} days", "query")
        reader = self._reader_factory()
        episodes = reader.episodes(p.tenant_id, asset_id, since, until)
        period_h = (until - since).total_seconds() / 3600
        forced = [clipped_hours(e, since, until) for e in episodes if e["reason"] == DowntimeReason.forced]
        excused: dict[str, float] = {}
        for e in episodes:
            if e["reason"] != DowntimeReason.forced:
                excused[e["reason"]] = excused.get(e["reason"], 0.0) + clipped_hours(e, since, until)
        figures = reliability(period_h, forced)
        repairs = reader.repairs(p.tenant_id, asset_id, since, until)
        return orjson.dumps(
            {
                "asset_id": asset_id,
                "from": _iso(since),
                "to": _iso(until),
                "period_h": round(period_h, 3),
                "failures": figures.failures,
                "downtime_h": round(figures.downtime_h, 3),
                "excused_downtime_h": {k: round(v, 3) for k, v in sorted(excused.items())},
                "mttr_h": None if figures.mttr_h is None else round(figures.mttr_h, 3),
                "mtbf_h": None if figures.mtbf_h is None else round(figures.mtbf_h, 3),
                "corrective_work_orders": {
                    "completed": len(repairs),
                    "mean_repair_h": round(sum(repairs) / len(repairs), 3) if repairs else None,
                },
                "episodes": [episode_json(e) for e in episodes[:EPISODES_SHOWN]],
            }
        )

    def edit_episode(self, p: Principal, episode_id: str, reason: DowntimeReason, note: str | None) -> bytes:
        """A supervisor's (or admin's) reason and note for an episode; the triggers never change them again."""
        require_fleet(p)
        row = self._reader_factory().edit(p.tenant_id, episode_id, reason.value, note, p.user_id)
        if row is None:
            raise NotFound(f"No downtime episode '{episode_id}'.")
        return orjson.dumps(episode_json(row))
