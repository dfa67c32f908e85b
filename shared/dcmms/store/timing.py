"""DynamoDB call durations: botocore's call events (``before-parameter-build`` to ``after-call`` or
``after-call-error``) on the client pynamodb uses.

pynamodb builds its botocore client lazily and inside its own connection, so the hooks are attached
from pynamodb's ``pre_dynamodb_send`` signal, once per client, before that client's first call. The
botocore events (not the signals alone) give the duration of failed calls too — a conditional-check
failure or a timeout — and include botocore's retries, as the caller waits for them. pynamodb's
signals need ``blinker``; without it, DynamoDB calls are simply not timed (logged once).
"""

from __future__ import annotations

import weakref
from time import perf_counter
from typing import Any

from dcmms.observability import logger, record

_STARTED = "dcmms_started"
_instrumented: weakref.WeakSet[Any] = weakref.WeakSet()
_connected = False


def observe_dynamodb_calls() -> None:
    """Time every pynamodb call from now on (idempotent; imports pynamodb.signals, not botocore)."""
    global _connected
    if _connected:
        return
    from pynamodb import signals

    if not signals.signals_available:
        logger.warning("blinker is not installed: DynamoDB call durations are not recorded")
    else:
        signals.pre_dynamodb_send.connect(_before_send, weak=False)
    _connected = True


def _before_send(connection: Any, **_: Any) -> None:
    client = connection.client  # the client pynamodb is about to call (created on first use)
    if client not in _instrumented:
        instrument_client(client)


def instrument_client(client: Any) -> None:
    """Hook a botocore DynamoDB client's call events (also usable on a client built elsewhere)."""
    events = client.meta.events
    # Before parameter building rather than before-call: a before-call handler may answer the call itself
    # (botocore's Stubber does), and then no later before-call handler runs.
    events.register("before-parameter-build.dynamodb", _started)
    events.register("after-call.dynamodb", _finished)
    events.register("after-call-error.dynamodb", _finished)
    _instrumented.add(client)


def _started(context: dict[str, Any], **_: Any) -> None:
    context[_STARTED] = perf_counter()


def _finished(context: dict[str, Any], event_name: str, **_: Any) -> None:
    started = context.pop(_STARTED, None)
    if started is not None:
        record.db_query("dynamodb", event_name.rsplit(".", 1)[-1], perf_counter() - started)
