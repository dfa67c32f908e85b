"""Invalidate CloudFront paths (spec §7.2): ``python tools/invalidate.py [--distribution ID] PATH...``.

The distribution id is the service stack's ``DistributionId`` output (or ``DCMMS_CLOUDFRONT_DISTRIBUTION_ID``).
Examples: ``/static/app.js``, ``/images/*``, ``/api/v1/sites/*``. Prints the invalidation id; ``--wait``
blocks until CloudFront reports it complete.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

ENV_DISTRIBUTION = "DCMMS_CLOUDFRONT_DISTRIBUTION_ID"
MAX_PATHS = 3000  # CloudFront: at most 3,000 paths (15 of them wildcards) in progress per distribution
MAX_WILDCARDS = 15


def normalise(paths: Sequence[str]) -> list[str]:
    """Absolute, URL-encoded, de-duplicated paths in the order given; raises ValueError when unusable."""
    out: list[str] = []
    for raw in paths:
        path = raw.strip()
        if not path.startswith("/"):
            raise ValueError(f"invalidation paths start with '/': {raw!r}")
        # CloudFront matches encoded paths; '*' stays a wildcard, '/' stays a separator.
        encoded = quote(path, safe="/*~-._!$&'()+,;=:@%")
        if encoded not in out:
            out.append(encoded)
    if not out:
        raise ValueError("give at least one path")
    if len(out) > MAX_PATHS:
        raise ValueError(f"{len(out)} paths: CloudFront takes at most {MAX_PATHS} per invalidation")
    wildcards = sum(p.endswith("*") for p in out)
    if wildcards > MAX_WILDCARDS:
        raise ValueError(f"{wildcards} wildcard paths: CloudFront takes at most {MAX_WILDCARDS} at a time")
    return out


def create_invalidation(
    client: Any, distribution_id: str, paths: Sequence[str], caller_reference: str | None = None
) -> str:
    """Create one invalidation for ``paths`` and return its id."""
    items = normalise(paths)
    response = client.create_invalidation(
        DistributionId=distribution_id,
        InvalidationBatch={
            "Paths": {"Quantity": len(items), "Items": items},
            # Unique per call: CloudFront treats a repeated reference as the same request.
            "CallerReference": caller_reference or f"dcmms-{time.time_ns()}",
        },
    )
    return response["Invalidation"]["Id"]


def main(argv: Sequence[str] | None = None, client: Any = None) -> int:
    parser = argparse.ArgumentParser(prog="invalidate.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="+", metavar="PATH")
    parser.add_argument(
        "--distribution", default=os.environ.get(ENV_DISTRIBUTION), help=f"default: ${ENV_DISTRIBUTION}"
    )
    parser.add_argument("--wait", action="store_true", help="wait until the invalidation has completed")
    args = parser.parse_args(argv)
    if not args.distribution:
        parser.error(f"--distribution or {ENV_DISTRIBUTION} is required")
    if client is None:
        import boto3

        client = boto3.client("cloudfront")
    try:
        invalidation_id = create_invalidation(client, args.distribution, args.paths)
    except ValueError as exc:
        parser.error(str(exc))
    if args.wait:
        client.get_waiter("invalidation_completed").wait(DistributionId=args.distribution, Id=invalidation_id)
    print(invalidation_id)
    return 0


if __name__ == "__main__":
    sys.exit(main())
