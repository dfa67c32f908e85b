"""Use cases: what a caller may do to sites, assets, work orders and alerts, scoped to its tenant.

One module per aggregate (fleet, work_orders, alerts, kpis) over the shared mechanics of ``common``; the
repositories and the cache they need are the protocols of ``ports``, passed in by ``dcmms.runtime``.
"""

from .alerts import AlertService
from .fleet import FleetService
from .kpis import KpiService
from .maintenance import Maintenance
from .work_orders import WorkOrderService

__all__ = ["AlertService", "FleetService", "KpiService", "Maintenance", "WorkOrderService"]
