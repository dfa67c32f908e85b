"""cdk-nag (AwsSolutions pack) acknowledgments, each with its written reason, in one place.

cdk-nag 3 reports through CDK's policy-validation plugins: a finding that is not acknowledged fails
``app.synth()`` (and so ``cdk synth``/``cdk deploy``) and is listed in ``validation-report.json``.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Acknowledgment, Stack, Validations
from constructs import IConstruct

# Reasons shared by several constructs.
VPC_LAMBDA_POLICY = (
    "AWSLambdaVPCAccessExecutionRole is the AWS-maintained policy for a function's ENIs and its log "
    "stream; the EC2 network-interface actions it grants cannot be scoped to resources (Describe*)."
)
BASIC_LAMBDA_POLICY = (
    "AWSLambdaBasicExecutionRole is the AWS-maintained policy for a function's log stream (CreateLogGroup, "
    "CreateLogStream, PutLogEvents), for a function outside the VPC; it grants nothing else."
)
XRAY_WILDCARD = (
    "X-Ray PutTraceSegments/PutTelemetryRecords have no resource-level permissions; Resource * is the "
    "only form AWS accepts."
)
XRAY_AND_LIST_STREAMS_WILDCARD = (
    XRAY_WILDCARD + " The DynamoDB Streams event source's grant adds dynamodb:ListStreams, which has no "
    "resource-level permissions either; the stream reads themselves are granted on the streams' ARNs."
)
LOG_BUCKET = "This is the access-log bucket itself; logging it into itself would loop."


def acknowledge(construct: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge one AwsSolutions finding (``AwsSolutions-IAM5[Resource::*]`` style ids) on a construct."""
    if not reason.strip():
        raise ValueError(f"acknowledging {rule} needs a written reason")
    Validations.of(construct).acknowledge(Acknowledgment(id=rule, reason=reason))


def finding_resource(construct: IConstruct, value: str) -> str:
    """``value`` (which may hold tokens) written the way cdk-nag writes a resource in a finding id:
    ``Ref`` as ``<Name>``, ``Fn::GetAtt`` as ``<Logical.Attribute>``, joins flattened."""
    return _flatten(Stack.of(construct).resolve(value))


def _flatten(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((fn, arg),) = value.items()
        if fn == "Ref":
            return f"<{arg}>"
        if fn == "Fn::GetAtt":
            return f"<{arg[0]}.{arg[1]}>"
        if fn == "Fn::Join":
            return arg[0].join(_flatten(part) for part in arg[1])
        if fn == "Fn::ImportValue":
            return _flatten(arg)
    raise ValueError(f"cannot write {value!r} as a cdk-nag finding")
