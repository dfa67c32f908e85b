"""Dashboard KPIs of a site, computed from its entities. Pure functions: no I/O."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from .model import (
    ACTIVE_WORK_ORDER_STATUSES,
    Alert,
    AlertStatus,
    Asset,
    AssetStatus,
    WorkOrder,
)

# Assets that count towards availability: decommissioned ones are out of the fleet.
_IN_SERVICE = {s for s in AssetStatus if s is not AssetStatus.decommissioned}
_AVAILABLE = {AssetStatus.operational, AssetStatus.degraded}


def site_kpis(
    site_id: str, assets: Iterable[Asset], work_orders: Iterable[WorkOrder], alerts: Iterable[Alert], now: datetime
) -> dict[str, Any]:
    """Availability, open work by priority, overdue work and unresolved alerts by severity."""
    assets, work_orders, alerts = list(assets), list(work_orders), list(alerts)
    in_service = [a for a in assets if a.status in _IN_SERVICE]
    available = sum(1 for a in in_service if a.status in _AVAILABLE)
    active = [w for w in work_orders if w.status in ACTIVE_WORK_ORDER_STATUSES]
    unresolved = [a for a in alerts if a.status is not AlertStatus.resolved]
    return {
        "site_id": site_id,
        "computed_at": now.isoformat(),
        "assets": {
            "total": len(assets),
            "by_status": dict(Counter(a.status.value for a in assets)),
            "availability_percent": round(100.0 * available / len(in_service), 2) if in_service else None,
        },
        "work_orders": {
            "active": len(active),
            "active_by_priority": dict(Counter(w.priority.value for w in active)),
            "active_by_status": dict(Counter(w.status.value for w in active)),
            "overdue": sum(1 for w in active if w.due_at is not None and w.due_at < now),
        },
        "alerts": {
            "unresolved": len(unresolved),
            "unresolved_by_severity": dict(Counter(a.severity.value for a in unresolved)),
            "unacknowledged": sum(1 for a in unresolved if a.status is AlertStatus.active),
        },
    }
