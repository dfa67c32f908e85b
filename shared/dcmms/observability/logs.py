"""Structured JSON logs: the request's correlation id on every line, and no secret on any line.

Redaction happens where the Powertools formatter serialises a line, so it sees everything the line
holds: the message (an event dict when ``POWERTOOLS_LOGGER_LOG_EVENT`` is on), ``extra`` keys, keys
appended to the logger, and exception text.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any

import orjson

REDACTED = "[REDACTED]"
CORRELATION_HEADER = "x-correlation-id"
# Accepted from the client as well, e.g. from a proxy that sets it.
REQUEST_ID_HEADER = "x-request-id"
# Values under keys containing these never reach a log line, at any depth (headers, events, extras).
_SECRET_KEY_PARTS = (
    "apikey",
    "api_key",
    "api-key",
    "authorization",
    "password",
    "passwd",
    "secret",
    "token",
    "cookie",
    "credential",
)
# A client's correlation id is echoed into logs and headers: short, printable, nothing to inject.
_CORRELATION_ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:@/+=-")


@cache
def _secret_text() -> re.Pattern[str]:
    """Secrets inside free text: dCMMS API keys (``dcmms_`` + 43 url-safe characters) and HTTP credentials.

    Compiled on first use, not at import: most cold starts log nothing.
    """
    return re.compile(r"dcmms_[A-Za-z0-9_-]{40,}|\b(?:Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+", re.IGNORECASE)


def _secret_key(key: object) -> bool:
    if not isinstance(key, str):
        return False
    lowered = key.lower()
    return any(part in lowered for part in _SECRET_KEY_PARTS)


def redact(value: Any) -> Any:
    """A copy of ``value`` with secret-named keys masked and secret-looking text replaced."""
    if isinstance(value, str):
        return _secret_text().sub(REDACTED, value) if "dcmms_" in value or _maybe_credential(value) else value
    if isinstance(value, Mapping):
        return {k: REDACTED if v is not None and _secret_key(k) else redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


def _maybe_credential(text: str) -> bool:
    lowered = text.lower()
    return "bearer" in lowered or "basic" in lowered


def serialize_log(log: dict[str, Any]) -> str:
    """The Powertools logger's serialiser: redact, then JSON (orjson; anything else as its redacted ``str``,
    e.g. the exception object in Powertools' ``stack_trace``)."""
    return orjson.dumps(redact(log), default=_redacted_str).decode()


def _redacted_str(value: Any) -> str:
    return redact(str(value))


def correlation_id(headers: Iterable[tuple[bytes, bytes]], fallback: str | None = None) -> str:
    """The client's ``x-correlation-id`` (or ``x-request-id``) if well-formed, else ``fallback``, else a new id."""
    found: dict[bytes, str] = {}
    for name, value in headers:
        if name in (b"x-correlation-id", b"x-request-id"):
            found[name] = value.decode("latin-1")
    for name in (b"x-correlation-id", b"x-request-id"):
        candidate = found.get(name)
        if candidate and len(candidate) <= 128 and _CORRELATION_ID_CHARS.issuperset(candidate):
            return candidate
    return fallback or str(uuid.uuid4())
