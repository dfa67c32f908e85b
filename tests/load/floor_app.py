"""The floor of the per-core comparison: a minimal FastAPI app answering one cached JSON document.

    python -m tests.load.floor_app --port 41234 --body-bytes 2048

It has what every request to the API costs before any of the application's work -- uvicorn's accept,
parse and write, FastAPI's routing and a sync ``def`` route on the thread pool, as the API's routes are --
and nothing else: no middleware, no authentication, no store, the body built once at start. It is
served as ``dcmms dev`` serves the API (``dcmms_dev.stack.run_dev``): ``uvicorn.run(app, host=...,
port=..., log_level="warning", access_log=False)``, in a process of its own, on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json

from fastapi import FastAPI, Response

from tests.load.scenarios import FLOOR_ROUTE, LOOPBACK

DEFAULT_BODY_BYTES = 2_048


def document(body_bytes: int) -> bytes:
    """A page of work-order-like items, about ``body_bytes`` long (at least one item): the size the API's
    GET responses had in the main run, so the floor writes as many bytes per response."""
    items: list[dict[str, object]] = []
    body = b""
    while not items or len(body) < body_bytes:
        n = len(items)
        items.append(
            {
                "id": f"wo_{n:026d}",
                "tenant_id": "floor",
                "site_id": f"site_{n % 3}",
                "title": "Inspect inverter",
                "status": "open",
                "priority": "medium",
                "version": 1,
            }
        )
        body = json.dumps({"items": items, "next_cursor": None}, separators=(",", ":")).encode()
    return body


def create_app(body: bytes) -> FastAPI:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.get(FLOOR_ROUTE)
    def cached_document() -> Response:
        return Response(content=body, media_type="application/json")

    return app


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m tests.load.floor_app", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--body-bytes", type=int, default=DEFAULT_BODY_BYTES)
    args = parser.parse_args(argv)
    app = create_app(document(max(1, args.body_bytes)))
    # The API's server settings (dcmms_dev.stack.run_dev), on the loopback address only.
    uvicorn.run(app, host=LOOPBACK, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
