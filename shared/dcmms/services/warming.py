"""Cache warming: reference data, the most-read work orders and per-site KPIs, loaded ahead of demand.

Runs on deploy, on a schedule and at local-stack start; a Redis lock keeps it single-flight across
concurrent invocations.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

from dcmms.cache import LockNotAcquired, RedisLock, keys
from dcmms.domain.errors import NotFound
from dcmms.domain.model import Principal

from .common import SITE, WORK_ORDER, doc_of, read_all, system_principal
from .maintenance import Maintenance

TOP_WORK_ORDERS = 100
LOCK_TTL_MS = 10 * 60 * 1000


@dataclass
class WarmReport:
    ran: bool
    tenants: int = 0
    sites: int = 0
    kpis: int = 0
    work_orders: int = 0

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def warmer_principal(tenant_id: str) -> Principal:
    return system_principal(tenant_id, "system:warmer")


def warm_caches(maintenance: Maintenance, tenant_ids: list[str], top_n: int = TOP_WORK_ORDERS) -> WarmReport:
    """Fill the cache; returns what was loaded, or ``ran=False`` when another warmer holds the lock."""
    cache, repos = maintenance.cache, maintenance.repositories
    if cache is None:
        return WarmReport(ran=False)
    try:
        lock = RedisLock(cache.redis.client, keys.job_lock("cache-warmer"), ttl_ms=LOCK_TTL_MS)
        with lock:
            report = WarmReport(ran=True, tenants=len(tenant_ids))
            for tenant in tenant_ids:
                p = warmer_principal(tenant)
                maintenance.fleet.list_sites(p, 50, None)  # the first page of the tenant's sites
                for site in read_all(repos.sites.list, tenant):
                    cache.put_entity(SITE.cache, tenant, site.id, doc_of(site))
                    maintenance.kpis.site_kpis(p, site.id)
                    report.sites += 1
                    report.kpis += 1
            today = datetime.now(UTC)
            days = [d.strftime("%Y%m%d") for d in (today, today - timedelta(days=1))]
            for tenant, wo_id in cache.top_reads(WORK_ORDER.cache, days, top_n):
                try:
                    cache.put_entity(WORK_ORDER.cache, tenant, wo_id, doc_of(repos.work_orders.get(tenant, wo_id)))
                    report.work_orders += 1
                except NotFound:
                    continue
            return report
    except LockNotAcquired:
        return WarmReport(ran=False)
