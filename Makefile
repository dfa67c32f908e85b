# The documented entry points. Every target installs what it needs into .venv first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# npm packages for development (DynamoDB Local), installed exactly as package-lock.json pins them.
NODE_STAMP := node_modules/.installed
# The web app (web/, Vite): its npm packages as web/package-lock.json pins them, and its production build in
# web/dist, which `make run` serves at the API's origin and the browser tests drive. The build's own index.html is
# its stamp (nothing else is written into web/dist, which the stacks deploy as it is), so a deleted build is built again.
WEB_NODE_STAMP := web/node_modules/.installed
WEB_STAMP      := web/dist/index.html
WEB_SOURCES    := $(shell find web/src web/public -type f 2>/dev/null) $(wildcard web/index.html web/vite.config.*)

.PHONY: install bootstrap bootstrap-run web run test unit integration e2e infra browser bench load soak-ingest synth lint clean

## System programs the tests start (Redis 7, PostgreSQL, Java, Node.js and npm, promtool, pdftoppm, Chromium): apt-get
## installs the missing ones (as root or through sudo); elsewhere one line names them and the target fails.
bootstrap:
	$(PYTHON) tools/bootstrap.py --for test

## make run needs Java and npm (DynamoDB Local), Redis and PostgreSQL; it starts on pip-bundled Redis and
## PostgreSQL where those cannot be installed.
bootstrap-run:
	$(PYTHON) tools/bootstrap.py --for run

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

## The web app's npm packages (again when web/package-lock.json changes) and its production build (again when
## web/src, web/index.html, web/vite.config.js or the lock change) into web/dist.
web: $(WEB_STAMP)

# Until the web app exists in the tree, say so instead of make's "No rule to make target".
web/package.json web/package-lock.json:
	@echo "make web: $@ is missing: the web app (web/, issue 18) is not in this tree" >&2; exit 1

$(WEB_NODE_STAMP): web/package.json web/package-lock.json
	@command -v npm >/dev/null || { echo "make web: needs Node.js 18+ and npm (make bootstrap installs them)" >&2; exit 1; }
	npm --prefix web ci --no-audit --no-fund --loglevel=error
	touch $(WEB_NODE_STAMP)

$(WEB_STAMP): $(WEB_NODE_STAMP) web/package-lock.json $(WEB_SOURCES)
	npm --prefix web run build
	touch $(WEB_STAMP)

install: bootstrap $(STAMP) $(NODE_STAMP) $(WEB_NODE_STAMP)

## Start the whole local stack (DynamoDB Local, moto, Redis, PostgreSQL, API) with a seeded demo.
## SIMULATE=1 adds site gateways for the demo fleets, so live readings and rule alerts show up.
run: bootstrap-run $(STAMP) $(NODE_STAMP) web
	$(VENV)/bin/dcmms dev $(if $(SIMULATE),--simulate)

## Lint (ruff, import contracts, mypy), then the web app's production build, then unit, integration, end-to-end,
## infrastructure and browser tests (the web app in Debian's Chromium against the local stack, and its size
## budgets); pytest's "no tests collected", exit 5, fails the target.
test: bootstrap $(STAMP) $(NODE_STAMP) lint web
	$(PY) -m pytest tests/unit tests/integration tests/e2e tests/infra tests/browser

unit: bootstrap $(STAMP) $(NODE_STAMP)
	$(PY) -m pytest tests/unit

integration: bootstrap $(STAMP) $(NODE_STAMP)
	$(PY) -m pytest tests/integration

e2e: bootstrap $(STAMP) $(NODE_STAMP)
	$(PY) -m pytest tests/e2e

infra: bootstrap $(STAMP)
	$(PY) -m pytest tests/infra

## The web app in headless Chromium (Playwright) against a local stack of its own, and its size budgets
## (tools/web_budget.py); screenshots of each screen go to reports/ui/.
browser: bootstrap $(STAMP) $(NODE_STAMP) web
	$(PY) -m pytest tests/browser

## CloudFormation templates for every stack (dev and prod, every region) into cdk.out/: builds the web app and the
## Lambda layer (manylinux aarch64 wheels, no Docker), then synthesizes; cdk-nag fails it on any unacknowledged finding.
synth: bootstrap $(STAMP) web
	$(PY) -m layers.build
	$(PY) -m cdk.app -c env=all --outdir cdk.out

## Benchmarks, each printed beside its reference floor measured in the same run:
## API Lambda cold start / warm GET vs a minimal FastAPI+Mangum app, Redis-side costs vs a raw GET,
## telemetry store writes and ingest handler events/s vs a raw binary COPY, aggregation latency over ~10 M rows,
## search p50/p95 at the spec's scale vs the same rows by primary key, projector records/s vs a COPY,
## report generation (fleet-monthly at 200 sites, a 30-day 1-minute telemetry export) vs their queries alone,
## the pm run over 50,000 assets / 1,400 schedules (steady, generating, retried) vs its DynamoDB calls alone.
## Lighthouse (desktop, mobile) on the fleet, site, work-order and sign-in screens vs the spec's budgets and a static page.
bench: bootstrap $(STAMP) $(NODE_STAMP) web
	$(PY) -m tests.bench.api_lambda
	$(PY) -m tests.bench.auth
	$(PY) -m tests.bench.telemetry_store
	$(PY) -m tests.bench.ingest
	$(PY) -m tests.bench.telemetry_query
	$(PY) -m tests.bench.read_model
	$(PY) -m tests.bench.dashboard
	$(PY) -m tests.bench.reports
	$(PY) -m tests.bench.pm
	$(PY) -m tests.bench.lighthouse

SCENARIO ?= baseline
FACTOR   ?= 0.02
DATASET  ?= demo
LOAD_ARGS ?=
## Load test (spec §10.2) against the local stack (the running `make run` one, or one it starts) on 127.0.0.1:
## SCENARIO=baseline|peak|stress|endurance, users/ramp/duration x FACTOR, DATASET=demo|spec, LOAD_ARGS for any other
## option of `python -m tests.load --help` (e.g. --no-floor); writes reports/load/*.html and *.json.
load: bootstrap-run $(STAMP) $(NODE_STAMP)
	$(PY) -m tests.load --scenario $(SCENARIO) --factor $(FACTOR) --dataset $(DATASET) $(LOAD_ARGS)

RATE     ?= 72000
DURATION ?= 600
## Telemetry soak (spec: 72,000 events/s) on loopback: simulator -> local Kinesis -> poller -> the real ingest
## handler -> PostgreSQL for DURATION s; prints sustained events/s, iterator age over time, CPU per process
## and a no-loss count; writes reports/soak/*.json.
soak-ingest: bootstrap $(STAMP) $(NODE_STAMP)
	$(PY) -m tests.soak.ingest --rate $(RATE) --duration $(DURATION)

## ruff (style and format), import-linter (the architecture's never-rules, pyproject.toml), mypy (the library;
## strict on domain and services).
lint: $(STAMP)
	$(VENV)/bin/ruff check shared dcmms_dev functions tests cdk layers tools
	$(VENV)/bin/ruff format --check shared dcmms_dev functions tests cdk layers tools
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) node_modules web/node_modules web/dist .dcmms .pytest_cache
