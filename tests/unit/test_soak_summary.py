"""The soak's windows and verdict (tests/soak/summary.py)."""

from __future__ import annotations

import pytest

from tests.soak import summary


def test_windows_give_events_per_second_and_iterator_ages() -> None:
    lines = [
        {"t": 100.5, "delivered": 0, "ages_ms": []},
        {"t": 101.5, "delivered": 500, "ages_ms": [120.0, 80.0]},
        {"t": 110.0, "delivered": 1_000, "ages_ms": [300.0]},
        {"t": 111.0, "delivered": 1_600, "ages_ms": [50.0, 60.0, 70.0]},
    ]
    rows = summary.windows(lines, started=100.0, per_record=100, width_s=10.0)
    assert [r["from_s"] for r in rows] == [0.0, 10.0]
    assert rows[0]["events_per_s"] == pytest.approx(500 * 100 / 2)  # two seconds of lines in the first window
    assert rows[1]["events_per_s"] == pytest.approx(1_100 * 100 / 2)
    assert (rows[0]["age_p50_ms"], rows[0]["age_max_ms"], rows[0]["batches"]) == (80.0, 120.0, 2)
    assert (rows[1]["age_p50_ms"], rows[1]["age_p95_ms"], rows[1]["age_max_ms"]) == (60.0, 300.0, 300.0)


def test_an_empty_window_has_no_ages() -> None:
    rows = summary.windows([{"t": 25.0, "delivered": 0, "ages_ms": []}], started=0.0, per_record=1, width_s=10)
    assert [r["age_p95_ms"] for r in rows] == [None, None, None]


def test_verdict_names_what_is_missing_doubled_or_dead_lettered() -> None:
    assert summary.verdict(1_000, 100, 1_000, 100_000, 0)["ok"]
    missing = summary.verdict(1_000, 100, 1_000, 99_990, 0)
    assert (missing["ok"], missing["missing_events"]) == (False, 10)
    again = summary.verdict(1_000, 100, 1_200, 100_000, 0)
    assert (again["ok"], again["redelivered_records"]) == (False, 200)
    dead = summary.verdict(1_000, 100, 1_000, 100_000, 3)
    assert not dead["ok"] and dead["dead_letters"] == 3
