"""Integration fixtures: one real stack (moto server, redis-server, PostgreSQL) per test session.

Tests are isolated by tenant: each test provisions its own tenant(s), which the API's tenant
scoping keeps apart, so the stack is shared and nothing needs truncating.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from dcmms.api.app import create_app
from dcmms.catalogue import by_name
from dcmms.config import Settings
from dcmms.domain.model import Role
from dcmms.readmodel.router import DatabaseRouter
from dcmms.readmodel.schema import migrate
from dcmms_dev.pollers import LocalDynamoDBStreamsPoller
from dcmms_dev.seed import TenantSeed, provision_tenant
from dcmms_dev.servers import LocalServers
from dcmms_dev.stack import prepared_stack
from tests.support.api import ApiClient


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalServers, Settings]]:
    with prepared_stack(tmp_path_factory.mktemp("stack")) as running:
        yield running


@pytest.fixture(scope="session")
def settings(stack: tuple[LocalServers, Settings]) -> Settings:
    return stack[1]


@pytest.fixture(scope="session")
def cognito_pool(settings: Settings) -> tuple[str, str]:
    """A user pool and its web client on moto's Cognito, as `make run` creates them: (pool id, client id)."""
    from dcmms_dev.cognito import create_pool

    return create_pool(settings)


@pytest.fixture(scope="session")
def app(settings: Settings, router: DatabaseRouter, cognito_pool: tuple[str, str]):
    """The API over the stack, its read model's schema created (as the projector does on deployment), taking API
    keys and the pool's tokens."""
    pool_id, client_id = cognito_pool
    return create_app(settings.model_copy(update={"cognito_user_pool_id": pool_id, "cognito_client_id": client_id}))


@pytest.fixture(scope="session")
def http(app) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def _tenant(kind: str = "solar") -> TenantSeed:
    suffix = uuid.uuid4().hex[:10]
    return provision_tenant(f"t-{suffix}", f"Operator {suffix}")


@pytest.fixture
def tenant(stack) -> TenantSeed:
    return _tenant()


@pytest.fixture
def other_tenant(stack) -> TenantSeed:
    return _tenant()


@pytest.fixture
def api(http: TestClient, tenant: TenantSeed) -> ApiClient:
    """The tenant's admin."""
    return ApiClient(http, tenant.keys[Role.admin.value])


_PEOPLE: dict[tuple[str, str], str] = {}


def person_token(settings: Settings, cognito_pool: tuple[str, str], tenant_id: str, role: str) -> str:
    """The ID token of a person of ``tenant_id`` in ``role``'s group (created and signed in once per session)."""
    from dcmms_dev.cognito import create_user, new_password, sign_in

    if (tenant_id, role) not in _PEOPLE:
        email, password = f"{role}@{tenant_id}.example.com", new_password()
        create_user(settings, cognito_pool[0], tenant_id, Role(role), email, password)
        _PEOPLE[(tenant_id, role)] = sign_in(settings, cognito_pool[1], email, password)["IdToken"]
    return _PEOPLE[(tenant_id, role)]


@pytest.fixture(params=["api-key", "token"])
def client_for(request, http: TestClient, settings: Settings, cognito_pool: tuple[str, str]):
    """``client_for(tenant_seed, role)``: that role of that tenant, by API key or as a signed-in person — the
    tests using it run once for each credential kind."""

    def make(seed: TenantSeed, role: str) -> ApiClient:
        if request.param == "api-key":
            return ApiClient(http, seed.keys[role])
        return ApiClient(http, None, person_token(settings, cognito_pool, seed.tenant.id, role))

    make.kind = request.param  # type: ignore[attr-defined]
    return make


@pytest.fixture(scope="session")
def ingest_handler(stack):
    """functions.ingest.handler imported with the stack's settings, its store migrated."""
    from dcmms.config import get_settings
    from dcmms.telemetry.postgres import TelemetryStore
    from tests.support.handlers import import_handler

    TelemetryStore(stack[1].database_url).migrate()
    env = pytest.MonkeyPatch()
    yield import_handler("functions.ingest.handler", stack[1], env)
    env.undo()
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def router(settings: Settings) -> Iterator[DatabaseRouter]:
    """The read model's primary (the stack's PostgreSQL), its schema created."""
    r = DatabaseRouter(settings.database_url)
    with r.primary() as conn:
        migrate(conn)
    yield r
    r.close()


@pytest.fixture(scope="session")
def streams_poller(settings: Settings, router: DatabaseRouter) -> Iterator[LocalDynamoDBStreamsPoller]:
    """The projector's event-source mappings over DynamoDB Local's streams, with the real projector function."""
    from dcmms.config import get_settings
    from tests.support.handlers import import_handler

    env = pytest.MonkeyPatch()
    import_handler("functions.projector.handler", settings, env)
    spec = by_name("projector")
    poller = LocalDynamoDBStreamsPoller(settings, spec.handler, spec.stream)
    poller.start()
    assert poller.ready.wait(30), "the poller did not reach the streams"
    yield poller
    poller.stop()
    poller.join(10)
    env.undo()
    get_settings.cache_clear()
