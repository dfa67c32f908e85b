"""Domain values, ids, commands and the cursor format."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from dcmms.domain import ValidationFailed
from dcmms.domain.apikeys import hash_api_key
from dcmms.domain.commands import SiteCreate, WorkOrderCreate, WorkOrderPatch, patch_fields
from dcmms.domain.ids import new_id, ulid
from dcmms.domain.model import Principal, Priority, Role, Tier, iso
from dcmms.store.paging import decode_cursor, encode_cursor


def test_ulids_sort_by_time_and_are_unique() -> None:
    earlier = ulid(1_700_000_000_000)
    later = ulid(1_700_000_000_001)
    assert len(earlier) == 26 and earlier < later
    assert len({new_id("wo") for _ in range(1000)}) == 1000
    assert new_id("wo").startswith("wo_")


def test_iso_is_fixed_width_so_string_order_is_time_order() -> None:
    a = iso(datetime(2026, 1, 2, 3, 4, 5, 6000, tzinfo=UTC))
    b = iso(datetime(2026, 1, 2, 3, 4, 5, 60000, tzinfo=UTC))
    assert a == "2026-01-02T03:04:05.006Z" and a < b


def test_priority_rank_orders_urgency() -> None:
    assert [p.rank for p in Priority] == [1, 2, 3, 4]


def test_roles() -> None:
    viewer = Principal(tenant_id="t", user_id="u", role=Role.viewer, tier=Tier.free, key_id="k")
    tech = viewer.model_copy(update={"role": Role.technician})
    sup = viewer.model_copy(update={"role": Role.supervisor})
    assert not viewer.can_write and tech.can_write and not tech.can_manage_fleet and sup.can_manage_fleet


def test_site_timezone_must_be_iana() -> None:
    with pytest.raises(ValidationError, match="IANA"):
        SiteCreate(name="x", kind="solar", capacity_mw=1, timezone="Nowhere/Land")
    assert SiteCreate(name=" x ", kind="wind", capacity_mw=1, timezone="Asia/Kolkata").name == "x"


def test_new_work_orders_start_draft_or_open_and_refuse_unknown_fields() -> None:
    with pytest.raises(ValidationError, match="draft"):
        WorkOrderCreate(site_id="s", title="t", type="inspection", status="completed")
    with pytest.raises(ValidationError, match="Extra inputs"):
        WorkOrderCreate(site_id="s", title="t", type="inspection", colour="red")


def test_patch_fields_are_only_what_was_sent() -> None:
    patch = WorkOrderPatch.model_validate({"title": "new", "assigned_to": None})
    assert patch_fields(patch) == {"title": "new", "assigned_to": None}


def test_cursor_round_trip_and_tamper_refusal() -> None:
    token = encode_cursor("wo:site", "3#2026-01-01T00:00:00.000Z#wo_1")
    assert decode_cursor(token, "wo:site") == "3#2026-01-01T00:00:00.000Z#wo_1"
    for bad, plan in ((token, "wo:tenant"), ("garbage!", "wo:site"), ("e30", "wo:site")):
        with pytest.raises(ValidationFailed) as err:
            decode_cursor(bad, plan)
        assert err.value.extra["errors"][0]["field"] == "query.cursor"


def test_api_keys_are_hashed_not_stored() -> None:
    digest = hash_api_key("dcmms_secret")
    assert len(digest) == 64 and "secret" not in digest and digest == hash_api_key("dcmms_secret")


def test_settings_come_from_prefixed_environment_variables() -> None:
    from dcmms.config import Settings

    s = Settings.from_environ(
        {
            "DCMMS_REDIS_TIMEOUT_S": "0.5",
            "DCMMS_TRACING": "true",
            "OTHER": "x",
            "DCMMS_AWS_ENDPOINT_URL": "http://127.0.0.1:5000",
        }
    )
    assert (s.redis_timeout_s, s.tracing, s.aws_endpoint_url) == (0.5, True, "http://127.0.0.1:5000")
    with pytest.raises(ValidationError):
        Settings.from_environ({"DCMMS_ENVIRONMENT": "mars"})


def test_catalogue_schedules() -> None:
    from dcmms.catalogue import FUNCTIONS, SCHEDULED_TIME, schedule_interval_s

    assert schedule_interval_s("rate(15 minutes)") == 900 and schedule_interval_s("rate(1 day)") == 86400
    assert {f.name for f in FUNCTIONS} >= {"api", "warmer"}
    # a function triggered by schedules alone has at least one; any function may have some (reports)
    assert all(f.schedules for f in FUNCTIONS if f.trigger == "schedule")
    for f in FUNCTIONS:
        names = [s.name for s in f.schedules]
        # one unnamed schedule, or several with distinct names (the deployed name is <prefix>-<fn>[-<name>])
        assert names == [""] or (len(set(names)) == len(names) and "" not in names) or not names, f.name
        for s in f.schedules:
            assert s.expression.startswith(("rate(", "cron(")) and s.expression.endswith(")"), f.name
            assert s.payload is None or all(isinstance(k, str) for k in s.payload), f.name
    reports = {s.name: s for f in FUNCTIONS if f.name == "reports" for s in f.schedules}
    assert set(reports) == {"site-daily", "fleet-monthly"}
    assert all(s.payload is not None and s.payload["scheduled_at"] == SCHEDULED_TIME for s in reports.values())
