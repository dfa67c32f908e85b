"""If-Match parsing and the body-limit middleware, without any server."""

from __future__ import annotations

import asyncio

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from dcmms.api.body_limit import BodyLimitMiddleware
from dcmms.api.http import if_match


class _Req:
    def __init__(self, value: str | None) -> None:
        self.headers = {} if value is None else {"if-match": value}


@pytest.mark.parametrize(
    ("header", "version"),
    [
        (None, None),
        ("*", None),
        ('"v3"', 3),
        ('W/"v7"', 7),
        ('"x", "v2"', 2),
        ('"garbage"', -1),
        ("", -1),
    ],
)
def test_if_match(header, version) -> None:
    assert asyncio.run(if_match(_Req(header))) == version  # type: ignore[arg-type]


def _echo_app(limit: int) -> TestClient:
    app = FastAPI()

    @app.post("/echo")
    async def echo(request: Request) -> dict:
        return {"size": len(await request.body())}

    app.add_middleware(BodyLimitMiddleware, max_bytes=limit)
    return TestClient(app)


def test_body_limit_by_content_length_and_by_counting() -> None:
    client = _echo_app(100)
    assert client.post("/echo", content=b"x" * 100).json() == {"size": 100}
    refused = client.post("/echo", content=b"x" * 101)
    assert refused.status_code == 413 and refused.headers["content-type"] == "application/problem+json"

    def chunks():  # no Content-Length: the middleware must count
        yield b"x" * 60
        yield b"x" * 60

    assert client.post("/echo", content=chunks()).status_code == 413
