"""A site's dashboard KPIs (domain/kpis.py), computed from its assets, active work orders and unresolved
alerts, and memoized across all processes."""

from __future__ import annotations

import orjson

from dcmms.domain.kpis import site_kpis
from dcmms.domain.model import ACTIVE_WORK_ORDER_STATUSES, AlertStatus, Principal, utcnow

from .common import SITE, Service, read_all

# The spec's dashboard KPI freshness (section 4.1: query results 5 minutes).
KPI_TTL_S = 300

_UNRESOLVED = (AlertStatus.active, AlertStatus.acknowledged)


class KpiService(Service):
    def site_kpis(self, p: Principal, site_id: str) -> bytes:
        """The site's KPIs as JSON, computed at most every ``KPI_TTL_S``."""
        self._read(SITE, p, site_id)  # 404 for a missing or foreign site

        def compute() -> bytes:
            t, repos = p.tenant_id, self.repositories
            active = [s.value for s in ACTIVE_WORK_ORDER_STATUSES]
            unresolved = [s.value for s in _UNRESOLVED]
            return orjson.dumps(
                site_kpis(
                    site_id,
                    read_all(repos.assets.list, t, site_id=site_id),
                    read_all(repos.work_orders.list, t, site_id=site_id, statuses=active),
                    read_all(repos.alerts.list, t, site_id=site_id, statuses=unresolved),
                    utcnow(),
                )
            )

        if self.cache is None:
            return compute()
        return self.cache.memoize("site-kpis", p.tenant_id, site_id, KPI_TTL_S, compute)
