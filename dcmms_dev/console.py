"""The local stack's console: one readable line per log event instead of Lambda's JSON, repeats collapsed.

``dcmms dev`` installs it (``install``) through the library's hook, ``dcmms.observability.render_logs_with``;
Lambda, the tests and every other process keep the JSON lines. A line is the level, the local time, the
message and the event's own fields as ``k=v`` (the ``extra`` keys, then the appended ones such as
``correlation_id``), secrets redacted as in the JSON lines; an exception's traceback follows, indented::

    WARNING 14:02:07 redis unavailable; serving from DynamoDB  error=ConnectionError retry_after_s=5.0

Warnings and errors that repeat (the same level and message) are printed once per window: the first one
opens a window of ``window_s`` seconds in which the same event is only counted, and when the window ends one
line says how many there were (``(repeated 37 times in the last 10 s)``, naming the event when other lines
came in between). A background thread ends windows on time even when nothing else is logged; ``close``
writes what is still pending. EMF is not the console's business: outside Lambda nothing writes it
(``dcmms.observability``), and the figures are at ``/metrics``.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

from dcmms.observability.logs import redact

if TYPE_CHECKING:
    from aws_lambda_powertools.logging.types import LogRecord

WINDOW_S = 10.0
LEVEL_WIDTH = 7  # "WARNING"
VALUE_MAX = 160  # characters of one field's value; longer ones end in an ellipsis
MESSAGE_IN_SUMMARY_MAX = 80
# What every line carries (Powertools' own keys, the Lambda context's) says nothing about this event.
_NOT_FIELDS = frozenset(
    {
        "level",
        "location",
        "message",
        "timestamp",
        "service",
        "sampling_rate",
        "xray_trace_id",
        "exception",
        "exception_name",
        "exception_notes",
        "stack_trace",
        "cold_start",
        "function_name",
        "function_memory_size",
        "function_arn",
        "function_request_id",
        "taskName",
    }
)
# Keys of the request or invocation rather than of the event: printed after the event's own fields.
_CONTEXT_FIELDS = ("correlation_id", "apigw_request_id")


class ConsoleFormatter(LambdaPowertoolsFormatter):
    """Powertools' formatter with its ``serialize`` step replaced: the structured record it builds (appended
    keys, ``extra`` keys, exception text) becomes one readable line, redacted like the JSON one."""

    def __init__(self) -> None:
        super().__init__(datefmt="%H:%M:%S", serialize_stacktrace=False)

    def serialize(self, log: LogRecord) -> str:
        return render(redact(log))


def render(log: Mapping[str, Any]) -> str:
    """``LEVEL   HH:MM:SS message  k=v k=v`` and, for an exception, its traceback indented below."""
    head = f"{str(log.get('level', '')):<{LEVEL_WIDTH}} {log.get('timestamp', '')} {_message(log.get('message'))}"
    own = [k for k in log if k not in _NOT_FIELDS and k not in _CONTEXT_FIELDS]
    keys = own + [k for k in _CONTEXT_FIELDS if k in log]
    fields = " ".join(f"{k}={_value(log[k])}" for k in keys)
    line = f"{head}  {fields}" if fields else head
    exception = log.get("exception")
    if exception:
        line += "\n" + "\n".join("    " + row for row in str(exception).splitlines())
    return line


def _message(message: Any) -> str:
    if isinstance(message, str):
        return message
    return orjson.dumps(message, default=str).decode()  # a dict (e.g. a logged event)


def _value(value: Any) -> str:
    if isinstance(value, str):
        text = value if value and not any(c.isspace() or c in '"=' for c in value) else _json(value)
    elif isinstance(value, bool) or value is None or isinstance(value, list | tuple | dict):
        text = _json(value)
    else:
        text = str(value)
    return text if len(text) <= VALUE_MAX else text[: VALUE_MAX - 1] + "…"


def _json(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


@dataclass
class _Window:
    level: str
    message: str
    opened: float
    repeats: int = 0


class RepeatFilter(logging.Filter):
    """Holds back repeats of an event (same level and message) at ``min_level`` or above for ``window_s``
    after it was printed, counting them; when the window ends, ``write`` gets one summary line.

    Windows end when an event arrives after their end, at ``flush_due`` (the console's ticker calls it every
    ``tick_s``) and at ``flush_all``. ``clock`` is injectable (monotonic seconds) for tests.
    """

    def __init__(
        self,
        write: Callable[[str], None],
        window_s: float = WINDOW_S,
        min_level: int = logging.WARNING,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.window_s = window_s
        self.min_level = min_level
        self._write = write
        self._clock = clock
        self._windows: dict[tuple[int, str], _Window] = {}
        self._last_printed: tuple[int, str] | None = None  # the key of the line printed last
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        now = self._clock()
        key = (record.levelno, _record_message(record))
        with self._lock:
            summaries = self._close(now, everything=False)
            printed = True
            if record.levelno >= self.min_level:
                window = self._windows.get(key)
                if window is None:
                    self._windows[key] = _Window(record.levelname, key[1], now)
                else:
                    window.repeats += 1
                    printed = False
            if printed:
                self._last_printed = key
        for line in summaries:
            self._write(line)
        return printed

    def flush_due(self) -> None:
        """Write the summaries of the windows that have ended."""
        with self._lock:
            summaries = self._close(self._clock(), everything=False)
        for line in summaries:
            self._write(line)

    def flush_all(self) -> None:
        """End every window now (the process is stopping): write what each counted."""
        with self._lock:
            summaries = self._close(self._clock(), everything=True)
        for line in summaries:
            self._write(line)

    def _close(self, now: float, everything: bool) -> list[str]:
        """End the windows that are over (all of them with ``everything``); their summary lines, in order."""
        lines = []
        for key, window in list(self._windows.items()):
            if not everything and now < window.opened + self.window_s:
                continue
            del self._windows[key]
            if window.repeats:
                lines.append(self._summary(key, window, now))
        return lines

    def _summary(self, key: tuple[int, str], window: _Window, now: float) -> str:
        span = max(1, round(min(now - window.opened, self.window_s)))
        count = f"repeated {window.repeats} {'time' if window.repeats == 1 else 'times'} in the last {span} s"
        follows = self._last_printed == key
        self._last_printed = None  # this summary is now the line printed last
        if follows:
            return f"  ({count})"
        message = (window.message.strip().splitlines() or [""])[0]  # uvicorn's end in a newline
        if len(message) > MESSAGE_IN_SUMMARY_MAX:
            message = message[: MESSAGE_IN_SUMMARY_MAX - 1] + "…"
        return f'  ({window.level} "{message}" {count})'


def _record_message(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except Exception:  # bad %-arguments: logging reports those when it formats; a filter must not raise
        return str(record.msg)


class ConsoleLogs:
    """The console as installed (a context manager): ``close`` stops the ticker, writes the summaries still
    pending and puts the JSON lines back."""

    def __init__(self, repeats: RepeatFilter, restore: Callable[[], None], tick_s: float = 1.0) -> None:
        self.repeats = repeats
        self._restore = restore
        self.also: list[logging.Logger] = []  # other loggers whose repeats the filter holds back
        self._halt = threading.Event()
        self._ticker = threading.Thread(target=self._tick, args=(tick_s,), name="console-repeats", daemon=True)

    def start(self) -> ConsoleLogs:
        self._ticker.start()
        return self

    def _tick(self, tick_s: float) -> None:
        while not self._halt.wait(tick_s):
            self.repeats.flush_due()

    def close(self) -> None:
        self._halt.set()
        if self._ticker.is_alive():
            self._ticker.join(timeout=5)
        self.repeats.flush_all()
        for other in self.also:
            other.removeFilter(self.repeats)
        self._restore()

    def __enter__(self) -> ConsoleLogs:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def install(window_s: float = WINDOW_S, also: Sequence[str] = ()) -> ConsoleLogs:
    """Render the shared Logger's lines for a person at a terminal, repeats collapsed; ``dcmms dev`` only.

    The lines go where the Logger's handler writes (stdout); summaries too, under that handler's lock, so
    that the two never interleave mid-line. ``also``: other loggers (by name) whose repeated records are held
    back in the same way, in their own format (``uvicorn.error``, which logs every unhandled exception's
    traceback again after the API's own ``unhandled error`` line).
    """
    from dcmms.observability import logger, render_logs_with

    handler = logger.registered_handler

    def write(line: str) -> None:
        handler.acquire()
        try:
            out = getattr(handler, "stream", None) or sys.stdout
            out.write(line + "\n")
            out.flush()
        finally:
            handler.release()

    repeats = RepeatFilter(write, window_s)
    console = ConsoleLogs(repeats, render_logs_with(ConsoleFormatter(), repeats))
    for name in also:
        other = logging.getLogger(name)
        other.addFilter(repeats)  # on the logger, so that reconfiguring its handlers (uvicorn does) keeps it
        console.also.append(other)
    return console.start()
