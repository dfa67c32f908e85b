"""Calendar PM triggers on a site's wall clock: intervals, RRULEs, daylight-saving changes, completion-based
recurrence, lead time, and the derived ids that make each occurrence one work order."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from pydantic import ValidationError

from dcmms.domain.pm import (
    CalendarTrigger,
    Target,
    forecast,
    generation_time,
    next_due,
    occurrence_key,
    occurrence_work_order_id,
    occurrences,
)

MADRID = "Europe/Madrid"  # CET/CEST: 2027-03-28 02:00 -> 03:00, 2027-10-31 03:00 -> 02:00


def _local(due: datetime, zone: str = MADRID) -> str:
    return occurrence_key(due, zone)


def test_an_interval_keeps_its_local_hour_across_both_dst_changes() -> None:
    weekly = CalendarTrigger(every=1, unit="weeks", anchor=date(2027, 3, 14), at="08:00")
    dues = list(_take(occurrences(weekly, MADRID), 4))
    assert [_local(d) for d in dues] == ["2027-03-14T08:00", "2027-03-21T08:00", "2027-03-28T08:00", "2027-04-04T08:00"]
    # 08:00 local is 07:00 UTC in winter and 06:00 UTC in summer
    assert [d.hour for d in dues] == [7, 7, 6, 6]
    autumn = CalendarTrigger(every=1, unit="days", anchor=date(2027, 10, 30), at="08:00")
    assert [d.hour for d in _take(occurrences(autumn, MADRID), 3)] == [6, 7, 7]


def test_a_wall_clock_time_that_does_not_exist_moves_forward() -> None:
    nightly = CalendarTrigger(every=1, unit="days", anchor=date(2027, 3, 27), at="02:30")
    dues = list(_take(occurrences(nightly, MADRID), 3))
    # 02:30 does not exist on 2027-03-28 in Madrid: the occurrence is still that day, once
    assert [d.astimezone(UTC).strftime("%d %H:%M") for d in dues] == ["27 01:30", "28 01:30", "29 00:30"]


def test_months_and_years_follow_the_calendar() -> None:
    monthly = CalendarTrigger(every=1, unit="months", anchor=date(2027, 1, 31))
    assert [_local(d)[:10] for d in _take(occurrences(monthly, "UTC"), 3)] == ["2027-01-31", "2027-02-28", "2027-03-31"]
    quarterly = CalendarTrigger(every=3, unit="months", anchor=date(2027, 1, 15))
    assert [_local(d)[:10] for d in _take(occurrences(quarterly, "UTC"), 3)] == [
        "2027-01-15",
        "2027-04-15",
        "2027-07-15",
    ]


def test_an_rrule_on_the_sites_wall_clock() -> None:
    first_monday = CalendarTrigger(rrule="FREQ=MONTHLY;BYDAY=1MO", anchor=date(2027, 1, 1), at="07:30")
    dues = list(_take(occurrences(first_monday, MADRID), 4))
    assert [_local(d) for d in dues] == [
        "2027-01-04T07:30",
        "2027-02-01T07:30",
        "2027-03-01T07:30",
        "2027-04-05T07:30",  # after the spring change: still 07:30 local
    ]
    after = next_due(first_monday, MADRID, Target(last_due=dues[1]))
    assert after == dues[2]


def test_completion_based_recurrence_counts_from_when_it_was_done() -> None:
    every_30 = CalendarTrigger(every=30, unit="days", anchor=date(2027, 1, 1), basis="completion")
    assert _local(next_due(every_30, "UTC", Target()) or datetime.min)[:10] == "2027-01-01"
    waiting = Target(last_due=datetime(2027, 1, 1, 8, tzinfo=UTC))
    assert next_due(every_30, "UTC", waiting) is None  # generated, not done: nothing further is due yet
    done_late = Target(last_due=waiting.last_due, last_completed_at=datetime(2027, 1, 20, 15, tzinfo=UTC))
    assert _local(next_due(every_30, "UTC", done_late) or datetime.min, "UTC") == "2027-02-19T08:00"
    fixed = CalendarTrigger(every=30, unit="days", anchor=date(2027, 1, 1))
    assert _local(next_due(fixed, "UTC", done_late) or datetime.min)[:10] == "2027-01-31"  # the rhythm holds


def test_forecast_and_lead_time() -> None:
    weekly = CalendarTrigger(every=1, unit="weeks", anchor=date(2027, 3, 1))
    dues = forecast(weekly, MADRID, Target(), datetime(2027, 4, 1, tzinfo=UTC))
    assert len(dues) == 5 and dues == sorted(dues)
    assert generation_time(dues[0], 3) == dues[0] - timedelta(days=3)
    floating = CalendarTrigger(every=2, unit="weeks", anchor=date(2027, 3, 1), basis="completion")
    assert len(forecast(floating, MADRID, Target(), datetime(2027, 4, 30, tzinfo=UTC))) == 5


def test_a_trigger_is_one_rule() -> None:
    for bad in (
        {"anchor": "2027-01-01"},
        {"every": 1, "unit": "weeks", "rrule": "FREQ=DAILY", "anchor": "2027-01-01"},
        {"rrule": "FREQ=SOMETIMES", "anchor": "2027-01-01"},
        {"rrule": "FREQ=DAILY", "anchor": "2027-01-01", "basis": "completion"},
        {"every": 0, "unit": "days", "anchor": "2027-01-01"},
    ):
        with pytest.raises(ValidationError):
            CalendarTrigger.model_validate(bad)


def test_an_occurrence_names_one_work_order() -> None:
    due = datetime(2027, 3, 28, 6, tzinfo=UTC)
    key = occurrence_key(due, MADRID)
    one = occurrence_work_order_id("t1", "pm_1", "inv-1", key, due)
    assert one == occurrence_work_order_id("t1", "pm_1", "inv-1", key, due)
    assert one.startswith("wo_") and len(one) == 29
    others = {
        occurrence_work_order_id("t1", "pm_1", "inv-2", key, due),
        occurrence_work_order_id("t1", "pm_2", "inv-1", key, due),
        occurrence_work_order_id("t2", "pm_1", "inv-1", key, due),
        occurrence_work_order_id("t1", "pm_1", "inv-1", "2027-04-04T08:00", due),
    }
    assert one not in others and len(others) == 4


def _take(it, n):  # type: ignore[no-untyped-def]
    for _, value in zip(range(n), it, strict=False):
        yield value
