"""Runs in a fresh interpreter: import a handler, invoke it once (cold), then many times (warm).

Prints one JSON line: import_ms, first_invoke_ms, cold_ms (import + first invoke) and warm per-call ms.
"""

from __future__ import annotations

import importlib
import json
import os
import statistics
import sys
import time


def main() -> None:
    module_name, url, key, warm_n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    if "--cold-cache" in sys.argv:  # before the clock starts: this process finds Redis empty
        import redis

        redis.Redis.from_url(sys.argv[sys.argv.index("--cold-cache") + 1]).flushdb()
        for name in [m for m in sys.modules if m.startswith("redis")]:
            del sys.modules[name]
    snapstart = "--snapstart" in sys.argv  # init as Lambda does for a SnapStart snapshot, then "restore"
    if snapstart:
        os.environ["AWS_LAMBDA_INITIALIZATION_TYPE"] = "snap-start"
    t0 = time.perf_counter()
    module = importlib.import_module(module_name)
    t1 = time.perf_counter()
    hook_ms = 0.0
    if snapstart:
        import snapshot_restore_py

        for hook, args, kwargs in snapshot_restore_py.get_before_snapshot():
            hook(*args, **kwargs)
        hook_ms = (time.perf_counter() - t1) * 1000
        for hook, args, kwargs in snapshot_restore_py.get_after_restore():
            hook(*args, **kwargs)
    from dcmms_dev.events import FakeLambdaContext, api_gateway_event

    event = api_gateway_event("GET", url, {"x-api-key": key})
    context = FakeLambdaContext()
    t2 = time.perf_counter()
    first = module.lambda_handler(event, context)
    t3 = time.perf_counter()
    assert first["statusCode"] == 200, first
    samples = []
    for _ in range(warm_n):
        s = time.perf_counter()
        result = module.lambda_handler(event, context)
        samples.append((time.perf_counter() - s) * 1000)
        assert result["statusCode"] == 200
    samples.sort()
    print(
        json.dumps(
            {
                "import_ms": (t1 - t0) * 1000,
                "first_invoke_ms": (t3 - t2) * 1000,
                "cold_ms": (t1 - t0 + t3 - t2) * 1000,
                "snapshot_hook_ms": hook_ms,
                "warm_mean_ms": statistics.fmean(samples),
                "warm_p50_ms": samples[len(samples) // 2],
                "warm_p95_ms": samples[int(len(samples) * 0.95)],
            }
        )
    )


if __name__ == "__main__":
    main()
