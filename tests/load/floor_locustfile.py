"""Locust users for the floor phase: the main run's users and think times, on the floor app's one route.

The runner writes a JSON configuration (``DCMMS_LOAD_CONFIG``): the host (always 127.0.0.1), the route, the
think times and where to export the statistics (``locust_export``) at the end.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from locust import FastHttpUser, between, events, task
from locust.env import Environment

from tests.load.locust_export import export_stats
from tests.load.scenarios import require_loopback

CONFIG: dict[str, Any] = json.loads(Path(os.environ["DCMMS_LOAD_CONFIG"]).read_text())
require_loopback(CONFIG["host"])


@events.test_start.add_listener
def _guard(environment: Environment, **_: Any) -> None:
    require_loopback(environment.host or "")


@events.quitting.add_listener
def _export_stats(environment: Environment, **_: Any) -> None:
    export_stats(environment, Path(CONFIG["stats_out"]))


class FloorUser(FastHttpUser):
    """One GET of the cached document per think time, with a header like the API users' key."""

    wait_time = between(*CONFIG["wait_s"])
    network_timeout = 30.0
    connection_timeout = 10.0

    @task
    def get_document(self) -> None:
        self.client.get(CONFIG["route"], headers={"x-api-key": "floor"}, name=f"GET {CONFIG['route']}")
