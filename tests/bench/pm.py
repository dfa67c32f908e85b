"""The preventive-maintenance run (``services.pm``, the ``pm`` function) at the spec's scale, each figure beside
a floor measured in the same run.

One tenant is seeded as ``dcmms_dev.seed.seed_spec_scale`` seeds it (200 sites of 250 assets in the seed's solar
hierarchy: meter, weather station, transformers, inverters, combiners, strings, trackers; 50,000 assets,
batch-written to DynamoDB Local; no work orders), with one procedure and **one calendar schedule (monthly) per
asset type per site** (scope ``site_id`` + ``asset_type``: 1,400 schedules over ~49,500 targets, the
decommissioned assets being none), created one by one through ``maintenance.pm.create_schedule`` as an admin.
Then the real services (``runtime.maintenance``: DynamoDB Local and Redis) run in this process:

- **steady run**, nothing due (every anchor ahead): the first run writes ``last_run_at`` on every schedule (a
  run does once a day); the next ones only read: p50 and max of ``--repeat``. Floor: the same DynamoDB reads
  alone, done one after the other: the tenant's schedules and each site's assets once (as the run lists them,
  shared by the site's schedules); the per-schedule, per-type listing the run did before is printed beside.
- **generating run**: the schedules of ``--generate-sites`` sites come due (their anchor passes, the others'
  stays ahead), so every asset of every type there gets its month's work order. Floor: the steady floor's reads
  plus as many work orders (the same fields, the procedure's checklist) created with ``WorkOrderRepository
  .create`` (the conditional put), without the PM logic or the cache.
- **following run**, at the same moment: everything generated and recorded on the schedules; nothing is due, so
  the run reads no work order (it asks whether the previous one is open only when the next comes due). Floor:
  the reads.
- **retried run**: the generating run again with its record lost (the due schedules' target states cleared, as
  after a crash before they were written): every create meets its conditional check and reads the stored work
  order instead, the exactly-once path. Floor: the reads plus the floor's creates again (each failing its
  check) and a ``get`` each.

Each run shows where its time went: DynamoDB calls (botocore's call events), Redis (every cache call) and the
rest (Python: validation, occurrences, the run's own logic). Only DynamoDB Local and Redis are started (what the
run uses), on 127.0.0.1, and stopped at the end.

Run: ``python -m tests.bench.pm`` (part of ``make bench``; about 4 minutes here): the spec's fleet and
schedules, with the work of ``--generate-sites 10`` of the 200 sites generated (~2,470 of the ~49,500 targets'
work orders). DynamoDB Local creates them at ~70 a second, so the whole fleet's month would take ~12 minutes
a run, and the bench (which creates and re-reads them four times) ~50: ``--generate-sites 200`` does it, and
the bench prints the estimate from the rate it measured. ``--sites/--assets`` scale the fleet down.

DynamoDB Local is slow on the work-orders table (six indexes) once the 50,000 assets are stored, whatever the
heap: ~13 ms a conditional put and ~5 ms a get, against ~3 and ~1.5 ms with 1,250 assets. Absolute times are
DynamoDB Local's; the call counts, the ratios to the floors and the share of each part carry over.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from dcmms import runtime
from dcmms.config import Settings
from dcmms.domain import commands as cmd
from dcmms.domain.ids import new_id
from dcmms.domain.model import AssetStatus, WorkOrder, WorkOrderType
from dcmms.domain.pm import PMSchedule, PMScheduleCreate, occurrence_key
from dcmms.services.common import read_all, system_principal
from dcmms.services.pm import PARALLEL
from dcmms.store.errors import AlreadyExists
from dcmms.store.models import bind, create_tables
from dcmms_dev.seed import seed_spec_scale
from dcmms_dev.servers import start_dynamodb, start_redis
from dcmms_dev.stack import use_emulated_aws
from tests.bench.telemetry_query import percentile

TENANT = "bench-pm"


class Calls:
    """Calls and seconds spent in DynamoDB (by operation) and in Redis while a run is measured."""

    def __init__(self) -> None:
        self.dynamodb: dict[str, list[float]] = {}
        self.redis = [0, 0.0]
        self._hooked: weakref.WeakSet[Any] = weakref.WeakSet()

    def reset(self) -> None:
        self.dynamodb, self.redis = {}, [0, 0.0]

    def watch_dynamodb(self) -> None:
        """Hook every botocore client pynamodb sends through (bind() makes a new one), before its first call."""
        from pynamodb import signals

        def before_send(connection: Any, **_: Any) -> None:
            client = connection.client
            if client not in self._hooked:
                events = client.meta.events
                events.register("before-parameter-build.dynamodb", self._started)
                events.register("after-call.dynamodb", self._finished)
                events.register("after-call-error.dynamodb", self._finished)
                self._hooked.add(client)

        assert signals.signals_available, "blinker is needed to time DynamoDB calls"
        signals.pre_dynamodb_send.connect(before_send, weak=False)

    def _started(self, context: dict[str, Any], **_: Any) -> None:
        context["bench_started"] = time.perf_counter()

    def _finished(self, context: dict[str, Any], event_name: str, **_: Any) -> None:
        started = context.pop("bench_started", None)
        if started is not None:
            entry = self.dynamodb.setdefault(event_name.rsplit(".", 1)[-1], [0, 0.0])
            entry[0] += 1
            entry[1] += time.perf_counter() - started

    def watch_redis(self, resilient: Any) -> None:
        """Time every call the cache makes (they all go through ``ResilientRedis.run``)."""
        run = resilient.run

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return run(*args, **kwargs)
            finally:
                self.redis[0] += 1
                self.redis[1] += time.perf_counter() - started

        resilient.run = timed

    def dynamodb_seconds(self) -> float:
        return sum(s for _, s in self.dynamodb.values())

    def summary(self) -> str:
        ops = sorted(self.dynamodb.items(), key=lambda i: -i[1][1])
        return ", ".join(f"{int(n):,} {op} {s:.2f} s" for op, (n, s) in ops) or "no calls"


@contextmanager
def servers() -> Iterator[Settings]:
    """DynamoDB Local and Redis on free loopback ports, the tables created; both stopped on exit."""
    use_emulated_aws()
    with tempfile.TemporaryDirectory(prefix="dcmms-bench-") as tmp:
        started = []
        try:
            dynamodb = start_dynamodb(Path(tmp))
            started.append(dynamodb)
            redis = start_redis(Path(tmp))
            started.append(redis)
            settings = Settings(
                environment="local",
                aws_endpoint_url=dynamodb.url,  # nothing else of AWS is called
                dynamodb_endpoint_url=dynamodb.url,
                redis_url=redis.url,
            )
            create_tables(settings)
            bind(settings)
            yield settings
        finally:
            for server in reversed(started):
                server.stop()


def _progress(what: str, done: int, total: int) -> None:
    print(f"\r  seeding {what}: {done:>6,}/{total:,}", end="" if done < total else "\n", file=sys.stderr, flush=True)


def _timed(action: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    out = action()
    return time.perf_counter() - started, out


def run(args: argparse.Namespace) -> None:
    bench_began = time.perf_counter()
    calls = Calls()
    calls.watch_dynamodb()
    with servers() as settings:
        began = time.perf_counter()
        seed = seed_spec_scale(
            _progress, TENANT, random.Random(72_000), sites=args.sites, assets=args.assets, active_work_orders=0
        )
        seeded_s = time.perf_counter() - began
        services = runtime.maintenance(settings)
        calls.watch_redis(runtime.resilient_redis(settings))
        repos = services.repositories
        admin = system_principal(TENANT, "bench:admin")
        procedure = services.procedures.create_procedure(
            admin,
            cmd.ProcedureCreate.model_validate(
                {
                    "name": "Monthly inspection",
                    "steps": [
                        {"title": "Lock-out / tag-out", "kind": "check"},
                        {"title": "Visual inspection", "kind": "check"},
                        {"title": "Enclosure temperature", "kind": "number", "unit": "°C", "min": 0, "max": 70},
                    ],
                    "estimated_duration_min": 30,
                }
            ),
        )

        # Everything falls due at `due` (the generating sites) or 20 days later (the others); the steady runs are
        # half an hour before, so the generating run, 40 minutes after the first steady one, writes only the
        # schedules that generated (a run writes the others' last_run_at once an hour).
        due_day = datetime.now(UTC).date() + timedelta(days=2)
        due = datetime.combine(due_day, datetime.min.time(), UTC).replace(hour=8)
        steady_at, generate_at = due - timedelta(minutes=30), due + timedelta(minutes=10)
        generating_sites = {s.id for s in seed.sites[: args.generate_sites]}
        types_at: dict[str, set[str]] = {}
        for a in seed.assets:
            types_at.setdefault(a.site_id, set()).add(a.type.value)
        began = time.perf_counter()
        schedules = 0
        for site in seed.sites:
            anchor: date = due_day if site.id in generating_sites else due_day + timedelta(days=20)
            for kind in sorted(types_at.get(site.id, ())):
                services.pm.create_schedule(
                    admin,
                    PMScheduleCreate.model_validate(
                        {
                            "name": f"Monthly {kind} inspection",
                            "procedure_id": procedure.id,
                            "site_id": site.id,
                            "asset_type": kind,
                            "trigger": {
                                "kind": "calendar",
                                "every": 1,
                                "unit": "months",
                                "anchor": anchor,
                                "at": "08:00",
                            },
                        }  # fmt: skip
                    ),
                )
                schedules += 1
        created_s = time.perf_counter() - began
        live = [a for a in seed.assets if a.status is not AssetStatus.decommissioned]
        due_assets = [a for a in live if a.site_id in generating_sites]
        print(
            f"pm run: {len(seed.sites)} sites, {len(seed.assets):,} assets, {schedules:,} schedules (one per asset "
            f"type per site: calendar, monthly), {len(live):,} targets ({len(seed.assets) - len(live)} "
            f"decommissioned assets are none)"
        )
        print(
            f"    seeded in {seeded_s:.0f} s ({len(seed.assets) / seeded_s:,.0f} assets/s, batch writes); schedules "
            f"created one by one through create_schedule in {created_s:.1f} s ({schedules / created_s:,.0f}/s)"
        )

        def reads() -> int:
            """How the run read before (for comparison): per schedule, the assets of its type at its site."""
            found = 0
            for s in read_all(repos.pm_schedules.list, TENANT):
                assert s.asset_type is not None
                assets = read_all(repos.assets.list, TENANT, site_id=s.site_id, types=[s.asset_type.value])
                found += sum(1 for _ in assets)
            return found

        def reads_per_site() -> int:
            """The run's reads alone: the schedules, and each site's assets once (all types)."""
            read_all(repos.pm_schedules.list, TENANT)
            return sum(sum(1 for _ in read_all(repos.assets.list, TENANT, site_id=s.id)) for s in seed.sites)

        rows: list[tuple[str, float, float, str]] = []  # label, seconds, floor seconds, breakdown

        def measured(label: str, action: Callable[[], dict[str, int]], floor_s: float) -> dict[str, int]:
            calls.reset()
            seconds, counts = _timed(action)
            rows.append((label, seconds, floor_s, _breakdown(seconds, calls)))
            return counts

        def pm_run(now: datetime) -> Callable[[], dict[str, int]]:
            return lambda: services.pm.run(TENANT, now)

        # -- steady ---------------------------------------------------------------------------------------------
        per_type_floor = percentile([_timed(reads)[0] for _ in range(args.repeat)], 50)
        read_floor = percentile([_timed(reads_per_site)[0] for _ in range(args.repeat)], 50)
        first = measured("steady run, first of the day (records each schedule)", pm_run(steady_at), read_floor)
        assert first["generated"] == 0 and first["schedules"] == schedules, first
        steady: list[tuple[float, str]] = []  # seconds, breakdown
        for n in range(args.repeat):
            calls.reset()
            seconds, counts = _timed(pm_run(steady_at + timedelta(minutes=1 + n)))
            assert counts["generated"] == 0, counts
            steady.append((seconds, _breakdown(seconds, calls)))
        median = sorted(steady)[(len(steady) - 1) // 2]
        worst = max(s for s, _ in steady)
        rows.append((f"steady run, later that day (p50; max {worst:.2f})", median[0], read_floor, median[1]))

        # -- generating -----------------------------------------------------------------------------------------
        floor_orders = [_work_order(a, procedure, due) for a in due_assets]
        create_s, _ = _timed(lambda: [repos.work_orders.create(wo) for wo in floor_orders])
        made = measured(f"generating run ({len(due_assets):,} work orders)", pm_run(generate_at), read_floor + create_s)
        assert made["generated"] == len(due_assets) and made["failed"] == 0, (made, len(due_assets))
        generated_row = rows[-1]

        # -- following: all generated and recorded ---------------------------------------------------------------
        ids = [
            t.work_order_id
            for s in read_all(repos.pm_schedules.list, TENANT)
            for t in s.targets.values()
            if t.work_order_id
        ]
        get_s, _ = _timed(lambda: [repos.work_orders.get(TENANT, i) for i in ids])
        # nothing is due again yet, so the run reads no work order: its floor is the reads alone
        again = measured("following run (all generated, recorded)", pm_run(generate_at), read_floor)
        assert again["generated"] == 0 and again["existing"] == 0, again

        # -- retried: the record lost, every create meets its conditional check --------------------------------
        for s in read_all(repos.pm_schedules.list, TENANT):
            if s.site_id in generating_sites:
                cleared = s.model_copy(update={"targets": {}, "version": s.version + 1})
                repos.pm_schedules.replace(PMSchedule.model_validate(cleared.model_dump()), s.version)

        def create_again() -> None:
            for wo in floor_orders:
                try:
                    repos.work_orders.create(wo)
                except AlreadyExists:
                    repos.work_orders.get(TENANT, wo.id)
                else:
                    raise AssertionError(f"{wo.id} was created twice")

        recreate_s, _ = _timed(create_again)
        retried = measured("retried run (record lost: exactly-once path)", pm_run(generate_at), read_floor + recreate_s)
        assert retried["generated"] == 0 and retried["existing"] == len(due_assets), retried

        # -- report ---------------------------------------------------------------------------------------------
        print(
            f"pm runs (the generating one at {len(generating_sites)} of the {len(seed.sites)} sites); seconds"
            f"{'':>7}time   floor  ratio"
        )
        for label, seconds, floor_s, breakdown in rows:
            print(f"    {label:<52}{seconds:>7.2f}{floor_s:>8.2f}{seconds / max(floor_s, 1e-9):>7.1f}")
            print(f"        {breakdown}")
        rate = len(due_assets) / generated_row[1]
        floor_rate = len(due_assets) / create_s
        print(
            f"    work orders/s: generating run {rate:,.0f}; floor (conditional creates alone) {floor_rate:,.0f}, "
            f"ratio {floor_rate / rate:.1f}; the whole fleet's month ({len(live):,}) at this rate: "
            f"{len(live) / rate / 60:.1f} min"
        )
        print(
            f"    floors (sequential): reads {read_floor:.2f} s (the schedules, each site's assets once; per schedule "
            f"and type, as the run read before, {per_type_floor:.2f} s); {len(due_assets):,} creates {create_s:.2f} s; "
            f"{len(ids):,} gets {get_s:.2f} s. The run works {PARALLEL} schedules at a time, so it may beat them"
        )
        print(
            f"    under each run: its DynamoDB calls by time, Redis calls, the rest (Python); occurrences due "
            f"{occurrence_key(due, 'UTC')} UTC; bench {time.perf_counter() - bench_began:.0f} s"
        )


def _work_order(asset: Any, procedure: Any, due: datetime) -> WorkOrder:
    """A work order as the run makes it for ``asset`` (another id): what the floor creates."""
    now = datetime.now(UTC)
    return WorkOrder.model_validate(
        {
            "id": new_id("wo"),
            "tenant_id": asset.tenant_id,
            "site_id": asset.site_id,
            "asset_id": asset.id,
            "title": f"Monthly {asset.type.value} inspection ({due.date().isoformat()})",
            "description": procedure.description,
            "type": WorkOrderType.preventive,
            "priority": "medium",
            "due_at": due,
            "checklist": procedure.checklist(),
            "procedure_id": procedure.id,
            "procedure_version": procedure.version,
            "pm_schedule_id": "pm_floor",
            "pm_occurrence": occurrence_key(due, "UTC"),
            "created_by": "system:pm",
            "created_at": now,
            "updated_at": now,
        }
    )


def _breakdown(seconds: float, calls: Calls) -> str:
    """Where a run's time went; the calls' times are summed over the run's threads, so with several schedules in
    flight they add up to more than the run's wall time (their sum over the wall time is the concurrency)."""
    dynamodb = calls.dynamodb_seconds()
    redis_calls, redis_s = calls.redis
    busy = dynamodb + redis_s
    overlap = (
        f"; calls in flight on average {busy / seconds:.1f}" if busy > seconds else f"; rest {seconds - busy:.2f} s"
    )
    return f"DynamoDB {dynamodb:.2f} s ({calls.summary()}); Redis {redis_s:.2f} s ({int(redis_calls):,} calls){overlap}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=200)
    parser.add_argument("--assets", type=int, default=50_000)
    parser.add_argument("--generate-sites", type=int, default=10, help="sites whose schedules come due")
    parser.add_argument("--repeat", type=int, default=3, help="steady runs later that day, and floor reads")
    args = parser.parse_args()
    args.generate_sites = min(args.generate_sites, args.sites)
    run(args)


if __name__ == "__main__":
    main()
