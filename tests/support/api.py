"""One API client for the tests: a role's key in the header, JSON in and out, problem checks."""

from __future__ import annotations

from typing import Any

PROBLEM = "application/problem+json"


class ApiClient:
    """Wraps a Starlette TestClient or an httpx.Client; ``key`` goes into x-api-key, ``token`` (a person's) into
    Authorization: Bearer."""

    def __init__(self, http: Any, key: str | None, token: str | None = None) -> None:
        self.http = http
        self.key = key
        self.token = token  # a person's Cognito ID token, sent as Authorization: Bearer instead of a key

    def _headers(self, extra: dict[str, str] | None) -> dict[str, str]:
        headers = {"x-api-key": self.key} if self.key else {}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        headers.update(extra or {})
        return headers

    def get(self, path: str, headers: dict[str, str] | None = None, **params: Any) -> Any:
        return self.http.get(path, params=params or None, headers=self._headers(headers))

    def post(self, path: str, json: Any = None, headers: dict[str, str] | None = None) -> Any:
        return self.http.post(path, json=json, headers=self._headers(headers))

    def patch(self, path: str, json: Any = None, headers: dict[str, str] | None = None) -> Any:
        return self.http.patch(path, json=json, headers=self._headers(headers))

    def delete(self, path: str, headers: dict[str, str] | None = None) -> Any:
        return self.http.delete(path, headers=self._headers(headers))

    # -- builders of the fleet the tests need ------------------------------------------------------

    def site(self, **fields: Any) -> dict[str, Any]:
        body = {"name": "Test Site", "kind": "solar", "capacity_mw": 50, "timezone": "Europe/Madrid"} | fields
        return self._created(self.post("/api/v1/sites", body))

    def asset(self, site_id: str, **fields: Any) -> dict[str, Any]:
        body = {"site_id": site_id, "name": "INV-01", "type": "inverter", "rated_kw": 2500} | fields
        return self._created(self.post("/api/v1/assets", body))

    def work_order(self, site_id: str, **fields: Any) -> dict[str, Any]:
        body = {"site_id": site_id, "title": "Inspect inverter", "type": "inspection", "priority": "medium"} | fields
        return self._created(self.post("/api/v1/work-orders", body))

    def alert(self, asset_id: str, **fields: Any) -> dict[str, Any]:
        body = {"asset_id": asset_id, "severity": "major", "message": "over-temperature"} | fields
        return self._created(self.post("/api/v1/alerts", body))

    @staticmethod
    def _created(response: Any) -> dict[str, Any]:
        assert response.status_code == 201, response.text
        return response.json()


def assert_problem(response: Any, status: int, field: str | None = None) -> dict[str, Any]:
    """The response is RFC 9457 problem+json with ``status``, and names ``field`` when given."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status
    assert body["type"] and body["title"] and body["detail"]
    if field is not None:
        assert any(e["field"] == field for e in body["errors"]), body
    return body
