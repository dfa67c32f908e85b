"""Entry point: ``cdk synth`` / ``cdk deploy`` (cdk.json runs ``python -m cdk.app``), or directly.

Context keys (``-c key=value``, with the CDK CLI or with ``python -m cdk.app``):
  env        dev | prod | all            (default: dev)
  region     a region, a spec alias (eu-west) or ``all``  (default: the environment's regions)
  account    an AWS account id           (default: CDK_DEFAULT_ACCOUNT, else environment-agnostic)
  dcmms:layer       auto | built | placeholder  (default: auto, see cdk/assets.py)
  dcmms:overrides   JSON merged over the settings, e.g. '{"api": {"provisioned_min": 2}}'
  dcmms:overrides:<env>   the same for one environment only
  dcmms:capacity[:<env>]  path of a `dcmms capacity --json` plan whose sizes to apply (before overrides)

Run directly, ``python -m cdk.app -c env=prod --outdir cdk.out`` reads cdk.json's context itself, so no CDK
CLI (and no AWS credentials) is needed to synthesize. cdk-nag's AwsSolutions pack runs on every synth and
fails it on any finding that is not acknowledged with a reason (cdk/nag.py).
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from aws_cdk import App, Validations
from cdk_nag import AwsSolutionsChecks

from cdk import config
from cdk.assets import stage_code
from cdk.stacks import DataStack, ServiceStack


def _context_value(app: App, key: str, default: str | None = None) -> str | None:
    value = app.node.try_get_context(key)
    return default if value in (None, "") else str(value)


def environments(app: App) -> list[str]:
    dcmms = app.node.try_get_context("dcmms")
    env = _context_value(app, "env", "dev")
    return list(dcmms["environments"]) if env == "all" else [env]  # type: ignore[list-item]


def build(app: App) -> list[DataStack | ServiceStack]:
    """Add the stacks the context asks for to ``app``: a data and a service stack per environment and region."""
    envs = environments(app)
    names = ["dcmms", "dcmms:capacity", "dcmms:overrides"]
    names += [f"{key}:{env}" for env in envs for key in ("dcmms:capacity", "dcmms:overrides")]
    context: dict[str, Any] = {key: app.node.try_get_context(key) for key in names}
    account = _context_value(app, "account", os.environ.get("CDK_DEFAULT_ACCOUNT"))
    layer_source = _context_value(app, "dcmms:layer", "auto")
    code = stage_code(Path(app.outdir) / "staging", layer_source)  # type: ignore[arg-type]
    stacks: list[DataStack | ServiceStack] = []
    for env_name in environments(app):
        for region in config.resolve_regions(context["dcmms"], env_name, _context_value(app, "region")):
            cfg = config.load(context, env_name, region, account)
            data = DataStack(app, cfg)
            stacks += [data, ServiceStack(app, cfg, data, code.assets())]
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return stacks


def create_app(context: Mapping[str, Any] | None = None, outdir: str | None = None) -> App:
    """An App with cdk.json's context (the CLI's own context, when present, takes precedence) plus ``context``."""
    merged = {**config.read_cdk_json_context(), **(context or {})}
    return App(context=merged, outdir=outdir)


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m cdk.app", description=__doc__.split("\n\n")[0])
    parser.add_argument("-c", "--context", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--outdir", default=None, help="cloud assembly directory (default: cdk.out)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = _parse(argv)
    context: dict[str, Any] = {}
    for item in args.context:
        key, _, value = item.partition("=")
        context[key] = json.loads(value) if value[:1] in "{[" else value
    app = create_app(context, args.outdir)
    build(app)
    app.synth()


if __name__ == "__main__":
    main()
