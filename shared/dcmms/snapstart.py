"""Lambda SnapStart runtime hooks for the API function (docs/decisions.md, "SnapStart").

With SnapStart, Lambda runs the function's init once per published version, snapshots the initialized
environment and restores every new execution environment from it. Two things follow:

- **What init does is free for every restore**, so before the snapshot the hook pays what the
  lazy-import policy otherwise defers to the first cache miss: pynamodb and botocore imported, the
  tables bound and their botocore client built, the Kinesis client built, psycopg imported with the
  telemetry store's (closed) pool. No request is sent and no socket is opened: a socket would belong to
  the snapshotted environment, not to the restored ones.
- **State that must differ between environments is renewed after the restore**: the ``random`` module's
  generator (seeded once at import, so every restored environment would draw the same sequence: the
  cache's XFetch early refreshes would fire in lockstep), and any Redis socket that exists. Ids, API
  keys and lock tokens come from ``os.urandom``/``secrets``, which Lambda keeps unique across restores.

``install`` registers the hooks only when Lambda initializes for a snapshot
(``AWS_LAMBDA_INITIALIZATION_TYPE`` is ``snap-start``); on an on-demand cold start nothing changes, and
the lazy imports keep it short. ``snapshot_restore_py`` is part of Lambda's Python runtime (and a
development dependency here, for the tests).
"""

from __future__ import annotations

import os
import random

from dcmms import clients, runtime
from dcmms.config import Settings

SNAPSHOT_INIT = "snap-start"


def before_snapshot(settings: Settings) -> None:
    """Everything a restored environment would otherwise do on its first requests, without the network."""
    from dcmms.store.models import build_client

    repositories = runtime.store_repositories(settings)
    for name in ("sites", "assets", "work_orders", "alerts", "rules", "directory"):
        getattr(repositories, name)  # imports pynamodb and binds the tables (once)
    build_client()
    runtime.kinesis(settings)
    runtime.telemetry_store(settings)  # psycopg and psycopg_pool imported; the pool stays closed
    clients.drop_redis_connections(settings)


def after_restore(settings: Settings) -> None:
    """Renew what every restored environment must not share with the others."""
    random.seed()  # from os.urandom
    clients.drop_redis_connections(settings)


def install(settings: Settings) -> bool:
    """Register the hooks when this init is the one Lambda snapshots; returns whether it is."""
    if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") != SNAPSHOT_INIT:
        return False
    from snapshot_restore_py import register_after_restore, register_before_snapshot

    register_before_snapshot(before_snapshot, settings)
    register_after_restore(after_restore, settings)
    return True
