"""Who is told what, and how the frames get there (docs/live.md).

``Publisher`` decides: an alert raised, acknowledged or resolved goes to every connection of its tenant (the
alerts inbox); an ingested batch's newest readings go to the connections subscribed to their sites, at most one
frame per asset per ``readings_interval_s`` (what arrives in between is merged, newest value per metric, into the
next frame), and only for sites that have subscribers: that check is answered from a per-process cache of each
tenant's subscriptions (one Query per tenant, kept ``subscribers_ttl_s``), so a batch for sites nobody watches costs
dictionary look-ups. A subscription narrowed to one asset gets only that asset's frames. Connections whose person's
token has expired are closed instead of sent to (the browser reconnects with a fresh token).

A ``Transport`` delivers: ``DirectTransport`` posts each frame with API Gateway's ``@connections`` API
(``post_to_connection``) from a small thread pool, deletes a connection API Gateway answers ``GoneException``
for, and waits at most ``deadline_s``; ``RelayTransport`` (the functions inside the VPC, which have no route to
the public ``@connections`` endpoint) hands the frames to the ``live`` function, outside the VPC, by an
asynchronous invoke, and it posts them. Nothing here raises into its caller: a browser that went away, an API
Gateway error or a throttled invoke is logged and counted (``LiveFrames*`` metrics), never an ingest failure.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from dcmms.domain.model import Alert
from dcmms.observability import MetricUnit, logger, metrics

from . import frames

if TYPE_CHECKING:
    from dcmms.store.connections import Recipient
    from dcmms.telemetry.record_format import DecodedRecord

POST_WORKERS = 8  # posts in flight per process: API Gateway answers one in ~10-50 ms
DEADLINE_S = 3.0  # the longest a caller waits for its frames to be delivered
RELAY_CHUNK_BYTES = 192 * 1024  # an asynchronous invoke takes at most 256 KB of payload
RELAY_MARKER = "dcmms_live"  # the key of the events the live function receives from the relays


class Gone(Exception):
    """API Gateway no longer knows the connection (the browser went away): delete it."""


class Recipients(Protocol):
    """What the publisher reads of the connections (``dcmms.store.connections.LiveConnections``)."""

    def of_tenant(self, tenant_id: str) -> list[Recipient]: ...

    def subscriptions(self, tenant_id: str) -> dict[str, list[Recipient]]: ...

    def remove(self, connection_id: str) -> int: ...


class ManagementApi:
    """API Gateway's ``@connections`` API for one stage (botocore's ``apigatewaymanagementapi`` client)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def post(self, connection_id: str, data: bytes) -> None:
        try:
            self.client.post_to_connection(ConnectionId=connection_id, Data=data)
        except self.client.exceptions.GoneException:
            raise Gone(connection_id) from None

    def close(self, connection_id: str) -> None:
        """Disconnect (API Gateway then invokes ``$disconnect``); a connection already gone is closed."""
        try:
            self.client.delete_connection(ConnectionId=connection_id)
        except self.client.exceptions.GoneException:
            raise Gone(connection_id) from None


def management_api(endpoint_url: str, region: str, workers: int = POST_WORKERS) -> ManagementApi:
    """A client of the stage's ``@connections`` endpoint with short deadlines; botocore on first use."""
    import botocore.config
    import botocore.session

    config = botocore.config.Config(
        connect_timeout=1,
        read_timeout=2,
        retries={"max_attempts": 2, "mode": "standard"},
        max_pool_connections=workers,
    )
    client = botocore.session.get_session().create_client(
        "apigatewaymanagementapi", region_name=region, endpoint_url=endpoint_url, config=config
    )
    return ManagementApi(client)


@dataclass
class Delivery:
    """Frames for connections, and connections to close (their token expired)."""

    frames: list[tuple[tuple[str, ...], bytes]] = field(default_factory=list)
    close: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.frames or self.close)

    @property
    def messages(self) -> int:
        return sum(len(ids) for ids, _ in self.frames)

    def relay_payloads(self, max_bytes: int = RELAY_CHUNK_BYTES) -> list[bytes]:
        """The delivery as the live function's events, each within an asynchronous invoke's payload limit."""
        chunks: list[dict[str, Any]] = []
        current: dict[str, Any] = {RELAY_MARKER: "deliver", "frames": [], "close": sorted(self.close)}
        size = 64 + sum(len(c) + 3 for c in self.close)
        for ids, frame in self.frames:
            entry = {"to": list(ids), "data": frame.decode()}
            cost = len(frame) + sum(len(i) + 3 for i in ids) + 32
            if current["frames"] and size + cost > max_bytes:
                chunks.append(current)
                current, size = {RELAY_MARKER: "deliver", "frames": [], "close": []}, 64
            current["frames"].append(entry)
            size += cost
        chunks.append(current)
        return [orjson.dumps(chunk) for chunk in chunks]

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> Delivery:
        return cls(
            [(tuple(str(i) for i in f["to"]), str(f["data"]).encode()) for f in event.get("frames") or []],
            {str(c) for c in event.get("close") or []},
        )


@dataclass
class Outcome:
    sent: int = 0
    failed: int = 0
    gone: int = 0
    closed: int = 0
    relayed: int = 0  # asynchronous invokes of the live function

    def add(self, other: Outcome) -> None:
        for name in ("sent", "failed", "gone", "closed", "relayed"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


class Transport(Protocol):
    def deliver(self, delivery: Delivery) -> Outcome:
        """Deliver what can be delivered within the deadline; never raises."""
        ...


class DirectTransport:
    """Posts each frame to its connection through ``@connections``, ``workers`` at a time."""

    def __init__(
        self,
        api: Callable[[], ManagementApi],
        connections: Callable[[], Recipients],
        workers: int = POST_WORKERS,
        deadline_s: float = DEADLINE_S,
    ) -> None:
        self._api_factory = api
        self._api: ManagementApi | None = None
        self._connections = connections
        self._workers = workers
        self.deadline_s = deadline_s
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def _executor(self) -> tuple[ThreadPoolExecutor, ManagementApi]:
        with self._lock:
            if self._pool is None:  # one per execution environment, on the first frame
                self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="live-post")
            if self._api is None:
                self._api = self._api_factory()
            return self._pool, self._api

    def deliver(self, delivery: Delivery) -> Outcome:
        outcome = Outcome()
        if not delivery:
            return outcome
        try:
            pool, api = self._executor()
            posts = [(cid, pool.submit(api.post, cid, frame)) for ids, frame in delivery.frames for cid in ids]
            closes = [(cid, pool.submit(api.close, cid)) for cid in sorted(delivery.close)]
        except Exception:
            logger.exception("live: the @connections client could not be created; frames dropped")
            outcome.failed += delivery.messages
            return outcome
        wait([f for _, f in posts + closes], timeout=self.deadline_s)
        stale: set[str] = set()
        first_error: BaseException | None = None
        for cid, future in posts:
            error = _error_of(future)
            if error is None:
                outcome.sent += 1
            elif isinstance(error, Gone):
                outcome.gone += cid not in stale
                stale.add(cid)
            else:
                outcome.failed += 1
                first_error = first_error or error
        for cid, future in closes:
            error = _error_of(future)
            if error is None or isinstance(error, Gone):
                outcome.closed += 1
                stale.add(cid)
            else:
                first_error = first_error or error
        for cid in sorted(stale):
            try:
                self._connections().remove(cid)
            except Exception:  # its items expire anyway (TTL); the next post finds it gone again
                logger.exception("live: a gone connection could not be deleted", extra={"connection_id": cid})
        if first_error is not None:
            logger.warning(
                "live: frames not delivered",
                extra={"failed": outcome.failed, "sent": outcome.sent, "error": repr(first_error)[:300]},
            )
        return outcome


def _error_of(future: Future[None]) -> BaseException | None:
    if not future.done():
        return TimeoutError("not delivered within the deadline")
    return future.exception()


class RelayTransport:
    """Hands the frames to the ``live`` function (outside the VPC) by an asynchronous invoke; it posts them."""

    def __init__(self, client: Callable[[], Any], function_name: str) -> None:
        self._client = client
        self.function_name = function_name

    def deliver(self, delivery: Delivery) -> Outcome:
        outcome = Outcome()
        if not delivery:
            return outcome
        try:
            payloads = delivery.relay_payloads()
            client = self._client()
            for payload in payloads:
                client.invoke(FunctionName=self.function_name, InvocationType="Event", Payload=payload)
                outcome.relayed += 1
        except Exception as exc:
            outcome.failed += delivery.messages
            logger.warning(
                "live: frames could not be relayed to the live function",
                extra={"function": self.function_name, "frames": delivery.messages, "error": repr(exc)[:300]},
            )
        return outcome


class ReadingsThrottle:
    """At most one frame per key (an asset) per ``interval_s``. What is offered in between is merged into the
    held values (the newer value of each metric wins) and sent with the next frame the interval allows."""

    def __init__(self, interval_s: float, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000) -> None:
        self.interval_s = interval_s
        self._clock = clock
        self._max_keys = max_keys
        self._sent: dict[tuple[str, str], float] = {}
        self._held: dict[tuple[str, str], tuple[datetime, dict[str, float]]] = {}

    def offer(
        self, key: tuple[str, str], ts: datetime, values: dict[str, float]
    ) -> tuple[datetime, dict[str, float]] | None:
        held = self._held.pop(key, None)
        if held is not None:
            values = {**held[1], **values} if ts >= held[0] else {**values, **held[1]}
            ts = max(ts, held[0])
        now = self._clock()
        last = self._sent.get(key)
        if last is not None and now - last < self.interval_s:
            self._held[key] = (ts, values)
            return None
        if len(self._sent) >= self._max_keys:
            self._forget(now)
        self._sent[key] = now
        return ts, values

    def _forget(self, now: float) -> None:
        """Drop the keys whose interval has passed (they would be sent at once anyway)."""
        for key in [k for k, at in self._sent.items() if now - at >= self.interval_s]:
            del self._sent[key]
            self._held.pop(key, None)


class SubscriberCache:
    """A tenant's subscriptions (site -> its subscribers), read at most every ``ttl_s`` per process (none
    included): one read per tenant, however many of its sites a batch carries."""

    def __init__(
        self,
        load: Callable[[str], dict[str, list[Recipient]]],
        ttl_s: float,
        clock: Callable[[], float] = time.monotonic,
        max_tenants: int = 10_000,
    ) -> None:
        self._load = load
        self.ttl_s = ttl_s
        self._clock = clock
        self._max_tenants = max_tenants
        self._cache: dict[str, tuple[float, dict[str, list[Recipient]]]] = {}
        self.loads = 0

    def __call__(self, tenant_id: str, site_id: str) -> list[Recipient]:
        now = self._clock()
        hit = self._cache.get(tenant_id)
        if hit is None or hit[0] <= now:
            self.loads += 1
            found = self._load(tenant_id)
            if len(self._cache) >= self._max_tenants:
                self._cache.clear()
            hit = self._cache[tenant_id] = (now + self.ttl_s, found)
        return hit[1].get(site_id, [])


def _noop() -> None:
    return None


class Publisher:
    def __init__(
        self,
        connections: Callable[[], Recipients],
        transport: Transport,
        readings_interval_s: float = 2.0,
        subscribers_ttl_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._connections = connections
        self.transport = transport
        self.throttle = ReadingsThrottle(readings_interval_s, clock)
        self.subscribers = SubscriberCache(lambda t: connections().subscriptions(t), subscribers_ttl_s, clock)
        self._now = now
        self._dispatcher: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self.totals = Outcome()

    # -- alerts: the tenant's inbox ------------------------------------------------------------------------

    def alert_changed(self, event: str, alert: Alert) -> None:
        """Tell every connection of the alert's tenant; waits for the delivery (bounded), never raises."""
        try:
            frame = frames.alert_frame(event, alert)
            delivery = self._delivery(self._connections().of_tenant(alert.tenant_id), frame)
            self._record(self.transport.deliver(delivery) if delivery else Outcome())
        except Exception:
            logger.exception("live: an alert change could not be pushed", extra={"alert_id": alert.id})

    # -- readings: a site's subscribers ------------------------------------------------------------------------

    def push_readings(self, records: Sequence[DecodedRecord]) -> Callable[[], None]:
        """Start pushing the batch's newest readings to the subscribers of their sites; returns what waits for the
        delivery (bounded; call it before the invocation ends). Nothing to push: no I/O, no thread."""
        try:
            delivery = self._readings(records)
        except Exception:
            logger.exception("live: readings could not be pushed")
            return _noop
        if not delivery:
            return _noop
        with self._lock:
            if self._dispatcher is None:  # deliveries one after another: the transport fans each out
                self._dispatcher = ThreadPoolExecutor(1, thread_name_prefix="live-readings")
        future = self._dispatcher.submit(self.transport.deliver, delivery)

        def settle() -> None:
            try:
                self._record(future.result(timeout=DEADLINE_S + 2))
            except Exception:
                logger.exception("live: readings delivery did not finish")

        return settle

    def _readings(self, records: Sequence[DecodedRecord]) -> Delivery:
        watched: dict[tuple[str, str], list[Recipient]] = {}
        wanted: dict[tuple[str, str, str], list[Recipient]] = {}  # (tenant, site, asset) -> who takes its frames
        newest: dict[tuple[str, str, str], tuple[datetime, dict[str, float]]] = {}
        for record in records:
            site = (record.tenant_id, record.site_id)
            if site not in watched:
                watched[site] = self.subscribers(*site)
            if not watched[site] or not record.readings:
                continue
            key = (record.tenant_id, record.site_id, record.asset_id)
            if key not in wanted:  # the site's subscribers, less those narrowed to another of its assets
                wanted[key] = [r for r in watched[site] if r.asset_id in (None, record.asset_id)]
            if not wanted[key]:
                continue
            ts, values = newest.get(key, (record.readings[0][0], {}))
            for at, reading in sorted(record.readings, key=lambda r: r[0]):
                if at >= ts:
                    values.update(reading)
                    ts = at
                else:  # older than what the batch already had: only metrics it lacks
                    values.update({m: v for m, v in reading.items() if m not in values})
            newest[key] = (ts, values)
        delivery = Delivery()
        for (tenant_id, site_id, asset_id), (ts, values) in newest.items():
            ready = self.throttle.offer((tenant_id, asset_id), ts, values)
            if ready is None:
                continue
            part = self._delivery(
                wanted[(tenant_id, site_id, asset_id)], frames.readings_frame(site_id, asset_id, *ready)
            )
            delivery.frames += part.frames
            delivery.close |= part.close
        return delivery

    # -- shared ---------------------------------------------------------------------------------------------

    def _delivery(self, recipients: Sequence[Recipient], frame: bytes) -> Delivery:
        now = self._now()
        current = tuple(r.connection_id for r in recipients if r.valid_until > now)
        expired = {r.connection_id for r in recipients if r.valid_until <= now}
        return Delivery([(current, frame)] if current else [], expired)

    def _record(self, outcome: Outcome) -> None:
        with self._lock:
            self.totals.add(outcome)
        record_outcome(outcome)


def record_outcome(outcome: Outcome) -> None:
    """The delivery's figures as metrics (EMF in Lambda), from the calling thread: Powertools' metrics are not shared
    across threads."""
    for name, value in (
        ("LiveFramesSent", outcome.sent),
        ("LiveFramesFailed", outcome.failed),
        ("LiveConnectionsGone", outcome.gone),
        ("LiveConnectionsClosed", outcome.closed),
        ("LiveRelays", outcome.relayed),
    ):
        if value:
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
