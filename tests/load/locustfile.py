"""Locust users for the spec's §10.2 mix, plus telemetry gateways; run by ``python -m tests.load``.

The runner writes a JSON configuration (``DCMMS_LOAD_CONFIG``): the host (always 127.0.0.1), the API keys
to spread users over, how many gateways post telemetry, and where to export the statistics at the end.

``ApiUser`` follows the spec's weights (GET work orders 40, GET assets 30, GET alerts 20, POST work
orders 10) with a think time of about a second, as the spec's k6 script sleeps 1 s; requests are named
by route template, whatever their filters. ``TelemetryGateway`` posts a batch of v1 records (one asset's
readings each, docs/telemetry.md) every ``gateway_interval_s``. Sites and assets come from the API once,
at test start, outside the statistics.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import sys
import time
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from locust import FastHttpUser, between, constant_pacing, events, task
from locust.env import Environment

from dcmms_dev.simulator import FleetModel, SimAsset
from tests.load.locust_export import export_stats
from tests.load.scenarios import require_loopback

CONFIG: dict[str, Any] = json.loads(Path(os.environ["DCMMS_LOAD_CONFIG"]).read_text())
require_loopback(CONFIG["host"])
_KEYS = itertools.cycle(CONFIG["keys"])
# Asset types the simulator has readings for.
_TELEMETRY_TYPES = {"inverter", "meter", "string", "weather_station", "turbine"}
_WORK_ORDER_TYPES = ["corrective", "preventive", "inspection"]
_PRIORITIES = ["low", "medium", "high", "critical"]


class Catalogue:
    """Sites and some assets of the tenant, read once through the API."""

    sites: list[dict[str, Any]] = []
    assets_by_site: dict[str, list[dict[str, Any]]] = {}

    @classmethod
    def load(cls, host: str, key: str, sites: int, assets_per_site: int, deadline_s: float = 60.0) -> None:
        """The site list, then assets of up to ``sites`` sites; a site whose assets cannot be read in time is
        skipped. Raises when no site with assets was read within ``deadline_s``."""
        give_up = time.monotonic() + deadline_s

        def get(path: str, **params: Any) -> Any:
            url = f"{host}{path}?{urllib.parse.urlencode(params)}"
            request = urllib.request.Request(url, headers={"x-api-key": key})
            with urllib.request.urlopen(request, timeout=max(1.0, give_up - time.monotonic())) as response:
                return json.loads(response.read())

        cls.sites = get("/api/v1/sites", limit=1000)["items"]
        for site in cls.sites[:sites]:
            if time.monotonic() >= give_up:
                break
            try:
                cls.assets_by_site[site["id"]] = get("/api/v1/assets", site_id=site["id"], limit=assets_per_site)[
                    "items"
                ]
            except OSError as exc:  # HTTPError included: the emulator timing out answers 500
                print(f"catalogue: assets of {site['id']} not read ({exc}); skipped", file=sys.stderr)
        if not any(cls.assets_by_site.values()):
            raise RuntimeError(f"no assets could be read from the first {sites} sites within {deadline_s:.0f} s")

    @classmethod
    def site_with_assets(cls) -> tuple[str, list[dict[str, Any]]]:
        site_id = random.choice([s for s, assets in cls.assets_by_site.items() if assets])
        return site_id, cls.assets_by_site[site_id]


@events.test_start.add_listener
def _load_catalogue(environment: Environment, **_: Any) -> None:
    require_loopback(environment.host or "")
    try:
        Catalogue.load(
            environment.host or "", CONFIG["keys"][0], CONFIG["catalogue_sites"], CONFIG["catalogue_assets_per_site"]
        )
    except (OSError, RuntimeError) as exc:
        print(f"catalogue: {exc}; stopping", file=sys.stderr)
        if environment.runner is not None:
            environment.runner.quit()


@events.quitting.add_listener
def _export_stats(environment: Environment, **_: Any) -> None:
    export_stats(environment, Path(CONFIG["stats_out"]))


class ApiUser(FastHttpUser):
    """A person using the API: lists work orders, assets and alerts, and now and then opens a work order."""

    wait_time = between(*CONFIG["wait_s"])
    network_timeout = 30.0
    connection_timeout = 10.0

    def on_start(self) -> None:
        self.headers = {"x-api-key": next(_KEYS)}

    def _list(self, route: str, **params: Any) -> None:
        query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
        self.client.get(f"{route}?{query}" if query else route, headers=self.headers, name=f"GET {route}")

    def _site(self) -> str | None:
        """A site for a filtered list, or None for the tenant-wide one (a third of the time)."""
        return random.choice(Catalogue.sites)["id"] if Catalogue.sites and random.random() < 2 / 3 else None

    @task(40)
    def list_work_orders(self) -> None:
        self._list("/api/v1/work-orders", site_id=self._site(), status=random.choice([None, "open", "in_progress"]))

    @task(30)
    def list_assets(self) -> None:
        site_id, _ = Catalogue.site_with_assets()
        self._list("/api/v1/assets", site_id=site_id, type=random.choice([None, None, "inverter"]))

    @task(20)
    def list_alerts(self) -> None:
        self._list("/api/v1/alerts", site_id=self._site(), status=random.choice([None, "active"]))

    @task(10)
    def create_work_order(self) -> None:
        site_id, assets = Catalogue.site_with_assets()
        asset = random.choice(assets)
        body = {
            "site_id": site_id,
            "asset_id": asset["id"],
            "title": f"Load test: inspect {asset['name']}",
            "type": random.choice(_WORK_ORDER_TYPES),
            "priority": random.choice(_PRIORITIES),
            "status": "open",
        }
        self.client.post("/api/v1/work-orders", json=body, headers=self.headers, name="POST /api/v1/work-orders")


class TelemetryGateway(FastHttpUser):
    """A site gateway posting its assets' readings over HTTP in batches (the records Kinesis would carry)."""

    abstract = CONFIG["gateways"] == 0  # ingest off: Locust leaves an abstract class out
    fixed_count = CONFIG["gateways"]
    wait_time = constant_pacing(CONFIG["gateway_interval_s"])
    network_timeout = 30.0
    connection_timeout = 10.0

    def on_start(self) -> None:
        self.headers = {"x-api-key": next(_KEYS)}
        where = {s["id"]: s.get("location") or {"latitude": 0.0, "longitude": 0.0} for s in Catalogue.sites}
        fleet = [
            SimAsset(
                a["tenant_id"],
                site_id,
                a["id"],
                a["type"],
                a.get("rated_kw") or 100.0,
                where[site_id]["latitude"],
                where[site_id]["longitude"],
            )
            for site_id, assets in Catalogue.assets_by_site.items()
            for a in assets
            if a["type"] in _TELEMETRY_TYPES
        ]
        random.shuffle(fleet)
        self.model = FleetModel(fleet[: CONFIG["records_per_request"]])

    @task
    def post_readings(self) -> None:
        now = datetime.now(UTC)
        ts = int(now.timestamp() * 1000)
        records = [
            {
                "v": 1,
                "tenant_id": a.tenant_id,
                "site_id": a.site_id,
                "asset_id": a.asset_id,
                "readings": [{"ts": ts, "metrics": metrics}],
            }
            for a, metrics in self.model.readings(now)
        ]
        if records:
            self.client.post(
                "/api/v1/telemetry/ingest",
                json={"records": records},
                headers=self.headers,
                name="POST /api/v1/telemetry/ingest",
            )
