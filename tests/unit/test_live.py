"""Live updates over in-memory fakes: the protocol's frames, the readings throttle and subscriber cache, the
publisher's fan-outs and transports, the live function's routes, and the hooks in the alerts service and ingest."""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from dcmms.domain import commands as cmd
from dcmms.domain.errors import Unauthorized
from dcmms.domain.model import Alert, AlertSeverity, AssetType, Principal, Role, Tier
from dcmms.live import frames
from dcmms.live.publisher import (
    Delivery,
    DirectTransport,
    Gone,
    Outcome,
    Publisher,
    ReadingsThrottle,
    RelayTransport,
    SubscriberCache,
)
from dcmms.live.sockets import MAX_SITES, LiveSockets
from dcmms.store.connections import LiveConnection, Recipient
from dcmms.telemetry.record_format import DecodedRecord
from tests.unit.fakes import T0, World, principal

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


# -- frames ------------------------------------------------------------------------------------------------


def _alert(**fields: Any) -> Alert:
    data = {
        "id": "alr_1",
        "tenant_id": "t1",
        "site_id": "site_1",
        "asset_id": "ast_1",
        "severity": AlertSeverity.major,
        "message": "hot",
        "raised_at": T0,
        "created_at": T0,
        "updated_at": T0,
    }
    return Alert.model_validate(data | fields)


def test_frames_are_the_protocols_json() -> None:
    alert = _alert()
    assert orjson.loads(frames.alert_frame("raised", alert)) == {
        "type": "alert",
        "event": "raised",
        "alert": orjson.loads(alert.model_dump_json()),  # as GET /api/v1/alerts/{id} writes it
    }
    with pytest.raises(ValueError):
        frames.alert_frame("exploded", alert)
    assert orjson.loads(frames.readings_frame("s", "a", NOW, {"ac_power_kw": 1.5})) == {
        "type": "readings",
        "site_id": "s",
        "asset_id": "a",
        "ts": "2026-12-07T12:00:00Z",
        "values": {"ac_power_kw": 1.5},
    }
    assert orjson.loads(frames.pong()) == {"type": "pong"}
    assert orjson.loads(frames.error("x")) == {"type": "error", "detail": "x"}


@pytest.mark.parametrize(
    ("body", "parsed"),
    [
        ('{"action": "ping"}', frames.Action("ping")),
        ('{"action": "subscribe", "site_id": "site_1"}', frames.Action("subscribe", "site_1")),
        ('{"action": "subscribe", "site_id": "s", "asset_id": "a"}', frames.Action("subscribe", "s", "a")),
        ('{"action": "unsubscribe", "site_id": "s", "asset_id": "a"}', frames.Action("unsubscribe", "s")),
        (b'{"action": "unsubscribe", "site_id": "site_1"}', frames.Action("unsubscribe", "site_1")),
    ],
)
def test_client_actions_are_parsed(body: str | bytes, parsed: frames.Action) -> None:
    assert frames.parse_action(body) == parsed


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (None, "JSON object"),
        ("", "JSON object"),
        ("nope", "not JSON"),
        ("[1]", "JSON object"),
        ('{"action": "shout"}', "Unknown action"),
        ('{"action": "subscribe"}', "site_id"),
        ('{"action": "subscribe", "site_id": "../etc"}', "site_id"),
        ('{"action": "subscribe", "site_id": 7}', "site_id"),
        ('{"action": "subscribe", "site_id": "s", "asset_id": ["a"]}', "asset_id"),
        ('{"action": "ping", "pad": "' + "x" * 5000 + '"}', "at most"),
    ],
)
def test_anything_else_is_a_bad_message_naming_the_problem(body: str | None, says: str) -> None:
    with pytest.raises(frames.BadMessage, match=says):
        frames.parse_action(body)


def _jwt(claims: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(orjson.dumps(data)).decode().rstrip("=")

    return f"{part({'alg': 'RS256'})}.{part(claims)}.sig"


def test_a_verified_tokens_expiry_is_read_from_its_payload() -> None:
    assert frames.token_expiry(_jwt({"exp": NOW.timestamp()})) == NOW
    assert frames.token_expiry("not-a-jwt") is None
    assert frames.token_expiry(_jwt({"sub": "x"})) is None


# -- throttle and subscriber cache ---------------------------------------------------------------------------


def test_readings_are_throttled_per_asset_and_what_is_held_is_merged_into_the_next_frame() -> None:
    clock = Clock()
    throttle = ReadingsThrottle(2.0, clock)
    key = ("t1", "ast_1")
    assert throttle.offer(key, NOW, {"p": 1.0}) == (NOW, {"p": 1.0})
    assert throttle.offer(("t1", "ast_2"), NOW, {"p": 9.0}) is not None  # another asset has its own interval
    clock.t += 1.0
    assert throttle.offer(key, NOW + timedelta(seconds=1), {"p": 2.0, "t": 40.0}) is None  # held
    clock.t += 0.5
    assert throttle.offer(key, NOW + timedelta(seconds=2), {"p": 3.0}) is None  # merged into what is held
    clock.t += 0.5
    # the interval has passed: one frame with the newest value of each metric
    assert throttle.offer(key, NOW + timedelta(seconds=3), {"p": 4.0}) == (
        NOW + timedelta(seconds=3),
        {"p": 4.0, "t": 40.0},
    )
    clock.t += 0.1
    assert throttle.offer(key, NOW + timedelta(seconds=4), {"p": 5.0}) is None
    clock.t += 2.0
    # a late (older) reading never overwrites a newer held value
    assert throttle.offer(key, NOW, {"p": 0.0, "v": 1.0}) == (NOW + timedelta(seconds=4), {"p": 5.0, "v": 1.0})


def test_the_throttle_forgets_assets_whose_interval_passed_when_full() -> None:
    clock = Clock()
    throttle = ReadingsThrottle(2.0, clock, max_keys=2)
    throttle.offer(("t", "a"), NOW, {"p": 1.0})
    throttle.offer(("t", "b"), NOW, {"p": 1.0})
    clock.t += 3
    assert throttle.offer(("t", "c"), NOW, {"p": 1.0}) is not None
    assert len(throttle._sent) == 1  # a and b were past their interval


def test_subscriptions_are_read_at_most_once_per_ttl_per_tenant_whatever_the_sites() -> None:
    clock, reads = Clock(), []
    watcher = Recipient("c1", LATER)

    def load(tenant: str) -> dict[str, list[Recipient]]:
        reads.append(tenant)
        return {"s1": [watcher]} if tenant == "t1" else {}

    cache = SubscriberCache(load, 2.0, clock)
    assert cache("t1", "s1") == [watcher] and cache("t1", "s2") == [] and cache("t2", "s9") == []
    assert reads == ["t1", "t2"]
    clock.t += 2.0
    cache("t1", "s3")
    assert reads[-1] == "t1" and cache.loads == 3


# -- publisher -----------------------------------------------------------------------------------------------


class FakeConnections:
    """The connections table in memory (the parts the publisher and the routes use)."""

    def __init__(self) -> None:
        self.items: dict[str, LiveConnection] = {}
        self.subs: dict[str, dict[str, str | None]] = {}  # connection -> site -> the one asset it narrowed to
        self.removed: list[str] = []
        self.queries = 0

    def add(self, c: LiveConnection) -> None:
        self.items[c.connection_id] = c

    def get(self, connection_id: str) -> LiveConnection | None:
        return self.items.get(connection_id)

    def sites(self, connection_id: str) -> list[str]:
        return sorted(self.subs.get(connection_id, ()))

    def subscribe(self, c: LiveConnection, site_id: str, asset_id: str | None = None) -> None:
        self.subs.setdefault(c.connection_id, {})[site_id] = asset_id

    def unsubscribe(self, connection_id: str, site_id: str) -> None:
        self.subs.get(connection_id, {}).pop(site_id, None)

    def remove(self, connection_id: str) -> int:
        self.removed.append(connection_id)
        found = self.items.pop(connection_id, None)
        return (found is not None) + len(self.subs.pop(connection_id, ()))

    def of_tenant(self, tenant_id: str) -> list[Recipient]:
        self.queries += 1
        return [Recipient(c.connection_id, c.valid_until) for c in self.items.values() if c.tenant_id == tenant_id]

    def subscriptions(self, tenant_id: str) -> dict[str, list[Recipient]]:
        self.queries += 1
        out: dict[str, list[Recipient]] = {}
        for c in self.items.values():
            for site_id, asset_id in (
                sorted(self.subs.get(c.connection_id, {}).items()) if c.tenant_id == tenant_id else ()
            ):
                out.setdefault(site_id, []).append(Recipient(c.connection_id, c.valid_until, asset_id))
        return out


def _connection(cid: str, tenant: str = "t1", valid_until: datetime = LATER) -> LiveConnection:
    return LiveConnection(cid, tenant, f"usr_{cid}", "viewer", NOW, valid_until, NOW + timedelta(hours=2))


class RecordingTransport:
    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []

    def deliver(self, delivery: Delivery) -> Outcome:
        self.deliveries.append(delivery)
        return Outcome(sent=delivery.messages, closed=len(delivery.close))

    def frames_to(self, cid: str) -> list[dict[str, Any]]:
        return [orjson.loads(f) for d in self.deliveries for ids, f in d.frames if cid in ids]


def _publisher(connections: FakeConnections, transport: Any, clock: Clock | None = None) -> Publisher:
    return Publisher(lambda: connections, transport, 2.0, 2.0, clock or Clock(), now=lambda: NOW)


def _record(site: str, asset: str, *readings: tuple[datetime, dict[str, float]], tenant: str = "t1") -> DecodedRecord:
    return DecodedRecord(tenant, site, asset, AssetType.inverter, list(readings))


def test_an_alert_change_goes_to_every_connection_of_its_tenant_and_expired_ones_are_closed() -> None:
    connections, transport = FakeConnections(), RecordingTransport()
    for c in (_connection("a"), _connection("b"), _connection("x", tenant="t2"), _connection("old", valid_until=NOW)):
        connections.add(c)
    publisher = _publisher(connections, transport)
    publisher.alert_changed("acknowledged", _alert())
    (delivery,) = transport.deliveries
    assert [ids for ids, _ in delivery.frames] == [("a", "b")] and delivery.close == {"old"}
    assert transport.frames_to("a")[0]["event"] == "acknowledged"
    assert publisher.totals.sent == 2 and publisher.totals.closed == 1


def test_an_alert_change_nobody_listens_to_delivers_nothing_and_a_failure_never_reaches_the_caller() -> None:
    transport = RecordingTransport()
    _publisher(FakeConnections(), transport).alert_changed("raised", _alert())
    assert transport.deliveries == []

    class Broken(FakeConnections):
        def of_tenant(self, tenant_id: str) -> list[Recipient]:
            raise ConnectionError("DynamoDB is down")

    _publisher(Broken(), transport).alert_changed("raised", _alert())  # logged, not raised


def test_readings_go_to_the_sites_subscribers_newest_value_per_metric_throttled_per_asset() -> None:
    connections, transport, clock = FakeConnections(), RecordingTransport(), Clock()
    watcher, other = _connection("w"), _connection("o")
    for c in (watcher, other):
        connections.add(c)
    connections.subscribe(watcher, "s1")
    connections.subscribe(other, "s2")
    publisher = _publisher(connections, transport, clock)
    t1, t2 = NOW, NOW + timedelta(seconds=1)
    batch = [
        _record("s1", "inv1", (t2, {"p": 2.0}), (t1, {"p": 1.0, "temp": 40.0})),
        _record("s1", "inv2", (t1, {"p": 7.0})),
        _record("s3", "inv9", (t1, {"p": 3.0})),  # nobody watches s3
    ]
    publisher.push_readings(batch)()
    assert sorted((f["asset_id"], f["ts"], f["values"]) for f in transport.frames_to("w")) == [
        ("inv1", "2026-12-07T12:00:01Z", {"p": 2.0, "temp": 40.0}),
        ("inv2", "2026-12-07T12:00:00Z", {"p": 7.0}),
    ]
    assert transport.frames_to("o") == []
    # within the interval: held, not sent; the subscribers are not read again either
    queries = connections.queries
    assert publisher.push_readings([_record("s1", "inv1", (t2 + timedelta(seconds=1), {"p": 3.0}))]) is not None
    assert len(transport.deliveries) == 1 and connections.queries == queries
    clock.t += 2.0
    publisher.push_readings([_record("s1", "inv1", (t2 + timedelta(seconds=2), {"temp": 41.0}))])()
    assert transport.frames_to("w")[-1]["values"] == {"p": 3.0, "temp": 41.0}


def test_a_subscription_narrowed_to_one_asset_gets_only_its_frames_and_other_assets_cost_nothing() -> None:
    connections, transport = FakeConnections(), RecordingTransport()
    whole, narrow, only_other = _connection("whole"), _connection("narrow"), _connection("other")
    for c in (whole, narrow, only_other):
        connections.add(c)
    connections.subscribe(whole, "s1")
    connections.subscribe(narrow, "s1", "inv1")
    publisher = _publisher(connections, transport)
    publisher.push_readings([_record("s1", "inv1", (NOW, {"p": 1.0})), _record("s1", "inv2", (NOW, {"p": 2.0}))])()
    assert sorted(f["asset_id"] for f in transport.frames_to("whole")) == ["inv1", "inv2"]
    assert [f["asset_id"] for f in transport.frames_to("narrow")] == ["inv1"]
    # with only narrowed subscribers, the other assets are not even offered to the throttle
    connections.unsubscribe("whole", "s1")
    connections.subscribe(only_other, "s2", "inv9")
    publisher = _publisher(connections, RecordingTransport())
    publisher.push_readings([_record("s2", "inv8", (NOW, {"p": 1.0}))])()
    assert publisher.throttle._sent == {}


def test_a_batch_for_sites_nobody_watches_costs_no_delivery_and_one_read_per_tenant_per_ttl() -> None:
    connections, transport, clock = FakeConnections(), RecordingTransport(), Clock()
    publisher = _publisher(connections, transport, clock)
    batch = [_record(f"s{n % 7}", f"inv{n}", (NOW, {"p": 1.0})) for n in range(100)]
    for _ in range(5):
        settle = publisher.push_readings(batch)
        settle()
    assert transport.deliveries == [] and connections.queries == 1
    assert publisher._dispatcher is None  # no thread was even started


def test_a_readings_failure_never_reaches_the_ingest() -> None:
    class Broken(FakeConnections):
        def subscriptions(self, tenant_id: str) -> dict[str, list[Recipient]]:
            raise ConnectionError("DynamoDB is down")

    class Exploding:
        def deliver(self, delivery: Delivery) -> Outcome:
            raise RuntimeError("boom")

    _publisher(Broken(), RecordingTransport()).push_readings([_record("s1", "a", (NOW, {"p": 1.0}))])()
    connections = FakeConnections()
    watcher = _connection("w")
    connections.add(watcher)
    connections.subscribe(watcher, "s1")
    _publisher(connections, Exploding()).push_readings([_record("s1", "a", (NOW, {"p": 1.0}))])()  # logged


# -- transports ----------------------------------------------------------------------------------------------


class FakeManagementApi:
    def __init__(self, gone: set[str] = frozenset(), failing: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.gone, self.failing = set(gone), set(failing)
        self.posted: list[tuple[str, bytes]] = []
        self.closed: list[str] = []

    def post(self, connection_id: str, data: bytes) -> None:
        if connection_id in self.gone:
            raise Gone(connection_id)
        if connection_id in self.failing:
            raise ConnectionError("throttled")
        self.posted.append((connection_id, data))

    def close(self, connection_id: str) -> None:
        self.closed.append(connection_id)


def test_direct_posts_delete_gone_connections_count_failures_and_close_expired_ones() -> None:
    connections = FakeConnections()
    for cid in ("ok", "gone", "flaky", "expired"):
        connections.add(_connection(cid))
    api = FakeManagementApi(gone={"gone"}, failing={"flaky"})
    transport = DirectTransport(lambda: api, lambda: connections)  # type: ignore[arg-type,return-value]
    outcome = transport.deliver(Delivery([(("ok", "gone", "flaky"), b"{}"), (("ok",), b"[]")], {"expired"}))
    assert (outcome.sent, outcome.gone, outcome.failed, outcome.closed) == (2, 1, 1, 1)
    assert sorted(api.posted) == [("ok", b"[]"), ("ok", b"{}")] and api.closed == ["expired"]
    assert sorted(connections.removed) == ["expired", "gone"] and set(connections.items) == {"ok", "flaky"}
    assert transport.deliver(Delivery()) == Outcome()


def test_a_relay_hands_the_delivery_to_the_live_function_asynchronously_in_chunks() -> None:
    calls: list[dict[str, Any]] = []

    class Lambda:
        def invoke(self, **kwargs: Any) -> dict[str, Any]:
            calls.append(kwargs)
            return {"StatusCode": 202}

    frame = b'{"type":"readings","values":{"p":' + b"1" * 1000 + b"}}"
    delivery = Delivery([((f"c{n}",), frame) for n in range(400)], {"old"})
    outcome = RelayTransport(Lambda, "dcmms-prod-live").deliver(delivery)
    assert outcome.relayed == len(calls) > 1
    assert {c["FunctionName"] for c in calls} == {"dcmms-prod-live"} and {c["InvocationType"] for c in calls} == {
        "Event"
    }
    assert all(len(c["Payload"]) <= 256 * 1024 for c in calls)
    events = [orjson.loads(c["Payload"]) for c in calls]
    assert all(e["dcmms_live"] == "deliver" for e in events)
    back = [Delivery.from_event(e) for e in events]
    assert [f for d in back for f in d.frames] == delivery.frames
    assert set().union(*(d.close for d in back)) == {"old"}

    class Throttled:
        def invoke(self, **kwargs: Any) -> None:
            raise ConnectionError("TooManyRequestsException")

    assert RelayTransport(Throttled, "f").deliver(delivery).failed == 400  # counted, not raised


# -- the live function's routes ------------------------------------------------------------------------------


def _sockets(
    connections: FakeConnections, sites: set[tuple[str, str]] | None = None, transport: Any = None
) -> LiveSockets:
    def verify(token: str) -> Principal:
        if token.startswith("good-"):
            return Principal(
                tenant_id=token.removeprefix("good-"), user_id="sub-1", role=Role.viewer, tier=Tier.pro, key_id="x"
            )
        raise Unauthorized("The token is not valid (bad).")

    known = sites if sites is not None else {("t1", "site_1")}
    return LiveSockets(verify, lambda: connections, lambda t, s: (t, s) in known, lambda: transport, now=lambda: NOW)


def _event(route: str, connection_id: str = "c1", **extra: Any) -> dict[str, Any]:
    return {"requestContext": {"routeKey": route, "connectionId": connection_id}, **extra}


def _message(sockets: LiveSockets, body: Any, connection_id: str = "c1") -> dict[str, Any]:
    text = body if isinstance(body, str) else orjson.dumps(body).decode()
    reply = sockets.message(_event("$default", connection_id, body=text))
    assert reply["statusCode"] == 200
    return orjson.loads(reply["body"])


def test_connect_stores_the_tokens_principal_and_refuses_anything_else_with_401() -> None:
    connections = FakeConnections()
    sockets = _sockets(connections)
    for query in (None, {}, {"token": ""}, {"token": "forged"}):
        assert sockets.connect(_event("$connect", queryStringParameters=query))["statusCode"] == 401
    assert connections.items == {}
    assert sockets.connect(_event("$connect", queryStringParameters={"token": "good-t1"})) == {"statusCode": 200}
    stored = connections.items["c1"]
    assert (stored.tenant_id, stored.user_id, stored.role) == ("t1", "sub-1", "viewer")
    assert stored.expires_at == NOW + timedelta(hours=2, minutes=10) and stored.valid_until == NOW + timedelta(hours=1)


def test_messages_subscribe_within_the_tenant_only_and_answer_on_the_connection() -> None:
    connections = FakeConnections()
    sockets = _sockets(connections, {("t1", "site_1"), ("t2", "site_2")})
    sockets.connect(_event("$connect", queryStringParameters={"token": "good-t1"}))
    assert _message(sockets, {"action": "ping"}) == {"type": "pong"}
    assert _message(sockets, {"action": "subscribe", "site_id": "site_1"}) == {
        "type": "subscribed",
        "site_id": "site_1",
    }
    assert connections.sites("c1") == ["site_1"]
    assert _message(sockets, {"action": "subscribe", "site_id": "site_1", "asset_id": "ast_7"}) == {
        "type": "subscribed",
        "site_id": "site_1",
        "asset_id": "ast_7",
    }
    assert connections.subs["c1"] == {"site_1": "ast_7"}  # the same site again: narrowed, not added
    # another tenant's site reads exactly as a missing one
    assert _message(sockets, {"action": "subscribe", "site_id": "site_2"}) == {
        "type": "error",
        "detail": "No site 'site_2'.",
    }
    assert _message(sockets, {"action": "unsubscribe", "site_id": "site_1"})["type"] == "unsubscribed"
    assert connections.sites("c1") == []
    assert _message(sockets, "{")["type"] == "error"
    assert _message(sockets, {"action": "subscribe", "site_id": "site_1"}, "unknown")["detail"].startswith(
        "This connection is not known"
    )
    binary = sockets.message(_event("$default", body="AAE=", isBase64Encoded=True))
    assert orjson.loads(binary["body"])["type"] == "error"


def test_a_connection_subscribes_to_a_bounded_number_of_sites() -> None:
    connections = FakeConnections()
    known = {("t1", f"s{n}") for n in range(MAX_SITES + 1)}
    sockets = _sockets(connections, known)
    sockets.connect(_event("$connect", queryStringParameters={"token": "good-t1"}))
    for n in range(MAX_SITES):
        assert _message(sockets, {"action": "subscribe", "site_id": f"s{n}"})["type"] == "subscribed"
    assert _message(sockets, {"action": "subscribe", "site_id": "s0"})["type"] == "subscribed"  # again: fine
    assert "at most" in _message(sockets, {"action": "subscribe", "site_id": f"s{MAX_SITES}"})["detail"]


def test_disconnect_deletes_the_connection_and_relayed_frames_are_delivered() -> None:
    connections = FakeConnections()
    transport = RecordingTransport()
    sockets = _sockets(connections, transport=transport)
    sockets.connect(_event("$connect", queryStringParameters={"token": "good-t1"}))
    _message(sockets, {"action": "subscribe", "site_id": "site_1"})
    assert sockets.disconnect(_event("$disconnect")) == {"statusCode": 200}
    assert connections.items == {} and connections.sites("c1") == []
    relayed = orjson.loads(Delivery([(("c1", "c2"), b'{"type":"pong"}')], {"c3"}).relay_payloads()[0])
    assert sockets.deliver(relayed) == {"delivered": 2, "failed": 0, "gone": 0, "closed": 1}
    assert transport.deliveries[0].frames == [(("c1", "c2"), b'{"type":"pong"}')]
    assert _sockets(connections).deliver(relayed) == {"delivered": 0}  # nowhere to post: dropped, logged


# -- the hooks ---------------------------------------------------------------------------------------------


class Heard:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, int]] = []

    def alert_changed(self, event: str, alert: Alert) -> None:
        self.events.append((event, alert.id, alert.version))


def _world_with(heard: Any) -> World:
    w = World()
    w.site()
    w.asset("ast_1")
    w.alerts.live = lambda: heard
    return w


RULE = cmd.AlertRuleCreate(
    name="Hot inverter",
    asset_type="inverter",
    metric="heatsink_temp_c",
    condition=">",
    threshold=85,
    severity="major",
    auto_work_order=True,
)


def test_the_alerts_service_tells_of_each_alert_raised_acknowledged_and_resolved_once_stored() -> None:
    heard = Heard()
    w = _world_with(heard)
    tech = principal(Role.technician)
    alert = w.alerts.create_alert(tech, cmd.AlertCreate(asset_id="ast_1", severity="minor", message="fan"))
    w.alerts.acknowledge_alert(tech, alert.id, None)
    w.alerts.resolve_alert(tech, alert.id, None)
    w.alerts.update_alert(tech, alert.id, cmd.AlertPatch(message="fan noise"), None)  # not an event of the protocol
    assert heard.events == [("raised", alert.id, 1), ("acknowledged", alert.id, 2), ("resolved", alert.id, 3)]


def test_a_rule_alert_is_told_once_with_its_work_order_and_its_clearing_once() -> None:
    heard = Heard()
    w = _world_with(heard)
    rule = w.alerts.create_rule(principal(Role.admin), RULE)
    alert, _ = w.alerts.raise_rule_alert("t1", rule, "ast_1", "site_1", "EP1", T0, 91.5)
    w.alerts.raise_rule_alert("t1", rule, "ast_1", "site_1", "EP1", T0, 92.0)  # a redelivered batch
    assert heard.events == [("raised", "alr_EP1", 2)]  # version 2: linked to its work order
    w.alerts.resolve_rule_alert("t1", alert.id)
    w.alerts.resolve_rule_alert("t1", alert.id)
    assert heard.events[1:] == [("resolved", "alr_EP1", 3)]


def test_a_failing_publisher_never_fails_the_alerts_change() -> None:
    def broken() -> Any:
        raise RuntimeError("cannot build the publisher")

    w = _world_with(None)
    w.alerts.live = broken
    created = w.alerts.create_alert(
        principal(Role.technician), cmd.AlertCreate(asset_id="ast_1", severity="minor", message="x")
    )
    assert created.status.value == "active"
    w.alerts.live = lambda: None  # no live updates configured: nothing to tell
    w.alerts.acknowledge_alert(principal(Role.technician), created.id, None)


def test_ingest_pushes_the_stored_batch_and_settles_the_push_before_returning() -> None:
    from dcmms.telemetry.ingest import StreamRecord, ingest_batch
    from dcmms.telemetry.record_format import AssetRef

    order: list[str] = []

    class Store:
        def write_grouped(self, groups: Any) -> int:
            order.append("stored")
            return sum(len(r) for _, _, r in groups)

    class Live:
        def push_readings(self, records: Any) -> Callable[[], None]:
            order.append(f"push {len(records)}")
            return lambda: order.append("settled")

    payload = orjson.dumps(
        {
            "v": 1,
            "tenant_id": "t1",
            "site_id": "s1",
            "asset_id": "a1",
            "readings": [{"ts": NOW.isoformat(), "metrics": {"ac_power_kw": 1.0}}],
        }
    )
    record = StreamRecord("1", "a1", payload, NOW)
    outcome = ingest_batch(
        [record],
        lambda t, a: AssetRef("s1", AssetType.inverter),
        Store(),  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        now=NOW + timedelta(seconds=1),
        live=Live(),
    )
    assert outcome.failed == [] and order == ["stored", "push 1", "settled"]


def test_a_delivery_survives_the_relay_round_trip_unchanged() -> None:
    delivery = Delivery([(("a", "b"), frames.pong())], {"c"})
    (payload,) = delivery.relay_payloads()
    assert dataclasses.asdict(Delivery.from_event(orjson.loads(payload))) == dataclasses.asdict(delivery)


def test_the_api_cold_start_loads_nothing_of_live_updates() -> None:
    import subprocess
    import sys

    code = (
        "import sys, functions.api.handler; "
        "print([m for m in sys.modules if m.startswith(('dcmms.live', 'dcmms.store.connections', 'websockets'))])"
    )
    env = {"DCMMS_TRACING": "false", "PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": "us-east-1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip().splitlines()[-1] == "[]"
