"""cfn-lint over every synthesized template, and cdk-nag's AwsSolutions pack over the whole App."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from cdk import nag
from tests.infra.conftest import CANARY, REGION, Synthesis

CDK_DIR = Path(__file__).resolve().parents[2] / "cdk"
# cfn-lint warnings that are expected, with why (anything else fails the test so that it gets a look):
DOCUMENTED_WARNINGS = {
    # Subnets name their zones (a, b, c): an environment-agnostic stack would otherwise get only two.
    "W3010",
    # CDK adds an explicit DependsOn from each function to its role's policy, beside the GetAtt.
    "W3005",
}
STACKS = [f"dcmms-{env}-{REGION}-{part}" for env in ("dev", "prod") for part in ("data", "service")]


@pytest.mark.parametrize("stack", STACKS)
def test_cfn_lint_reports_no_errors(synthesis: Synthesis, stack: str) -> None:
    from cfnlint.api import lint

    matches = lint(json.dumps(synthesis.templates[stack]), regions=[REGION])
    errors = [f"{m.rule.id} {m.message}" for m in matches if m.rule.id.startswith("E")]
    assert errors == []
    undocumented = sorted({f"{m.rule.id} {m.message}" for m in matches if m.rule.id not in DOCUMENTED_WARNINGS})
    assert undocumented == []


def test_cdk_nag_ran_and_every_finding_outside_the_canary_is_acknowledged(synthesis: Synthesis) -> None:
    reports = {r["pluginName"]: r for r in synthesis.report["pluginReports"]}
    # cdk-nag ran over this App: it reported the canary's deliberately unacknowledged queue ...
    nag_report = reports["AwsSolutions"]
    findings = [(v["ruleName"], c["constructPath"]) for v in nag_report["violations"] for c in v["violatingConstructs"]]
    assert {rule for rule, path in findings if path.startswith(f"{CANARY}/")} >= {"AwsSolutions-SQS4"}
    # ... and nothing else: no error and no warning anywhere in the dCMMS stacks
    assert [f for f in findings if not f[1].startswith(f"{CANARY}/")] == []
    # CDK's own CloudFormation validation has no unsuppressed finding either
    assert reports["CloudFormation Validate"]["violations"] == []


def test_acknowledgments_need_a_written_reason() -> None:
    with pytest.raises(ValueError, match="reason"):
        nag.acknowledge(None, "AwsSolutions-S1", "  ")  # type: ignore[arg-type]


def test_every_acknowledgment_goes_through_the_helper_with_a_literal_reason() -> None:
    """No bare Validations.of(...).acknowledge in the app: all go through nag.acknowledge, each with text."""
    for path in CDK_DIR.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr == "acknowledge":
                if path.name == "nag.py":
                    continue
                assert isinstance(func.value, ast.Name) and func.value.id == "nag", f"{path.name}:{node.lineno}"
                assert len(node.args) == 3, f"{path.name}:{node.lineno}: acknowledge(construct, rule, reason)"
                reason = node.args[2]
                assert not (isinstance(reason, ast.Constant) and not str(reason.value).strip()), path.name


def test_rule_ids_render_tokens_as_cdk_nag_does() -> None:
    from cdk.nag import _flatten

    value = {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":s3:::b-", {"Ref": "AWS::AccountId"}, "/p/*"]]}
    assert _flatten(value) == "arn:<AWS::Partition>:s3:::b-<AWS::AccountId>/p/*"
    assert _flatten({"Fn::GetAtt": ["Fn1", "Arn"]}) == "<Fn1.Arn>"
