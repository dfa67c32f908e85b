"""`make bench`: what a signed-in person's Cognito ID token costs beside an API key (issue 17), each figure beside
the API-key path measured in the same run, as a ratio.

One tenant (enterprise tier, so the rate limits stay out of the way) with its admin's API key, and the same admin
as a person in a user pool on moto's Cognito, signed in for an ID token. On the local stack (DynamoDB Local, moto,
Redis, PostgreSQL):

- **per request**: ``GET /api/v1/sites?limit=1`` through the API function (Mangum over the app, in a fresh
  interpreter configured as in Lambda), warm, the two credentials alternating; both served from the process
  caches (the key's principal; the token's verified principal and its person's standing).
- **first use of a credential in a process** (this process, the app's own objects): ``Authenticator.authenticate``
  of a key not in the process cache (Redis hit; Redis and DynamoDB miss) against ``TokenVerifier.principal`` of a
  token not in its cache (signature, claims; the JWKS cached), its person's standing process-cached, from Redis,
  or from DynamoDB; the verifier's ``_cache`` (and the standing's process entries) are cleared between
  iterations, not thousands of tokens minted.
- **cold start**: fresh interpreters import the API function and serve their first request, with the key or with
  the token (which imports PyJWT and the cryptography it uses, fetches the JWKS once and reads the tenant's tier);
  Redis holds the key's principal, the person's standing and the page, as in a running fleet. Then what importing
  PyJWT costs alone, and after the API function is loaded.

Run: ``python -m tests.bench.auth`` (about 30 s here). Timing assertions there are none; every response is
checked to be a 200.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
URL = "/api/v1/sites?limit=1"
HANDLER = "functions.api.handler"
# What PyJWT's algorithms import from cryptography when it is installed (jwt/algorithms.py)
CRYPTOGRAPHY = (
    "cryptography.exceptions",
    "cryptography.hazmat.backends",
    "cryptography.hazmat.primitives.hashes",
    "cryptography.hazmat.primitives.asymmetric.padding",
    "cryptography.hazmat.primitives.asymmetric.ec",
    "cryptography.hazmat.primitives.asymmetric.ed448",
    "cryptography.hazmat.primitives.asymmetric.ed25519",
    "cryptography.hazmat.primitives.asymmetric.rsa",
    "cryptography.hazmat.primitives.serialization",
)


# -- in a fresh interpreter (python -m tests.bench.auth --probe MODE ...) -------------------------------------------


def _ms(seconds: float) -> float:
    return seconds * 1000


def _headers(kind: str) -> dict[str, str]:
    if kind == "key":
        return {"x-api-key": os.environ["BENCH_AUTH_KEY"]}
    return {"Authorization": f"Bearer {os.environ['BENCH_AUTH_TOKEN']}"}


def _probe(mode: str, *args: str) -> dict[str, Any]:
    if mode == "imports":  # PyJWT alone in a bare interpreter: the cryptography it loads, then the rest
        t0 = time.perf_counter()
        for name in CRYPTOGRAPHY:
            importlib.import_module(name)
        t1 = time.perf_counter()
        import jwt  # noqa: F401

        t2 = time.perf_counter()
        return {"cryptography_ms": _ms(t1 - t0), "jwt_ms": _ms(t2 - t1), "total_ms": _ms(t2 - t0)}
    t0 = time.perf_counter()
    module = importlib.import_module(HANDLER)
    t1 = time.perf_counter()
    if mode == "jwt-after-app":  # what the first Bearer request imports, the API function being loaded
        import jwt  # noqa: F401

        return {"app_import_ms": _ms(t1 - t0), "jwt_ms": _ms(time.perf_counter() - t1)}
    import urllib.request  # loaded by the API function already (asserted below): patching it costs nothing

    from dcmms_dev.events import FakeLambdaContext, api_gateway_event

    context = FakeLambdaContext()
    if mode == "cold":
        fetches: list[float] = []
        urlopen = urllib.request.urlopen

        def timed(*a: Any, **kw: Any) -> Any:  # PyJWKClient fetches the JWKS with urllib.request.urlopen
            started = time.perf_counter()
            try:
                return urlopen(*a, **kw)
            finally:
                fetches.append(time.perf_counter() - started)

        urllib.request.urlopen = timed  # type: ignore[assignment]
        directory = _time_directory_calls()
        before = set(sys.modules)
        event = api_gateway_event("GET", URL, _headers(args[0]))
        t2 = time.perf_counter()
        first = module.lambda_handler(event, context)
        t3 = time.perf_counter()
        assert first["statusCode"] == 200, first
        loaded = set(sys.modules) - before
        return {
            "import_ms": _ms(t1 - t0),
            "first_ms": _ms(t3 - t2),
            "cold_ms": _ms(t1 - t0 + t3 - t2),
            "jwks_ms": _ms(sum(fetches)),
            "jwks_fetches": len(fetches),
            "directory_ms": _ms(sum(s for _, s in directory)),
            "directory_calls": sorted({name for name, _ in directory}),
            "urllib_preloaded": "urllib.request" not in loaded,
            "loaded": sorted(p for p in ("jwt", "cryptography.hazmat", "pynamodb") if p in loaded),
        }
    assert mode == "warm", mode
    n = int(args[0])
    events = {kind: api_gateway_event("GET", URL, _headers(kind)) for kind in ("key", "token")}
    for event in events.values():  # first use of each: not measured
        assert module.lambda_handler(event, context)["statusCode"] == 200
    samples: dict[str, list[float]] = {"key": [], "token": []}
    for i in range(n):
        for kind in ("key", "token") if i % 2 else ("token", "key"):
            started = time.perf_counter()
            result = module.lambda_handler(events[kind], context)
            samples[kind].append(_ms(time.perf_counter() - started))
            assert result["statusCode"] == 200, result
    return {kind: {"p50": _pct(s, 50), "p95": _pct(s, 95), "mean": statistics.fmean(s)} for kind, s in samples.items()}


def _time_directory_calls() -> list[tuple[str, float]]:
    """Time every call on the directory repository the functions get from ``runtime.store_repositories`` (the
    tenant's tier, a person's standing or a key's record when Redis has none), the first one with what building
    the repository costs (importing pynamodb and botocore's DynamoDB client, binding the models)."""
    from dcmms import runtime  # loaded by the API function already

    spent: list[tuple[str, float]] = []
    real = runtime.store_repositories

    class Directory:
        def __init__(self, repositories: Any) -> None:
            self._repositories = repositories

        def __getattr__(self, name: str) -> Any:
            started = time.perf_counter()
            method = getattr(self._repositories.directory, name)  # built on first access
            built = time.perf_counter() - started

            def call(*args: Any, **kwargs: Any) -> Any:
                began = time.perf_counter()
                try:
                    return method(*args, **kwargs)
                finally:
                    spent.append((name, built + time.perf_counter() - began))

            return call

    class Repositories:
        def __init__(self, repositories: Any) -> None:
            self._repositories = repositories

        def __getattr__(self, name: str) -> Any:
            if name == "directory":
                return Directory(self._repositories)
            return getattr(self._repositories, name)

    runtime.store_repositories = lambda settings: Repositories(real(settings))  # type: ignore[assignment]
    return spent


def _pct(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


# -- the bench ------------------------------------------------------------------------------------------------------


def _run_probe(env: dict[str, str], *args: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "tests.bench.auth", "--probe", *args],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])  # the last line (EMF metrics come before it)


def _interleaved(variants: list[tuple[str, Callable[[], Any], Callable[[], Any]]], n: int) -> dict[str, list[float]]:
    """``n`` timed calls of each variant's action, round robin, each after its (untimed) setup; microseconds."""
    samples: dict[str, list[float]] = {label: [] for label, _, _ in variants}
    for _ in range(n):
        for label, setup, action in variants:
            setup()
            started = time.perf_counter()
            action()
            samples[label].append((time.perf_counter() - started) * 1e6)
    return samples


def _row(label: str, value: float, floor: float, unit: str = "") -> str:
    return f"{label:<62} {value:>9.2f} {floor:>9.2f} {value / floor:>7.2f}x{unit}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="warm requests per credential")
    parser.add_argument("--misses", type=int, default=300, help="first uses timed per variant")
    parser.add_argument("--runs", type=int, default=5, help="fresh processes per credential (cold start)")
    args = parser.parse_args()
    began = time.perf_counter()

    import jwt
    from fastapi.testclient import TestClient

    from dcmms import runtime
    from dcmms.api.app import create_app
    from dcmms.cache import keys as redis_keys
    from dcmms.domain.apikeys import hash_api_key
    from dcmms.domain.model import Role
    from dcmms.store.models import TenantModel
    from dcmms_dev.cognito import create_pool, create_user, new_password, sign_in
    from dcmms_dev.seed import provision_tenant
    from dcmms_dev.stack import prepared_stack, settings_environment

    with prepared_stack() as (_, base):
        pool_id, client_id = create_pool(base)
        settings = base.model_copy(update={"cognito_user_pool_id": pool_id, "cognito_client_id": client_id})
        tenant_id = f"bench-auth-{uuid.uuid4().hex[:8]}"
        key = provision_tenant(tenant_id, "Bench Auth Operator").keys[Role.admin.value]
        TenantModel.get(tenant_id).update(actions=[TenantModel.tier.set("enterprise")])  # the admin key's tier
        email, password = f"admin@{tenant_id}.example.com", new_password()
        create_user(settings, pool_id, tenant_id, Role.admin, email, password)
        token = sign_in(settings, client_id, email, password)["IdToken"]
        sub = jwt.decode(token, options={"verify_signature": False})["sub"]

        app = create_app(settings)
        http = TestClient(app)
        created = http.post(
            "/api/v1/sites",
            json={"name": "Bench", "kind": "solar", "capacity_mw": 1, "timezone": "UTC"},
            headers={"x-api-key": key},
        )
        assert created.status_code == 201, created.text
        authenticator = app.state.authenticator
        verifier = runtime.token_verifier(settings)
        assert verifier is not None
        credentials = runtime.credential_cache(settings)  # keys' principals and people's standing, per process
        assert authenticator.credentials is credentials
        redis = runtime.resilient_redis(settings).client
        key_entry, person_entry = redis_keys.principal(hash_api_key(key)), redis_keys.person(tenant_id, sub)

        def forget_in_process() -> None:
            credentials._keys._entries.clear()
            credentials._people._entries.clear()
            verifier._cache.clear()

        def prime() -> None:
            """Fresh Redis entries (their TTL is short) for the key, the person and the page, as in a running fleet."""
            forget_in_process()
            redis.delete(key_entry, person_entry)
            for headers in ({"x-api-key": key}, {"Authorization": f"Bearer {token}"}):
                response = http.get(URL, headers=headers)
                assert response.status_code == 200, response.text

        env = os.environ | {
            "AWS_LAMBDA_FUNCTION_NAME": "dcmms-api",  # the Lambda path, as tests/bench/api_lambda.py runs it
            **settings_environment(settings),
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_NAMESPACE": "dCMMS",
            "BENCH_AUTH_KEY": key,
            "BENCH_AUTH_TOKEN": token,
        }

        # -- cold start: fresh interpreters, alternating; one unmeasured run each first (.pyc, page cache) --------
        prime()
        for kind in ("key", "token"):
            _run_probe(env, "cold", kind)
        cold: dict[str, list[dict[str, Any]]] = {"key": [], "token": []}
        imports: list[dict[str, float]] = []
        after_app: list[dict[str, float]] = []
        for _ in range(args.runs):
            for kind in ("key", "token"):
                prime()
                cold[kind].append(_run_probe(env, "cold", kind))
            imports.append(_run_probe(env, "imports"))
            after_app.append(_run_probe(env, "jwt-after-app"))

        # -- per request, warm, in the API function's process ---------------------------------------------------
        prime()
        warm = _run_probe(env, "warm", str(args.requests))

        # -- first use of a credential, in this process ---------------------------------------------------------
        prime()
        signing_key = verifier._jwks.get_signing_key_from_jwt(token).key
        decode_options = {"require": ["exp", "iat", "iss", "sub", "token_use"], "verify_aud": False}

        def nothing() -> None:
            return None

        def drop_key() -> None:
            credentials._keys._entries.clear()

        def drop_key_everywhere() -> None:
            drop_key()
            redis.delete(key_entry)

        def drop_token() -> None:
            verifier._cache.clear()

        def drop_token_and_standing() -> None:
            drop_token()
            credentials._people._entries.clear()

        def drop_token_and_standing_everywhere() -> None:
            drop_token_and_standing()
            redis.delete(person_entry)

        floor_label = "API key, first use: Redis hit"
        misses = _interleaved(
            [
                ("API key, process cache hit", nothing, lambda: authenticator.authenticate(key)),
                (floor_label, drop_key, lambda: authenticator.authenticate(key)),
                (
                    "API key, first use: Redis and DynamoDB miss",
                    drop_key_everywhere,
                    lambda: authenticator.authenticate(key),
                ),
                ("token, process cache hit (standing process-cached)", nothing, lambda: verifier.principal(token)),
                ("token, first use: JWT check, standing process-cached", drop_token, lambda: verifier.principal(token)),
                (
                    "token, first use: JWT check, standing from Redis",
                    drop_token_and_standing,
                    lambda: verifier.principal(token),
                ),
                (
                    "token, first use: JWT check, standing from DynamoDB",
                    drop_token_and_standing_everywhere,
                    lambda: verifier.principal(token),
                ),
                (
                    "  of which jwt.decode alone (RS256 signature, claims)",
                    nothing,
                    lambda: jwt.decode(
                        token,
                        signing_key,
                        algorithms=["RS256"],
                        issuer=settings.cognito_issuer,
                        leeway=30,
                        options=decode_options,
                    ),
                ),
            ],  # fmt: skip
            args.misses,
        )
        jwks = _interleaved([("JWKS fetch", nothing, verifier._jwks.fetch_data)], max(5, args.misses // 20))
        prime()

    # -- report ---------------------------------------------------------------------------------------------------
    print("\nAuthentication benchmark: a person's Cognito ID token beside an API key (ratio: token / key)\n")
    print(f"{'per request, warm (ms)':<62} {'token':>9} {'API key':>9} {'ratio':>8}")
    for stat in ("p50", "p95", "mean"):
        label = f"GET {URL} {stat}"
        print(_row(label, warm["token"][stat], warm["key"][stat]))
    print(f"    {args.requests} requests per credential in one fresh API-function process (Mangum, Lambda config),")
    print("    alternating; both credentials from the process caches, the page from Redis")

    floor = _pct(misses[floor_label], 50)
    print(f"\n{'first use of a credential in a process (us, p50)':<62} {'us':>9} {'floor':>9} {'ratio':>8}")
    for label, samples in misses.items():
        print(_row(label, _pct(samples, 50), floor, "  (floor)" if label == floor_label else ""))
    print(_row("JWKS fetch from moto (once per environment, and per rotation)", _pct(jwks["JWKS fetch"], 50), floor))
    print(f"    {args.misses} of each, round robin; floor: {floor_label} (Authenticator.authenticate);")
    print("    token rows: TokenVerifier.principal, its _cache cleared; the tenant's tier process-cached (5 min)")

    def med(rows: list[dict[str, Any]], name: str) -> float:
        return statistics.median(r[name] for r in rows)

    print(f"\n{f'cold start, {args.runs} fresh processes each (ms, p50)':<62} {'token':>9} {'API key':>9} {'ratio':>8}")
    print(_row("import the API function + first GET", med(cold["token"], "cold_ms"), med(cold["key"], "cold_ms")))
    print(_row("  of which import", med(cold["token"], "import_ms"), med(cold["key"], "import_ms")))
    print(_row("  of which first GET", med(cold["token"], "first_ms"), med(cold["key"], "first_ms")))
    for label, name in (("JWKS fetch", "jwks_ms"), ("directory calls (DynamoDB)", "directory_ms")):
        token_ms, key_ms = med(cold["token"], name), med(cold["key"], name)
        print(f"{'    of which ' + label:<62} {token_ms:>9.2f} {key_ms:>9.2f} {'':>8}")
    app_import = med(cold["key"], "import_ms")
    print(f"\n{'import time (ms, p50)':<62} {'ms':>9} {'app':>9} {'ratio':>8}")
    print(_row("import jwt in a bare interpreter (with its cryptography)", med(imports, "total_ms"), app_import))
    print(_row("  of which cryptography (the modules PyJWT loads)", med(imports, "cryptography_ms"), app_import))
    print(_row("  of which PyJWT itself", med(imports, "jwt_ms"), app_import))
    print(_row("import jwt after the API function is loaded", med(after_app, "jwt_ms"), app_import))
    loaded = {kind: sorted({m for r in rows for m in r["loaded"]}) for kind, rows in cold.items()}
    fetches = {r["jwks_fetches"] for r in cold["token"]}
    assert all(r["urllib_preloaded"] for rows in cold.values() for r in rows)
    print("    app: the API function's import (key runs' p50) as the floor of the import rows")
    print(f"    loaded by the first GET: token {', '.join(loaded['token']) or 'nothing watched'}; "
          f"key {', '.join(loaded['key']) or 'none of jwt, cryptography.hazmat, pynamodb'}; "
          f"JWKS fetches per token process {sorted(fetches)}")  # fmt: skip
    calls = {kind: sorted({c for r in rows for c in r["directory_calls"]}) for kind, rows in cold.items()}
    print(f"    directory calls in the first GET: token {', '.join(calls['token']) or 'none'}; "
          f"key {', '.join(calls['key']) or 'none'} (the first with the repository's build: pynamodb, botocore)")  # fmt: skip
    print(f"    bench {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--probe":
        print(json.dumps(_probe(*sys.argv[2:])))
    else:
        main()
