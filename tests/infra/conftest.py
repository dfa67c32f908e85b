"""One synthesis per test session, shared by every infra test.

A single App holds the dev and prod stacks (both in us-west-2, so that each environment's own settings are
what differs), synthesized once (~10-30 s) against the PLACEHOLDER layer, so no network or layer build is
needed. Production gets a custom domain and certificate (as an operator would configure) so its TLS
policy is the one asserted; development keeps the cdk.json defaults.

A canary stack with one deliberately unacknowledged resource is synthesized beside them: its findings
prove that cdk-nag really ran over this App, and the test then requires that they are the only ones.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REGION = "us-west-2"
CANARY = "nag-canary"
PROD_OVERRIDES = {
    "edge": {
        "domain_names": ["app.dcmms.example.com"],
        "certificate_arn": "arn:aws:acm:us-east-1:111111111111:certificate/00000000-0000-0000-0000-000000000000",
    },
    "monitoring": {"alarm_emails": ["oncall@dcmms.example.com"]},
}


@dataclass
class Synthesis:
    outdir: Path
    templates: dict[str, dict[str, Any]]  # stack name -> CloudFormation template
    report: dict[str, Any]  # CDK policy-validation report (cdk-nag and CloudFormation Validate)
    annotations: dict[str, list[dict[str, Any]]]  # stack name -> metadata entries (warnings, errors)
    seconds: float
    _assertions: dict[str, Any] = field(default_factory=dict)

    def template(self, env: str, part: str) -> dict[str, Any]:
        return self.templates[f"dcmms-{env}-{REGION}-{part}"]

    def assertions(self, env: str, part: str) -> Any:
        """An aws_cdk.assertions.Template of the stack (built once, on first use)."""
        from aws_cdk.assertions import Template

        name = f"dcmms-{env}-{REGION}-{part}"
        if name not in self._assertions:
            self._assertions[name] = Template.from_json(self.templates[name], skip_cyclical_dependencies_check=True)
        return self._assertions[name]


def _annotations(outdir: Path, stack: str) -> list[dict[str, Any]]:
    path = outdir / f"{stack}.metadata.json"
    if not path.is_file():
        return []
    entries = []
    for construct_path, items in json.loads(path.read_text()).items():
        for item in items:
            if item.get("type") in ("aws:cdk:warning", "aws:cdk:error", "aws:cdk:info"):
                entries.append({"path": construct_path, **item})
    return entries


@pytest.fixture(scope="session")
def synthesis(tmp_path_factory: pytest.TempPathFactory) -> Synthesis:
    import time

    from aws_cdk import Stack
    from aws_cdk import aws_sqs as sqs

    from cdk.app import build, create_app

    outdir = tmp_path_factory.mktemp("cdk-out")
    started = time.perf_counter()
    app = create_app(
        {"env": "all", "region": REGION, "dcmms:layer": "placeholder", "dcmms:overrides:prod": PROD_OVERRIDES},
        outdir=str(outdir),
    )
    stacks = build(app)
    sqs.Queue(Stack(app, CANARY), "Unacknowledged")
    try:
        app.synth()
    except RuntimeError as exc:  # the canary's findings fail validation, by design
        if "ValidationFailed" not in str(exc):
            raise
    seconds = time.perf_counter() - started
    names = [s.stack_name for s in stacks]
    return Synthesis(
        outdir=outdir,
        templates={n: json.loads((outdir / f"{n}.template.json").read_text()) for n in names},
        report=json.loads((outdir / "validation-report.json").read_text()),
        annotations={n: _annotations(outdir, n) for n in names},
        seconds=seconds,
    )


# -- helpers over raw templates ------------------------------------------------------------------------


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def only(template: dict[str, Any], kind: str) -> dict[str, Any]:
    (found,) = resources(template, kind).values()
    return found


def function_by_name(template: dict[str, Any], name: str) -> tuple[str, dict[str, Any]]:
    """(logical id, resource) of the Lambda function named ``dcmms-<env>-<name>``."""
    for logical_id, res in resources(template, "AWS::Lambda::Function").items():
        if str(res["Properties"].get("FunctionName", "")).endswith(f"-{name}"):  # CDK's own handlers have none
            return logical_id, res
    raise KeyError(name)


def render(value: Any) -> str:
    """A CloudFormation value as text: Refs as <Name>, GetAtt as <Id.Attr>, joins flattened."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((fn, arg),) = value.items()
        if fn == "Ref":
            return f"<{arg}>"
        if fn == "Fn::GetAtt":
            return f"<{arg[0]}.{arg[1]}>"
        if fn == "Fn::Join":
            return arg[0].join(render(p) for p in arg[1])
        if fn == "Fn::ImportValue":
            return f"<import:{render(arg)}>"
    return json.dumps(value, sort_keys=True)


def role_grants(template: dict[str, Any], role_logical_id: str, effect: str = "Allow") -> dict[str, set[str]]:
    """action -> rendered resources, over every policy of the role's own (inline, and CDK's overflow managed
    policies): its Allow statements, or with ``effect="Deny"`` its explicit denials."""
    grants: dict[str, set[str]] = {}
    # CDK moves what does not fit the role's inline policy into customer-managed "overflow" policies of the role
    policies = [
        *resources(template, "AWS::IAM::Policy").values(),
        *resources(template, "AWS::IAM::ManagedPolicy").values(),
    ]
    for policy in policies:
        if {"Ref": role_logical_id} not in policy["Properties"].get("Roles", []):
            continue
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            assert statement["Effect"] in ("Allow", "Deny")
            assert "NotAction" not in statement and "NotResource" not in statement
            if statement["Effect"] != effect:
                continue
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            targets = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            for action in actions:
                grants.setdefault(action, set()).update(render(t) for t in targets)
    return grants


def function_grants(template: dict[str, Any], name: str, effect: str = "Allow") -> dict[str, set[str]]:
    _, fn = function_by_name(template, name)
    role = fn["Properties"]["Role"]["Fn::GetAtt"][0]
    return role_grants(template, role, effect)


def acknowledgments(synthesis: Synthesis, stack: str) -> dict[str, list[tuple[str, str]]]:
    """cdk-nag rule id -> [(construct path, written reason)] acknowledged in the stack (its metadata)."""
    path = synthesis.outdir / f"{stack}.metadata.json"
    out: dict[str, list[tuple[str, str]]] = {}
    for construct_path, items in json.loads(path.read_text()).items():
        for item in items:
            if item.get("type") == "aws:cdk:acknowledged-rules":
                for rule, reason in item["data"].items():
                    out.setdefault(rule.removeprefix("Annotation::"), []).append((construct_path, reason))
    return out
