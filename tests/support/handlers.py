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
    from dcmms_dev.stack import settings_environment

    variables = settings_environment(settings) | {"DCMMS_ENVIRONMENT": "test", "POWERTOOLS_METRICS_NAMESPACE": "dCMMS"}
    for name, value in variables.items():
        env.setenv(name, value)
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
