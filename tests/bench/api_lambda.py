"""`make bench`: the API Lambda's cold start and warm GET-by-id beside a minimal FastAPI+Mangum app.

Both run in fresh interpreters on this machine in the same run, alternating, against the same local
stack (DynamoDB Local, moto, Redis, PostgreSQL); the table prints medians and the ratio dcmms / minimal.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from dcmms import runtime
from dcmms.domain import commands as cmd
from dcmms.domain.model import Role
from dcmms.store.repositories import DirectoryRepository
from dcmms_dev.seed import provision_tenant
from dcmms_dev.stack import prepared_stack, settings_environment
from tests.bench.cache_ops import cache_candidates, interleaved

ROOT = Path(__file__).resolve().parents[2]
APPS = {"dcmms": "functions.api.handler", "minimal": "tests.bench.minimal_app"}
METRICS = [
    ("cold start: import + first GET (ms)", "cold_ms"),
    ("  of which import (ms)", "import_ms"),
    ("  of which first invoke (ms)", "first_invoke_ms"),
    ("warm GET /work-orders/{id} mean (ms)", "warm_mean_ms"),
    ("warm GET /work-orders/{id} p50 (ms)", "warm_p50_ms"),
    ("warm GET /work-orders/{id} p95 (ms)", "warm_p95_ms"),
]


def _probe(module: str, url: str, key: str, warm: int, env: dict[str, str], *extra: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-m", "tests.bench._probe", module, url, key, str(warm), *extra],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7, help="fresh processes per app")
    parser.add_argument("--warm", type=int, default=500, help="warm invocations per process")
    args = parser.parse_args()
    with prepared_stack() as (_, settings):
        tenant = provision_tenant("bench", "Bench Operator")
        p = DirectoryRepository().principal_for_key(tenant.keys[Role.admin.value])
        maintenance = runtime.build_maintenance()
        site = maintenance.fleet.create_site(
            p, cmd.SiteCreate(name="Bench", kind="solar", capacity_mw=1, timezone="UTC")
        )
        wo = maintenance.work_orders.create_work_order(
            p, cmd.WorkOrderCreate(site_id=site.id, title="Bench", type="inspection")
        )
        env = os.environ | {
            "AWS_LAMBDA_FUNCTION_NAME": "dcmms-api",  # the Lambda path: EMF metrics, no Prometheus registry
            **settings_environment(settings),
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_NAMESPACE": "dCMMS",
            "PYTHONDONTWRITEBYTECODE": "0",
        }
        url = f"/api/v1/work-orders/{wo.id}"
        results: dict[str, list[dict[str, float]]] = {name: [] for name in APPS}
        cold_cache: list[dict[str, float]] = []
        restored: list[dict[str, float]] = []  # SnapStart: hooks run, then the first GET as after a restore
        key = tenant.keys["admin"]
        for module in APPS.values():  # one unmeasured run each: compile .pyc, warm the page cache and Redis
            _probe(module, url, key, 10, env)
        for _ in range(args.runs):
            for name, module in APPS.items():
                results[name].append(_probe(module, url, key, args.warm, env))
            cold_cache.append(_probe(APPS["dcmms"], url, key, 1, env, "--cold-cache", settings.redis_url))
            restored.append(_probe(APPS["dcmms"], url, key, 1, env, "--cold-cache", settings.redis_url, "--snapstart"))
        redis_costs = interleaved(cache_candidates(settings))
    print(f"\nAPI Lambda benchmark: {args.runs} fresh processes per app, {args.warm} warm calls each (medians)\n")
    print(f"{'metric':<40} {'dcmms':>10} {'minimal':>10} {'ratio':>8}")
    for label, key in METRICS:
        ours = statistics.median(r[key] for r in results["dcmms"])
        floor = statistics.median(r[key] for r in results["minimal"])
        print(f"{label:<40} {ours:>10.2f} {floor:>10.2f} {ours / floor:>7.2f}x")
    floor = statistics.median(r["cold_ms"] for r in results["minimal"])
    cold = statistics.median(r["cold_ms"] for r in cold_cache)
    print(f"{'cold start, Redis empty (ms)':<40} {cold:>10.2f} {floor:>10.2f} {cold / floor:>7.2f}x")
    first_floor = statistics.median(r["first_invoke_ms"] for r in results["minimal"])
    first_cold = statistics.median(r["first_invoke_ms"] for r in cold_cache)
    first_restored = statistics.median(r["first_invoke_ms"] for r in restored)
    hook = statistics.median(r["snapshot_hook_ms"] for r in restored)
    print(
        f"{'SnapStart: before-snapshot hook (ms)':<40} {hook:>10.2f} {'':>10} {'':>8}  paid once per published version"
    )
    print(
        f"{'first GET, Redis empty, on-demand (ms)':<40} {first_cold:>10.2f} {first_floor:>10.2f} {first_cold / first_floor:>7.2f}x"
    )
    print(
        f"{'first GET, Redis empty, restored (ms)':<40} {first_restored:>10.2f} {first_floor:>10.2f} "
        f"{first_restored / first_floor:>7.2f}x"
    )
    raw = redis_costs.pop("raw Redis GET")
    print(f"\n{'Redis-side cost per call':<40} {'us':>10} {'raw GET':>10} {'ratio':>8}")
    for label, us in redis_costs.items():
        print(f"{label:<40} {us:>10.1f} {raw:>10.1f} {us / raw:>7.2f}x")
    print("\nminimal = FastAPI + Mangum, one route returning a constant (tests/bench/minimal_app.py).")
    print("dcmms cold start = fresh interpreter: import functions.api.handler + first GET /api/v1/work-orders/{id};")
    print("  Redis holds the principal and the work order (written by earlier processes), as in a running fleet.")
    print("  'Redis empty' flushes Redis first: the first GET then loads pynamodb/botocore and reads DynamoDB Local.")
    print("  'restored': the SnapStart hooks ran after the import (dcmms/snapstart.py), as before a snapshot and")
    print("  after a restore; the restore itself happens in Lambda and is not on this machine.")
    print("dcmms warm GET = principal from the process cache + cache hit in Redis; no DynamoDB call.")


if __name__ == "__main__":
    main()
