"""All the operational services of one execution environment, over one set of repositories and one cache.

``dcmms.runtime.maintenance`` builds it (the composition root); the API keeps it as ``app.state.maintenance``
and its routes call the service of their aggregate, e.g. ``maintenance.fleet.create_site``.
"""

from __future__ import annotations

from collections.abc import Callable

from dcmms.cache import RedisCache

from .alerts import AlertService
from .fleet import FleetService
from .kpis import KpiService
from .pm import Meters, PMService
from .ports import PageEncoder, Repositories
from .procedures import ProcedureService
from .work_orders import WorkOrderService


class Maintenance:
    """Sites and assets (``fleet``), ``work_orders``, ``alerts`` with their rules, ``kpis``, ``procedures`` and preventive maintenance (``pm``)."""

    def __init__(
        self,
        repositories: Repositories,
        cache: RedisCache | None,
        encode_page: PageEncoder,
        meters: Callable[[], Meters] | None = None,
    ) -> None:
        self.repositories = repositories
        self.cache = cache
        self.fleet = FleetService(repositories, cache, encode_page)
        self.work_orders = WorkOrderService(repositories, cache, encode_page)
        self.alerts = AlertService(repositories, cache, encode_page)
        self.kpis = KpiService(repositories, cache, encode_page)
        self.procedures = ProcedureService(repositories, cache, encode_page)
        self.pm = PMService(repositories, cache, encode_page, work_orders=self.work_orders, meters=meters)
