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
def app(settings: Settings, router: DatabaseRouter):
    """The API over the stack, its read model's schema created (as the projector does on deployment)."""
    return create_app(settings)


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


@pytest.fixture
def as_role(http: TestClient, tenant: TenantSeed):
    return lambda role: ApiClient(http, tenant.keys[role])


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
