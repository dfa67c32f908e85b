"""The local web serving (``dcmms_dev.web``): the app's files and config at the API's origin, the API untouched.

A tiny fake build and a fake API app stand in for ``web/dist`` and the real API, so this needs no stack.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from dcmms.config import Settings
from dcmms_dev.web import wrap

MOTO = "http://127.0.0.1:45678"
INDEX = (
    '<!doctype html><html><head><script type="module" src="/static/assets/index-AbC123xy.js"></script></head></html>'
)
ENTRY = "console.log('dcmms');\n" * 200  # big enough to be compressed


class FakeApi:
    """Answers every request with what it saw, marked so a test can tell it answered; records the lifespan."""

    def __init__(self) -> None:
        self.lifespan: list[str] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                self.lifespan.append(message["type"])
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        payload = json.dumps({"method": scope["method"], "path": scope["path"], "body": body.decode()}).encode()
        status = 404 if scope["path"].endswith("/missing") else 200
        headers = [(b"content-type", b"application/json"), (b"x-fake-api", b"1"), (b"cache-control", b"no-store")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


@pytest.fixture
def settings() -> Settings:
    return Settings(
        aws_region="eu-west-1",
        aws_endpoint_url=MOTO,
        cognito_user_pool_id="eu-west-1_pool",
        cognito_client_id="client123",
    )


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    root = tmp_path / "dist"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text(INDEX)
    (root / "assets" / "index-AbC123xy.js").write_text(ENTRY)
    (root / "assets" / "index-Zz9Yy8Xx.css").write_text("body{margin:0}")
    (root / "favicon.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    (tmp_path / "secret.txt").write_text("not for the web")
    return root


@pytest.fixture
def api() -> FakeApi:
    return FakeApi()


@pytest.fixture
def client(api: FakeApi, settings: Settings, dist: Path):
    with TestClient(wrap(api, settings, dist)) as c:
        yield c


def assert_secured(response: Any) -> None:
    csp = response.headers["content-security-policy"]
    for directive in (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        f"connect-src 'self' {MOTO}",
        "frame-ancestors 'none'",
        "base-uri 'self'",
        "object-src 'none'",
    ):
        assert directive in csp, directive
    assert "unsafe-inline" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert response.headers["strict-transport-security"].startswith("max-age=")


def test_hashed_assets_are_cached_for_a_year(client: TestClient) -> None:
    js = client.get("/static/assets/index-AbC123xy.js")
    assert js.status_code == 200
    assert js.text == ENTRY
    assert js.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert js.headers["content-type"].startswith("text/javascript")
    assert_secured(js)
    css = client.get("/static/assets/index-Zz9Yy8Xx.css")
    assert css.headers["content-type"].startswith("text/css")
    assert css.headers["cache-control"] == "public, max-age=31536000, immutable"


def test_unhashed_static_files_are_revalidated_and_missing_ones_are_404(client: TestClient) -> None:
    icon = client.get("/static/favicon.svg")
    assert icon.status_code == 200
    assert icon.headers["cache-control"] == "no-cache"
    assert client.get("/static/assets/gone-12345678.js").status_code == 404
    assert client.get("/static/").status_code == 404
    # nothing outside the build, however the path is spelled
    for path in ("/static/../secret.txt", "/static/%2e%2e/secret.txt", "/static/assets/../../secret.txt"):
        assert "not for the web" not in client.get(path).text, path


def test_static_files_are_compressed(client: TestClient) -> None:
    js = client.get("/static/assets/index-AbC123xy.js", headers={"Accept-Encoding": "gzip"})
    assert js.headers["content-encoding"] == "gzip"
    assert js.text == ENTRY


@pytest.mark.parametrize(
    "path", ["/", "/sites/site_1", "/work-orders/new", "/work-orders?status=open", "/sign-in?next=%2F"]
)
def test_app_urls_are_index_html_never_cached(client: TestClient, path: str) -> None:
    page = client.get(path)
    assert page.status_code == 200
    assert page.text == INDEX
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-cache"
    assert "x-fake-api" not in page.headers
    assert_secured(page)


def test_config_json_comes_from_the_settings(client: TestClient) -> None:
    config = client.get("/config.json")
    assert config.status_code == 200
    assert config.headers["cache-control"] == "no-cache"
    assert config.json() == {
        "cognito": {
            "region": "eu-west-1",
            "user_pool_id": "eu-west-1_pool",
            "client_id": "client123",
            "endpoint": MOTO,
        },
        "api": "",
    }


def test_config_json_without_an_emulator_names_the_regions_endpoint(dist: Path) -> None:
    settings = Settings(aws_region="eu-west-1", cognito_user_pool_id="p", cognito_client_id="c")
    with TestClient(wrap(FakeApi(), settings, dist)) as c:
        assert c.get("/config.json").json()["cognito"]["endpoint"] == "https://cognito-idp.eu-west-1.amazonaws.com/"
        assert (
            "connect-src 'self' https://cognito-idp.eu-west-1.amazonaws.com;"
            in c.get("/").headers["content-security-policy"]
        )


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/sites",
        "/api/v1/missing",
        "/health",
        "/ready",
        "/docs",
        "/docs/oauth2-redirect",
        "/openapi.json",
        "/metrics",
    ],
)
def test_the_api_is_untouched(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.headers["x-fake-api"] == "1"
    assert response.json() == {"method": "GET", "path": path, "body": ""}
    assert response.status_code == (404 if path.endswith("/missing") else 200)
    assert response.headers["cache-control"] == "no-store"
    assert "content-security-policy" not in response.headers
    assert "content-encoding" not in response.headers


def test_the_live_websocket_is_in_the_config_and_the_csp(api: FakeApi, settings: Settings, dist: Path) -> None:
    live = settings.model_copy(update={"live_endpoint_url": "http://127.0.0.1:8000/ws"})
    with TestClient(wrap(api, live, dist)) as client:
        assert client.get("/config.json").json()["live"] == "ws://127.0.0.1:8000/ws"
        assert "ws://127.0.0.1:8000" in client.get("/").headers["content-security-policy"]


def test_large_api_answers_are_compressed_as_cloudfront_does(client: TestClient) -> None:
    big = client.post("/api/v1/telemetry/ingest", content=b"x" * 4096, headers={"accept-encoding": "gzip"})
    assert big.headers["x-fake-api"] == "1" and big.headers["content-encoding"] == "gzip"
    assert big.json()["body"] == "x" * 4096  # decoded by the client, as a browser does


def test_writes_go_to_the_api(client: TestClient) -> None:
    created = client.post("/api/v1/work-orders", json={"title": "x"})
    assert created.headers["x-fake-api"] == "1"
    assert created.json() == {"method": "POST", "path": "/api/v1/work-orders", "body": '{"title":"x"}'}
    # a write to an app URL is the API's to refuse, not the SPA's to answer with index.html
    stray = client.post("/sites/site_1", json={})
    assert stray.headers["x-fake-api"] == "1"


def test_the_apis_lifespan_runs(api: FakeApi, settings: Settings, dist: Path) -> None:
    with TestClient(wrap(api, settings, dist)) as c:
        c.get("/health")
    assert api.lifespan == ["lifespan.startup", "lifespan.shutdown"]


def test_without_a_build_the_app_says_how_to_make_one(settings: Settings, tmp_path: Path) -> None:
    with TestClient(wrap(FakeApi(), settings, tmp_path / "no-dist")) as c:
        page = c.get("/")
        assert page.status_code == 503
        assert "npm run build" in page.text
        assert page.headers["content-type"].startswith("text/html")
        assert c.get("/sites/x").status_code == 503
        assert c.get("/static/assets/index-AbC123xy.js").status_code == 404
        assert c.get("/config.json").status_code == 200
        assert c.get("/health").headers["x-fake-api"] == "1"
