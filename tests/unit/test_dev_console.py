"""The local stack's console (dcmms_dev.console): readable log lines, repeats collapsed; and its banner."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dcmms.observability import logger, record, render_logs_with
from dcmms_dev.console import ConsoleFormatter, RepeatFilter, install, render
from dcmms_dev.stack import _print_banner

API_KEY = "dcmms_" + "k" * 43
REDIS_DOWN = "redis unavailable; serving from DynamoDB"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def _record(message: str, level: int = logging.WARNING, **extra: object) -> logging.LogRecord:
    made = logging.makeLogRecord({"name": "dcmms", "levelno": level, "levelname": logging.getLevelName(level)})
    made.msg = message
    made.__dict__.update(extra)
    return made


# -- one line per event --------------------------------------------------------------------------------


def test_a_line_is_level_time_message_then_the_event_fields_then_the_request_ones() -> None:
    line = render(
        {
            "level": "WARNING",
            "location": "_trip:90",
            "message": REDIS_DOWN,
            "timestamp": "14:02:07",
            "service": "dcmms",
            "correlation_id": "req-42",
            "error": "ConnectionError",
            "retry_after_s": 5.0,
        }
    )
    assert line == (
        "WARNING 14:02:07 redis unavailable; serving from DynamoDB"
        "  error=ConnectionError retry_after_s=5.0 correlation_id=req-42"
    )


def test_values_are_compact_quoted_only_when_needed_and_cut_when_long() -> None:
    line = render(
        {
            "level": "INFO",
            "timestamp": "09:00:00",
            "message": "cache warmed",
            "sites": 3,
            "note": "two words",
            "empty": "",
            "ok": True,
            "rejected": [{"id": "r1"}],
            "long": "x" * 500,
        }
    )
    assert line.startswith(
        'INFO    09:00:00 cache warmed  sites=3 note="two words" empty="" ok=true rejected=[{"id":"r1"}]'
    )
    assert line.endswith("long=" + "x" * 159 + "…")


def test_the_formatter_shows_local_time_redacts_and_indents_the_traceback() -> None:
    formatter = ConsoleFormatter()
    made = _record("unhandled error", logging.ERROR, path="/api/v1/sites", header=f"x-api-key: {API_KEY}")
    made.created = 1_700_000_000.5
    try:
        raise ValueError(f"bad key {API_KEY}")
    except ValueError:
        import sys

        made.exc_info = sys.exc_info()
    text = formatter.format(made)
    first, *trace = text.splitlines()
    clock = time.strftime("%H:%M:%S", time.localtime(made.created))
    assert first == f'ERROR   {clock} unhandled error  path=/api/v1/sites header="x-api-key: [REDACTED]"'
    assert trace[0] == "    Traceback (most recent call last):"
    assert trace[-1] == "    ValueError: bad key [REDACTED]"
    assert API_KEY not in text


# -- repeats -------------------------------------------------------------------------------------------


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def written() -> list[str]:
    return []


@pytest.fixture
def repeats(clock: FakeClock, written: list[str]) -> RepeatFilter:
    return RepeatFilter(written.append, window_s=10, clock=clock)


def test_a_repeated_warning_is_printed_once_then_counted_at_the_end_of_its_window(clock, written, repeats) -> None:
    assert repeats.filter(_record(REDIS_DOWN)) is True
    for _ in range(37):
        clock.advance(0.2)
        assert repeats.filter(_record(REDIS_DOWN)) is False
    repeats.flush_due()
    assert written == []  # 7.4 s in: the window is still open
    clock.advance(2.6)
    repeats.flush_due()
    assert written == ["  (repeated 37 times in the last 10 s)"]
    repeats.flush_due()
    assert written == ["  (repeated 37 times in the last 10 s)"]  # said once


def test_after_the_window_the_event_is_printed_again_after_the_count(clock, written, repeats) -> None:
    repeats.filter(_record(REDIS_DOWN))
    clock.advance(1)
    repeats.filter(_record(REDIS_DOWN))
    clock.advance(10)
    assert repeats.filter(_record(REDIS_DOWN)) is True  # a new window
    assert written == ["  (repeated 1 time in the last 10 s)"]


def test_a_single_event_leaves_no_summary(clock, written, repeats) -> None:
    repeats.filter(_record(REDIS_DOWN))
    clock.advance(30)
    repeats.flush_due()
    repeats.flush_all()
    assert written == []


def test_the_count_names_the_event_when_other_lines_came_in_between(clock, written, repeats) -> None:
    repeats.filter(_record("request", logging.ERROR, status=503))
    repeats.filter(_record("request", logging.ERROR, status=503))
    repeats.filter(_record("Exception in ASGI application\n", logging.ERROR))
    repeats.filter(_record("Exception in ASGI application\n", logging.ERROR))
    assert repeats.filter(_record(REDIS_DOWN)) is True
    assert repeats.filter(_record("request", logging.WARNING)) is True  # another level: another event
    clock.advance(10)
    repeats.flush_due()
    assert written == [
        '  (ERROR "request" repeated 1 time in the last 10 s)',
        '  (ERROR "Exception in ASGI application" repeated 1 time in the last 10 s)',
    ]


def test_info_and_debug_lines_are_never_held_back(clock, written, repeats) -> None:
    assert all(repeats.filter(_record("cache warmed", logging.INFO)) for _ in range(5))
    assert all(repeats.filter(_record("request", logging.DEBUG)) for _ in range(5))
    clock.advance(11)
    repeats.flush_all()
    assert written == []


def test_stopping_writes_what_is_pending_with_the_time_it_covers(clock, written, repeats) -> None:
    repeats.filter(_record(REDIS_DOWN))
    clock.advance(2)
    repeats.filter(_record(REDIS_DOWN))
    clock.advance(1.2)
    repeats.flush_all()
    assert written == ["  (repeated 1 time in the last 3 s)"]


def test_a_message_with_bad_arguments_does_not_break_the_filter(repeats) -> None:
    made = _record("%d things")
    made.args = ("not a number",)
    assert repeats.filter(made) is True


# -- installed on the shared logger --------------------------------------------------------------------


@pytest.fixture
def stdout_of_logger() -> Iterator[io.StringIO]:
    """The shared Logger's handler writing into a buffer for the test."""
    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    yield buffer
    handler.setStream(previous)


def test_install_renders_the_shared_logger_readably_and_close_puts_json_back(stdout_of_logger) -> None:
    with install(window_s=60) as console:
        logger.thread_safe_append_keys(correlation_id="cid-7")
        try:
            for _ in range(3):
                logger.warning(REDIS_DOWN, extra={"error": "ConnectionError"})
        finally:
            logger.thread_safe_remove_keys(["correlation_id"])
        assert console.repeats.window_s == 60
    logger.info("after", extra={"n": 1})
    lines = stdout_of_logger.getvalue().splitlines()
    assert lines[0].startswith("WARNING ") and lines[0].endswith(
        f"{REDIS_DOWN}  error=ConnectionError correlation_id=cid-7"
    )
    assert lines[1].startswith("  (repeated 2 times in the last ")
    assert json.loads(lines[2])["message"] == "after" and len(lines) == 3
    assert not logger.registered_handler.filters


def test_install_holds_back_the_repeats_of_other_named_loggers_too(stdout_of_logger) -> None:
    other = logging.getLogger("tests.console.server")
    seen = io.StringIO()
    handler = logging.StreamHandler(seen)
    other.addHandler(handler)
    other.propagate = False
    try:
        with install(window_s=60, also=("tests.console.server",)):
            for _ in range(4):
                other.error("Exception in ASGI application")
        other.error("Exception in ASGI application")  # closed: the filter is gone
    finally:
        other.removeHandler(handler)
        other.propagate = True
    assert seen.getvalue().splitlines() == ["Exception in ASGI application"] * 2
    assert stdout_of_logger.getvalue().splitlines() == ["  (repeated 3 times in the last 1 s)"]
    assert not other.filters


def test_the_hook_is_refused_in_lambda(monkeypatch) -> None:
    monkeypatch.setattr(record, "IN_LAMBDA", True)
    with pytest.raises(RuntimeError, match="JSON"):
        render_logs_with(ConsoleFormatter())


# -- the banner ----------------------------------------------------------------------------------------


def test_the_banner_shows_how_long_each_server_took_to_start(capsys) -> None:
    state = {
        "api_url": "http://127.0.0.1:8000",
        "docs_url": "http://127.0.0.1:8000/docs",
        "health_url": "http://127.0.0.1:8000/health",
        "dynamodb_endpoint_url": "http://127.0.0.1:40001",
        "kinesis_endpoint_url": "http://127.0.0.1:40005",
        "aws_endpoint_url": "http://127.0.0.1:40002",
        "redis_url": "redis://127.0.0.1:40003/0",
        "database_url": "postgresql://dcmms@127.0.0.1:40004/dcmms",
        "api_keys": {"helios-solar": {"admin": "k1"}},
        "api_keys_by_tier": {"free": "k2"},
    }
    startup = {"dynamodb": 1.43, "kinesis": 0.4, "moto": 0.9, "redis": 0.06, "postgres": 2.31}
    _print_banner(state, 12.34, Path(".dcmms/local.json"), startup)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "dCMMS local stack is up (12.3 s)"
    assert "  DynamoDB   http://127.0.0.1:40001   (DynamoDB Local, started in 1.4 s)" in out
    assert "  Kinesis    http://127.0.0.1:40005   (kinesalite, started in 0.4 s)" in out
    assert "  AWS (moto) http://127.0.0.1:40002   (S3, SQS, ..., started in 0.9 s)" in out
    assert "  Redis      redis://127.0.0.1:40003/0   (started in 0.1 s)" in out
    assert "  PostgreSQL postgresql://dcmms@127.0.0.1:40004/dcmms   (started in 2.3 s)" in out
