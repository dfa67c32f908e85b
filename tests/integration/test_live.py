"""Live updates on the real stack: browsers' WebSockets through the local emulation of API Gateway's WebSocket API
(dcmms_dev/websocket.py) to the live function, the API's and the ingest function's publishers posting to its
@connections API with botocore, connections in DynamoDB Local, people's tokens from moto's Cognito. Then the
emulation itself against a stand-in integration: the events it invokes, the refused handshake, @connections'
answers and API Gateway's idle timeout."""

from __future__ import annotations

import dataclasses
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import botocore.session
import httpx
import jwt
import orjson
import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.responses import PlainTextResponse
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from dcmms.api.app import create_app
from dcmms.config import Settings, get_settings
from dcmms.store.connections import LiveConnection, LiveConnections
from dcmms_dev.events import FakeLambdaContext, kinesis_event
from dcmms_dev.seed import TenantSeed
from dcmms_dev.servers import free_port
from dcmms_dev.stack import use_emulated_aws
from dcmms_dev.websocket import MAX_PAYLOAD_BYTES, LocalWebSocketApi, endpoint_url, mount
from tests.integration.conftest import person_token
from tests.support.api import ApiClient
from tests.support.handlers import import_handler, telemetry_record

WITHIN_S = 5.0  # the "changes on screen within 5 s"


@dataclass
class Live:
    url: str  # the stage's WebSocket URL
    api: httpx.Client  # the REST API of the same server
    stage: LocalWebSocketApi
    settings: Settings
    ingest: Any  # the ingest function's handler
    cognito_pool: tuple[str, str]

    def token(self, seed: TenantSeed, role: str = "viewer") -> str:
        return person_token(self.settings, self.cognito_pool, seed.tenant.id, role)

    def connect(self, token: str | None) -> ClientConnection:
        query = f"?token={token}" if token is not None else ""
        return connect(self.url + query, open_timeout=WITHIN_S)

    def client(self, seed: TenantSeed, role: str = "admin") -> ApiClient:
        return ApiClient(self.api, seed.keys[role])

    def connection_id(self, before: set[str]) -> str:
        """The id API Gateway gave the connection opened since ``before`` (what the server's side knows)."""
        (new,) = set(self.stage.connections) - before
        return new


@pytest.fixture(scope="module")
def live(settings: Settings, cognito_pool: tuple[str, str], ingest_handler: Any) -> Iterator[Live]:
    """One server like `make run`'s: the API with the WebSocket API stage mounted at /ws, the live function behind
    it, every publisher pointed at the stage's @connections endpoint (live_endpoint_url)."""
    port = free_port()
    pool_id, client_id = cognito_pool
    live_settings = settings.model_copy(
        update={
            "cognito_user_pool_id": pool_id,
            "cognito_client_id": client_id,
            "live_endpoint_url": endpoint_url(f"http://127.0.0.1:{port}"),
        }
    )
    env = pytest.MonkeyPatch()
    handlers = ("functions.live.handler", "functions.ingest.handler")
    imported = {name: sys.modules.get(name) for name in handlers}  # the session's, put back afterwards
    live_handler = import_handler("functions.live.handler", live_settings, env)
    ingest = import_handler("functions.ingest.handler", live_settings, env)
    stage = LocalWebSocketApi(invoke=lambda event: live_handler(event, FakeLambdaContext()))
    server = uvicorn.Server(
        uvicorn.Config(mount(create_app(live_settings), stage), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, name="live-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the local server did not start"
        time.sleep(0.05)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as api:
        yield Live(f"ws://127.0.0.1:{port}/ws", api, stage, live_settings, ingest, cognito_pool)
    server.should_exit = True
    thread.join(10)
    for name, module in imported.items():
        if module is None:
            sys.modules.pop(name, None)
        else:
            sys.modules[name] = module
    env.undo()
    get_settings.cache_clear()


def frame(ws: ClientConnection, timeout: float = WITHIN_S) -> dict[str, Any]:
    return orjson.loads(ws.recv(timeout=timeout))


def nothing_pending(ws: ClientConnection) -> None:
    """No frame is waiting: a ping's pong is the next thing the connection receives."""
    ws.send('{"action": "ping"}')
    assert frame(ws) == {"type": "pong"}


def subscribe(ws: ClientConnection, site_id: str) -> dict[str, Any]:
    ws.send(orjson.dumps({"action": "subscribe", "site_id": site_id}).decode())
    return frame(ws)


def wait_until(check: Any, timeout: float = WITHIN_S) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def test_alert_changes_reach_the_tenants_connections_within_5_s_and_no_other_tenants(
    live: Live, tenant: TenantSeed, other_tenant: TenantSeed
) -> None:
    admin = live.client(tenant)
    asset = admin.asset(admin.site()["id"])
    with live.connect(live.token(tenant)) as inbox, live.connect(live.token(other_tenant)) as elsewhere:
        nothing_pending(inbox)  # both connected and stored before the alert is raised
        nothing_pending(elsewhere)
        # raised through the API by a technician: the tenant's connection hears of it
        tech = live.client(tenant, "technician")
        started = time.monotonic()
        alert = tech.alert(asset["id"], severity="critical", message="inverter trip")
        raised = frame(inbox)
        assert time.monotonic() - started < WITHIN_S
        assert (raised["type"], raised["event"]) == ("alert", "raised")
        assert raised["alert"] == tech.get(f"/api/v1/alerts/{alert['id']}").json()  # as GET shows it
        assert raised["alert"]["site_id"] == asset["site_id"]
        # then acknowledged and resolved
        tech.post(f"/api/v1/alerts/{alert['id']}/acknowledge", {"note": "on my way"})
        acked = frame(inbox)
        assert (acked["event"], acked["alert"]["status"], acked["alert"]["version"]) == (
            "acknowledged",
            "acknowledged",
            2,
        )
        tech.post(f"/api/v1/alerts/{alert['id']}/resolve")
        assert frame(inbox)["event"] == "resolved"
        # another tenant's connection heard nothing
        nothing_pending(elsewhere)


def test_readings_reach_the_sites_subscribers_only(live: Live, tenant: TenantSeed, other_tenant: TenantSeed) -> None:
    admin = live.client(tenant)
    site = admin.site()
    other_site = admin.site(name="Another site")
    inverter = admin.asset(site["id"], type="inverter")
    neighbour = admin.asset(site["id"], type="inverter", name="INV-02")
    t = tenant.tenant.id
    with (
        live.connect(live.token(tenant)) as watching,
        live.connect(live.token(tenant, "technician")) as elsewhere,
        live.connect(live.token(tenant, "supervisor")) as narrowed,
        live.connect(live.token(other_tenant)) as foreign,
    ):
        assert subscribe(watching, site["id"]) == {"type": "subscribed", "site_id": site["id"]}
        assert subscribe(elsewhere, other_site["id"])["type"] == "subscribed"
        narrowed.send(
            orjson.dumps({"action": "subscribe", "site_id": site["id"], "asset_id": neighbour["id"]}).decode()
        )
        assert frame(narrowed) == {"type": "subscribed", "site_id": site["id"], "asset_id": neighbour["id"]}
        now = datetime.now(UTC).replace(microsecond=0)
        records = [
            telemetry_record(t, site["id"], inverter["id"], now - timedelta(seconds=10), ac_power_kw=800.0),
            telemetry_record(t, site["id"], inverter["id"], now, ac_power_kw=812.5, heatsink_temp_c=51.0),
        ]
        started = time.monotonic()
        reply = live.ingest(kinesis_event([(inverter["id"], r) for r in records]), FakeLambdaContext())
        assert reply["batchItemFailures"] == []
        pushed = frame(watching)
        assert time.monotonic() - started < WITHIN_S
        assert pushed == {
            "type": "readings",
            "site_id": site["id"],
            "asset_id": inverter["id"],
            "ts": now.isoformat().replace("+00:00", "Z"),
            "values": {"ac_power_kw": 812.5, "heatsink_temp_c": 51.0},  # the newest value of each metric
        }
        nothing_pending(elsewhere)  # subscribed to another site of the tenant
        nothing_pending(narrowed)  # subscribed to this site, narrowed to another of its assets
        nothing_pending(foreign)
        # unsubscribed: nothing more (the next reading would be throttled anyway, so wait out the interval)
        watching.send(orjson.dumps({"action": "unsubscribe", "site_id": site["id"]}).decode())
        assert frame(watching) == {"type": "unsubscribed", "site_id": site["id"]}
        time.sleep(max(live.settings.live_readings_interval_s, live.settings.live_subscribers_ttl_s) + 0.2)
        later = telemetry_record(t, site["id"], inverter["id"], now + timedelta(seconds=5), ac_power_kw=820.0)
        live.ingest(kinesis_event([(inverter["id"], later)], first_sequence=10), FakeLambdaContext())
        nothing_pending(watching)


def test_a_subscription_to_another_tenants_site_is_refused_like_a_missing_one(
    live: Live, tenant: TenantSeed, other_tenant: TenantSeed
) -> None:
    theirs = live.client(other_tenant).site()
    with live.connect(live.token(tenant)) as ws:
        assert subscribe(ws, theirs["id"]) == {"type": "error", "detail": f"No site '{theirs['id']}'."}
        assert subscribe(ws, "site_nope") == {"type": "error", "detail": "No site 'site_nope'."}
        ws.send("not json")
        assert frame(ws)["type"] == "error"
        ws.send('{"action": "shout"}')
        assert "Unknown action" in frame(ws)["detail"]
        nothing_pending(ws)


def test_a_connection_without_a_valid_token_is_refused_at_connect(live: Live, tenant: TenantSeed) -> None:
    claims = jwt.decode(live.token(tenant), options={"verify_signature": False})
    forged = jwt.encode(
        claims, rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256", {"kid": "not-the-pools"}
    )
    before = set(live.stage.connections)
    for token in (None, "", "not-a-jwt", forged):
        with pytest.raises(InvalidStatus) as refused:
            live.connect(token)
        assert refused.value.response.status_code == 401, token
    assert set(live.stage.connections) == before  # nothing was opened


def test_a_gone_connection_is_deleted_when_a_post_fails_and_a_closed_one_on_disconnect(
    live: Live, tenant: TenantSeed
) -> None:
    admin = live.client(tenant)
    site = admin.site()
    asset = admin.asset(site["id"])
    connections = LiveConnections()
    now = datetime.now(UTC)
    # a browser that went away without API Gateway telling anyone ($disconnect is best effort)
    gone = LiveConnection(
        "Z29uZS1jb25uZWN0aW9u",
        tenant.tenant.id,
        "usr_x",
        "viewer",
        now,
        now + timedelta(hours=1),
        now + timedelta(hours=2),
    )
    connections.add(gone)
    connections.subscribe(gone, site["id"])
    with live.connect(live.token(tenant)) as ws:
        nothing_pending(ws)
        admin.alert(asset["id"])
        assert frame(ws)["event"] == "raised"  # the live connection still gets it
        assert wait_until(lambda: connections.get(gone.connection_id) is None)
        assert connections.sites(gone.connection_id) == []
        assert gone.connection_id not in {r.connection_id for r in connections.of_tenant(tenant.tenant.id)}
    # closing a connection runs $disconnect, which deletes it and its subscriptions
    before = set(live.stage.connections)
    with live.connect(live.token(tenant)) as ws:
        nothing_pending(ws)
        connection_id = live.connection_id(before)
        assert subscribe(ws, site["id"])["type"] == "subscribed"
        assert connections.get(connection_id) is not None and connections.sites(connection_id) == [site["id"]]
    assert wait_until(lambda: connections.get(connection_id) is None and not connections.sites(connection_id))


def test_a_connection_whose_token_expired_is_closed_instead_of_sent_to(live: Live, tenant: TenantSeed) -> None:
    admin = live.client(tenant)
    asset = admin.asset(admin.site()["id"])
    connections = LiveConnections()
    before = set(live.stage.connections)
    with live.connect(live.token(tenant)) as ws:
        nothing_pending(ws)
        held = connections.get(live.connection_id(before))
        assert held is not None and held.valid_until > datetime.now(UTC)
        # the person's token expires (stood in for by rewriting the stored expiry)
        connections.add(dataclasses.replace(held, valid_until=datetime.now(UTC) - timedelta(seconds=1)))
        admin.alert(asset["id"])
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=WITHIN_S)  # closed by the backend: the browser reconnects with a fresh token
    assert wait_until(lambda: connections.get(held.connection_id) is None)


# -- the local emulation itself, with a stand-in for the live function ---------------------------------------------


class Integration:
    """The live function's stand-in: records every event; admits ?token=good; echoes messages."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        self.events.append(event)
        route = event["requestContext"]["routeKey"]
        if route == "$connect":
            token = (event.get("queryStringParameters") or {}).get("token")
            return {"statusCode": 200} if token == "good" else {"statusCode": 401, "body": "no"}
        if route == "$default":
            if event["body"] == "crash":
                raise RuntimeError("integration failed")
            return {"statusCode": 200, "body": orjson.dumps({"echo": event["body"]}).decode()}
        return {"statusCode": 200}

    def routes(self) -> list[str]:
        return [e["requestContext"]["routeKey"] for e in self.events]


@pytest.fixture
def stand_in() -> Iterator[tuple[str, LocalWebSocketApi, Integration, Any]]:
    use_emulated_aws()
    integration = Integration()
    api = LocalWebSocketApi(integration, idle_timeout_s=1.0)

    async def other(scope: Any, receive: Any, send: Any) -> None:
        await PlainTextResponse("the API")(scope, receive, send)

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(mount(other, api), host="127.0.0.1", port=port, log_level="critical"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    client = botocore.session.get_session().create_client(
        "apigatewaymanagementapi", region_name="us-east-1", endpoint_url=endpoint_url(f"http://127.0.0.1:{port}")
    )
    yield f"ws://127.0.0.1:{port}/ws", api, integration, client
    server.should_exit = True
    thread.join(5)


def test_a_connection_invokes_connect_default_and_disconnect_as_api_gateway_does(stand_in: Any) -> None:
    url, api, integration, client = stand_in
    with connect(url + "?token=good&x=1") as ws:
        ws.send('{"action": "ping"}')
        assert orjson.loads(ws.recv(timeout=5)) == {"echo": '{"action": "ping"}'}  # the route's response
        (connection_id,) = api.connections
        client.post_to_connection(ConnectionId=connection_id, Data=b'{"type":"pong"}')
        assert ws.recv(timeout=5) == '{"type":"pong"}'
        described = client.get_connection(ConnectionId=connection_id)
        assert described["Identity"]["SourceIp"] == "127.0.0.1" and described["ConnectedAt"]
        ws.send("crash")  # the integration failed: API Gateway's message, the connection stays
        assert orjson.loads(ws.recv(timeout=5))["message"] == "Internal server error"
    assert wait_until(lambda: integration.routes()[-1] == "$disconnect")
    connect_event, message, *_, disconnect = integration.events
    assert connect_event["queryStringParameters"] == {"token": "good", "x": "1"}
    for event, (route, kind) in zip(
        (connect_event, message, disconnect),
        (("$connect", "CONNECT"), ("$default", "MESSAGE"), ("$disconnect", "DISCONNECT")),
        strict=True,
    ):
        context = event["requestContext"]
        assert (context["routeKey"], context["eventType"], context["stage"]) == (route, kind, "ws")
        assert context["connectionId"] == connection_id and context["domainName"].startswith("127.0.0.1")
        assert context["apiId"] and context["requestId"] and context["connectedAt"] <= context["requestTimeEpoch"]
    assert message["body"] == '{"action": "ping"}' and message["isBase64Encoded"] is False
    assert disconnect["requestContext"]["disconnectStatusCode"] == 1000
    assert api.connections == {}


def test_a_refused_connect_is_the_handshakes_status_and_nothing_is_opened(stand_in: Any) -> None:
    url, api, integration, _ = stand_in
    for query in ("", "?token=bad"):
        with pytest.raises(InvalidStatus) as refused:
            connect(url + query, open_timeout=5).close()
        assert refused.value.response.status_code == 401
    assert integration.routes() == ["$connect", "$connect"] and api.connections == {}


def test_the_connections_api_answers_gone_too_large_and_closes_on_delete(stand_in: Any) -> None:
    url, api, integration, client = stand_in
    with pytest.raises(client.exceptions.GoneException):
        client.post_to_connection(ConnectionId="bm8tc3VjaA==", Data=b"{}")
    with pytest.raises(client.exceptions.GoneException):
        client.get_connection(ConnectionId="bm8tc3VjaA==")
    with connect(url + "?token=good") as ws:
        assert wait_until(lambda: len(api.connections) == 1)
        (connection_id,) = api.connections
        with pytest.raises(client.exceptions.PayloadTooLargeException):
            client.post_to_connection(ConnectionId=connection_id, Data=b"x" * (MAX_PAYLOAD_BYTES + 1))
        client.delete_connection(ConnectionId=connection_id)
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=5)
    assert wait_until(lambda: integration.routes()[-1] == "$disconnect")
    with pytest.raises(client.exceptions.GoneException):
        client.post_to_connection(ConnectionId=connection_id, Data=b"{}")


def test_an_idle_connection_is_closed_going_away(stand_in: Any) -> None:
    url, _, integration, _ = stand_in
    with connect(url + "?token=good") as ws:
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=5)  # idle_timeout_s=1 here (API Gateway: 10 minutes)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    assert wait_until(lambda: integration.routes()[-1] == "$disconnect")
    assert integration.events[-1]["requestContext"]["disconnectStatusCode"] == 1001


def test_other_paths_reach_the_app_behind(stand_in: Any) -> None:
    url, *_ = stand_in
    base = url.replace("ws://", "http://").removesuffix("/ws")
    assert httpx.get(base + "/api/v1/sites").text == "the API"
