"""The load test's floor app, the runner's floor option and the CPU groups of the stack."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from tests.load import cpu, floor_app
from tests.load.__main__ import _arguments
from tests.load.scenarios import FLOOR_ROUTE


@pytest.mark.parametrize("size", [1, 700, 20_000])
def test_the_floor_document_is_json_of_about_the_size_asked(size: int) -> None:
    body = floor_app.document(size)
    page = json.loads(body)
    assert page["items"] and page["next_cursor"] is None
    assert len(body) >= size
    # it stops at the first item that reaches the size: without the last one it would be too short
    last = len(json.dumps(page["items"][-1], separators=(",", ":"))) + 1
    assert len(page["items"]) == 1 or len(body) - last < size


def test_the_floor_app_answers_its_one_document_as_json() -> None:
    body = floor_app.document(1_000)
    with TestClient(floor_app.create_app(body)) as client:
        response = client.get(FLOOR_ROUTE, headers={"x-api-key": "floor"})
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert response.content == body
        assert client.get("/docs").status_code == 404  # nothing but the one route


def test_the_floor_phase_is_on_unless_no_floor() -> None:
    assert _arguments([]).floor is True
    assert _arguments(["--no-floor"]).floor is False


STATE = {
    "pid": 100,
    "dynamodb_endpoint_url": "http://127.0.0.1:4001",
    "aws_endpoint_url": "http://127.0.0.1:4002",
    "redis_url": "redis://127.0.0.1:4003/0",
    "database_url": "postgresql://dcmms@127.0.0.1:4004/dcmms",
}


def test_stack_groups_name_dynamodb_local_and_moto_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cpu, "listening_pid", {4001: 201, 4002: 202, 4003: 203, 4004: 204}.get)
    assert cpu.stack_processes(STATE) == {
        "api": (100, False),
        "dynamodb": (201, False),
        "moto": (202, False),
        "redis": (203, False),
        "postgres": (204, True),
    }


def test_a_state_file_without_dynamodb_local_still_has_its_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cpu, "listening_pid", {4002: 202, 4003: 203, 4004: 204}.get)
    old = {k: v for k, v in STATE.items() if k != "dynamodb_endpoint_url"}
    assert set(cpu.stack_processes(old)) == {"api", "moto", "redis", "postgres"}
    # one process serving both endpoints is counted once, not twice
    same = STATE | {"dynamodb_endpoint_url": STATE["aws_endpoint_url"]}
    groups = cpu.stack_processes(same)
    assert [name for name, (pid, _) in groups.items() if pid == 202] == ["dynamodb"]
