"""Import a Lambda handler module as Lambda does: its settings come from the environment at import."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any

import pytest

from dcmms.config import Settings, get_settings


def import_handler(module: str, settings: Settings, env: pytest.MonkeyPatch) -> Callable[..., Any]:
    """A fresh import of ``module`` with DCMMS_* variables pointing at the test stack."""
    for name, value in {
        "DCMMS_AWS_ENDPOINT_URL": settings.aws_endpoint_url,
        "DCMMS_DYNAMODB_ENDPOINT_URL": settings.dynamodb_endpoint_url,
        "DCMMS_REDIS_URL": settings.redis_url,
        "DCMMS_DATABASE_URL": settings.database_url,
        "DCMMS_ENVIRONMENT": "test",
        "POWERTOOLS_METRICS_NAMESPACE": "dCMMS",
    }.items():
        env.setenv(name, str(value))
    get_settings.cache_clear()
    sys.modules.pop(module, None)
    return importlib.import_module(module).lambda_handler


def telemetry_record(tenant: str, site: str, asset: str, ts: Any, **metrics: float) -> bytes:
    """One v1 telemetry record with a single reading."""
    import orjson

    return orjson.dumps(
        {
            "v": 1,
            "tenant_id": tenant,
            "site_id": site,
            "asset_id": asset,
            "readings": [{"ts": ts.isoformat(), "metrics": metrics}],
        }
    )
