"""Guards of measured cold-start savings: each would regress silently otherwise (see docs/decisions.md)."""

from __future__ import annotations

import subprocess
import sys

from dcmms.config import Settings
from dcmms.store.models import TABLES, bind


def test_all_tables_share_one_dynamodb_connection() -> None:
    bind(Settings(aws_endpoint_url="http://127.0.0.1:9"))
    connections = {id(model._get_connection().connection) for model in TABLES}
    assert len(connections) == 1
    names = {model._get_connection().table_name for model in TABLES}
    assert len(names) == len(TABLES) and all(n.startswith("dcmms-") for n in names)


def _imports_xray(env_tracing: str) -> bool:
    code = "import sys, functions.api.handler; print('aws_xray_sdk' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"DCMMS_TRACING": env_tracing, "PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": "us-east-1"},
    )
    return out.stdout.strip().endswith("True")


def test_xray_sdk_is_imported_only_when_tracing_is_on() -> None:
    assert not _imports_xray("false")
    assert _imports_xray("true")


def test_the_api_handler_imports_no_repository_so_a_cache_hit_never_loads_pynamodb() -> None:
    # The composition root (dcmms.runtime) hands the services repositories that are built on first use.
    heavy = ("dcmms.store.repositories", "dcmms.store.models", "pynamodb.models", "botocore.client")
    code = f"import sys, functions.api.handler; print([m for m in {heavy!r} if m in sys.modules])"
    env = {"DCMMS_TRACING": "false", "PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": "us-east-1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip().splitlines()[-1] == "[]"
