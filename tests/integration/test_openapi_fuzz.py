"""The OpenAPI document tells the whole truth: property-based fuzzing of every operation (schemathesis).

Requests are generated from ``/openapi.json`` and sent in process to the ASGI app — the real one, on the real
stack (DynamoDB on moto, Redis, PostgreSQL), authenticated with a tenant's admin key, rate limits on. Every
answer must be documented: no 5xx, a documented status and content type, a body that matches its schema.

Path ids and id references are mostly drawn from a small fleet made first, so that generated requests reach
the resources instead of stopping at 404/422; the rest stay generated. Data that fits the schema (positive)
has most of the budget; data that breaks it (negative) the rest. The seed is fixed and the budget bounded
(about 30 s on a 2-core machine).
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from dcmms.domain.model import Role
from dcmms.telemetry.postgres import TelemetryStore
from tests.support.api import ApiClient

SEED = 20261202
# Examples per operation and generation mode: ~60 operations x (30 + 8), ~1,200 requests.
BUDGET = {GenerationMode.POSITIVE: 30, GenerationMode.NEGATIVE: 8}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# Which kind of resource a parameter or body field names.
REFERENCES = {
    "site_id": "site",
    "asset_id": "asset",
    "parent_id": "asset",
    "work_order_id": "work_order",
    "alert_id": "alert",
    "source_alert_id": "alert",
    "rule_id": "rule",
    "episode_id": "episode",
    "report_id": "report",
    "subscription_id": "subscription",
    "procedure_id": "procedure",
    "step_id": "step",
    "schedule_id": "schedule",
    "user_id": "user",
    "key_id": "key",
}
# A checklist step is answered on work orders of its own, which no transition or PATCH closes meanwhile.
CHECKLIST_PATH = "/api/v1/work-orders/{work_order_id}/checklist/{step_id}"
PROCEDURE = {
    "name": "Inverter inspection",
    "estimated_duration_min": 45,
    "asset_types": ["inverter"],
    "steps": [
        {"title": "LOTO applied"},
        {"title": "Insulation resistance", "kind": "number", "unit": "MΩ", "min": 1, "max": 1000},
        {"title": "Notes", "kind": "text", "required": False},
        {"title": "Fan test", "kind": "pass_fail"},
    ],
}
_GENERATED = object()  # keep the generated value
_ABSENT = object()  # leave the parameter out


def _fleet(api: ApiClient) -> dict[str, list[str]]:
    """Two sites with a small hierarchy each, work orders (one from a procedure), alerts, rules and
    procedures: ids the requests can name."""
    ids: dict[str, list[Any]] = {kind: [] for kind in {*REFERENCES.values(), "placement", "checklist_work_order"}}
    for n in range(2):
        site = api.site(name=f"Fuzz Site {n}")
        inverter = api.asset(site["id"], name=f"INV-{n}")
        string = api.asset(site["id"], name=f"STR-{n}", type="string", parent_id=inverter["id"])
        alert = api.alert(inverter["id"])
        procedure = api.post("/api/v1/procedures", PROCEDURE | {"name": f"Inverter inspection {n}"})
        assert procedure.status_code == 201, procedure.text
        ids["procedure"].append(procedure.json()["id"])
        followed = {"procedure_id": procedure.json()["id"]} if n else {}
        work_order = api.work_order(site["id"], asset_id=inverter["id"], status="open", **followed)
        for _ in range(2):
            checklist = api.work_order(site["id"], asset_id=inverter["id"], procedure_id=procedure.json()["id"])
            ids["checklist_work_order"].append(checklist["id"])
        ids["step"] = [step["id"] for step in procedure.json()["steps"]]
        rule = api.post(
            "/api/v1/alert-rules",
            {"name": f"Hot {n}", "asset_type": "inverter", "metric": "heatsink_temp_c", "condition": ">"}
            | {"threshold": 80, "severity": "major"},
        )
        assert rule.status_code == 201, rule.text
        ids["site"].append(site["id"])
        ids["asset"] += [inverter["id"], string["id"]]
        ids["placement"] += [(inverter["id"], site["id"]), (string["id"], site["id"])]
        ids["alert"].append(alert["id"])
        ids["work_order"].append(work_order["id"])
        ids["rule"].append(rule.json()["id"])
        report = api.post("/api/v1/reports", {"type": "work-order-backlog", "format": "csv"})
        assert report.status_code == 202, report.text
        ids["report"].append(report.json()["id"])
        sub = api.post("/api/v1/report-subscriptions", {"type": "site-daily", "recipients": [f"ops{n}@example.com"]})
        assert sub.status_code == 201, sub.text
        ids["subscription"].append(sub.json()["id"])
        schedule = api.post(
            "/api/v1/pm-schedules",
            {"name": f"Inspection {n}", "procedure_id": procedure.json()["id"], "site_id": site["id"]}
            | {"asset_type": "inverter", "trigger": {"kind": "calendar", "every": 1, "unit": "months"}}
            | {"trigger": {"kind": "calendar", "every": 1, "unit": "months", "anchor": "2027-01-04"}},
        )
        assert schedule.status_code == 201, schedule.text
        ids["schedule"].append(schedule.json()["id"])
        person = api.post("/api/v1/users", {"email": f"fuzz{n}-{site['id'].lower()}@example.com", "role": "viewer"})
        assert person.status_code == 201, person.text
        ids["user"].append(person.json()["id"])
        key = api.post("/api/v1/api-keys", {"name": f"fuzz {n}", "role": "viewer"})
        assert key.status_code == 201, key.text
        ids["key"].append(key.json()["id"])
    return ids


def _recent_records(body: Any, placement: tuple[str, str], age_s: int) -> None:
    """Telemetry records about an asset of the fleet, read a moment ago (what the schema cannot know)."""
    records = body.get("records") if isinstance(body.get("records"), list) else [body]
    for record in records:
        if isinstance(record, dict):
            record["asset_id"], record["site_id"] = placement
            record.pop("tenant_id", None)
            for reading in record.get("readings") or ():
                if isinstance(reading, dict):
                    reading["ts"] = (datetime.now(UTC) - timedelta(seconds=age_s)).isoformat()


def _register_hooks(schema: Any, ids: dict[str, list[Any]]) -> None:
    """Steer generated cases towards the fleet: each id is one of the fleet's or, now and then, the generated
    one; If-Match is "*" or generated; a generated cursor (a listing's own, not the schema's) or time span is
    sometimes left out; telemetry is about the fleet's assets and recent."""

    @schema.hook
    def flatmap_case(context: Any, case: Any) -> Any:
        choices: dict[tuple[str, str], Any] = {}
        for location in ("path_parameters", "query", "body"):
            container = getattr(case, location, None)
            if isinstance(container, dict):
                for name in container:
                    if name in REFERENCES:
                        kind = REFERENCES[name]
                        if case.operation.path == CHECKLIST_PATH and name == "work_order_id":
                            kind = "checklist_work_order"
                        choices[(location, name)] = st.sampled_from([*ids[kind], _GENERATED])
                    elif location == "query" and name in ("from", "to", "cursor"):
                        choices[(location, name)] = st.sampled_from([_ABSENT, _GENERATED])
        if case.operation.path == "/api/v1/pm-schedules" and isinstance(case.body, dict):
            # a schedule has one valid trigger and one scope: mostly a valid calendar trigger on a site
            valid = {"kind": "calendar", "every": 1, "unit": "months", "anchor": "2027-01-04"}
            choices[("body", "trigger")] = st.sampled_from([valid, valid, valid, _GENERATED])
            if "site_id" not in case.body and "asset_id" not in case.body:  # the scope is required
                choices[("body", "site_id")] = st.sampled_from(ids["site"])
            for optional in ("asset_id", "asset_type", "production_window"):
                if optional in case.body:
                    choices[("body", optional)] = st.sampled_from([_ABSENT, _ABSENT, _GENERATED])
        if case.operation.path == "/api/v1/users" and case.method == "POST" and isinstance(case.body, dict):
            # an address the user pool takes (a fresh one: an email is one sign-in), a password mostly left to Cognito
            fresh = st.uuids().map(lambda u: f"fuzz-{u.hex[:12]}@example.com")
            choices[("body", "email")] = st.one_of(fresh, fresh, fresh, st.just(_GENERATED))
            if "temporary_password" in case.body:
                choices[("body", "temporary_password")] = st.sampled_from([_ABSENT, _ABSENT, _GENERATED])
        if case.headers and "If-Match" in case.headers:
            # a generated pin matches no version (412); "*" lets the write go ahead
            choices[("headers", "If-Match")] = st.sampled_from(["*", _GENERATED])
        records = case.operation.path == "/api/v1/telemetry/ingest" and isinstance(case.body, dict)
        extra = st.tuples(st.sampled_from(ids["placement"]), st.integers(0, 3600)) if records else st.none()

        def apply(picked: tuple[dict[tuple[str, str], Any], Any]) -> Any:
            values, telemetry = picked
            for (location, name), value in values.items():
                if value is _ABSENT:
                    del getattr(case, location)[name]
                elif value is not _GENERATED:
                    getattr(case, location)[name] = value
            if telemetry is not None:
                _recent_records(case.body, *telemetry)
            return case

        return st.tuples(st.fixed_dictionaries(choices), extra).map(apply)


def _order(operation: Any) -> tuple[int, str]:
    # Deletions last, so that the fleet is there for everything else.
    return (operation.method.upper() == "DELETE", operation.label)


def _episodes(database_url: str, tenant_id: str, ids: dict[str, list[Any]]) -> None:
    """A downtime episode per asset of the fleet (the read model's triggers open them from critical alerts
    and statuses; written here directly, so that PATCH /api/v1/downtime/{episode_id} has some to edit)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        for asset_id, site_id in ids["placement"]:
            episode = f"fuzz:{asset_id}"
            conn.execute(
                "INSERT INTO ops.downtime_episodes (tenant_id, id, site_id, asset_id, started_at, source) "
                "VALUES (%s, %s, %s, %s, now() - interval '1 hour', 'status') ON CONFLICT DO NOTHING",
                (tenant_id, episode, site_id, asset_id),
            )
            ids["episode"].append(episode)


def test_every_answer_is_documented(app, http, tenant, stack, router) -> None:
    started = time.perf_counter()
    store = TelemetryStore(stack[1].database_url)
    store.migrate()  # as a deployment does before the API serves telemetry
    store.close()
    api = ApiClient(http, tenant.keys[Role.admin.value])
    ids = _fleet(api)
    _episodes(stack[1].database_url, tenant.tenant.id, ids)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    _register_hooks(schema, ids)
    auth = {"x-api-key": api.key}
    operations = sorted((result.ok() for result in schema.get_all_operations()), key=_order)
    statuses: dict[str, Counter[int]] = {}
    failures: dict[str, str] = {}
    examples = 0

    for operation in operations:
        for mode, budget in BUDGET.items():
            answered = statuses.setdefault(f"{operation.label} ({mode.value})", Counter())

            @seed(SEED)
            @settings(
                max_examples=budget,
                deadline=None,
                database=None,
                phases=[Phase.generate, Phase.shrink],
                suppress_health_check=list(HealthCheck),
                print_blob=False,
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def fuzz(case: Any) -> None:
                nonlocal examples
                examples += 1
                response = case.call_and_validate(headers=auth, checks=CHECKS)
                answered[response.status_code] += 1  # noqa: B023 -- run at once, inside the loop

            try:
                fuzz()
            except Unsatisfiable:
                # Nothing of the operation can be made invalid (no body, no constrained parameter).
                if mode is GenerationMode.POSITIVE:
                    raise
            except Exception as exc:  # every operation is tried; all failures are reported together
                failures[f"{operation.label} ({mode.value})"] = str(exc)

    seconds = time.perf_counter() - started
    summary = "\n".join(f"  {label}: {dict(sorted(counts.items()))}" for label, counts in statuses.items())
    print(f"\n{examples} examples over {len(operations)} operations in {seconds:.1f} s\n{summary}")
    assert not failures, "\n\n".join(f"{label}\n{message}" for label, message in failures.items())
    # The schema carries the validators' constraints: generated data gets through, it is not mostly refused.
    for label, counts in statuses.items():
        if label.endswith("(positive)") and not label.startswith("DELETE"):
            assert sum(n for status, n in counts.items() if status < 300), f"{label} never succeeded: {counts}"
