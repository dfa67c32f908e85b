"""The HTTP API (FastAPI): app factory, routers, authentication and problem details."""
