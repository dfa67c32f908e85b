"""All the operational services of one execution environment, over one set of repositories and one cache.

``dcmms.runtime.maintenance`` builds it (the composition root); the API keeps it as ``app.state.maintenance``
and its routes call the service of their aggregate, e.g. ``maintenance.fleet.create_site``.
"""

from __future__ import annotations

from dcmms.cache import RedisCache

from .alerts import AlertService
from .fleet import FleetService
from .kpis import KpiService
from .ports import PageEncoder, Repositories
from .work_orders import WorkOrderService


class Maintenance:
    """Sites and assets (``fleet``), ``work_orders``, ``alerts`` with their rules, and ``kpis``."""

    def __init__(self, repositories: Repositories, cache: RedisCache | None, encode_page: PageEncoder) -> None:
        self.repositories = repositories
        self.cache = cache
        self.fleet = FleetService(repositories, cache, encode_page)
        self.work_orders = WorkOrderService(repositories, cache, encode_page)
        self.alerts = AlertService(repositories, cache, encode_page)
        self.kpis = KpiService(repositories, cache, encode_page)
