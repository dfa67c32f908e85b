"""The seeders write what they promise (the spec-scale run, scaled down, uses the same code path)."""

from __future__ import annotations

import uuid

from dcmms_dev.seed import seed_spec_scale
from tests.support.api import ApiClient


def _all(api: ApiClient, path: str, **params) -> list[dict]:
    items, cursor = [], None
    while True:
        body = api.get(path, limit=1000, **params, **({"cursor": cursor} if cursor else {})).json()
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items


def test_spec_scale_seed_writes_sites_assets_and_active_work_orders(http) -> None:
    progress = []
    seed = seed_spec_scale(
        lambda what, done, total: progress.append((what, done, total)),
        tenant_id=f"spec-{uuid.uuid4().hex[:8]}",
        sites=4,
        assets=400,
        active_work_orders=150,
    )
    api = ApiClient(http, seed.keys["viewer"])
    assert len(_all(api, "/api/v1/sites")) == 4
    assets = _all(api, "/api/v1/assets")
    assert len(assets) == 400 and len({a["site_id"] for a in assets}) == 4
    orders = _all(api, "/api/v1/work-orders")
    assert len(orders) == 150
    assert {o["status"] for o in orders} <= {"draft", "open", "in_progress", "on_hold"}
    assert progress[-1] == ("work orders", 150, 150) and ("assets", 400, 400) in progress
