"""Schedules: EventBridge Scheduler for every catalogue function whose trigger is "schedule".

Generic over the catalogue: the warmer (every 15 minutes), telemetry partitions (daily) and whatever
scheduled function is added later (KPI refresh every 5 minutes, daily reports) get a schedule from their
``schedule`` expression, with bounded retries and a dead-letter queue for invocations that never ran.
The cache warmer also runs after each deployment that changes it (a CDK trigger, invoked asynchronously
so that a cold Redis cannot fail the deployment).
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, triggers
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from cdk import nag
from cdk.config import DeploymentConfig
from dcmms.catalogue import FUNCTIONS, FunctionSpec, schedule_interval_s

WARMER = "warmer"
DAY_S = 86_400


def max_event_age_s(expression: str) -> int:
    """How long a missed run stays worth retrying: one interval (a later run supersedes it), 1 min..1 day."""
    try:
        interval = schedule_interval_s(expression)
    except (ValueError, KeyError):
        interval = 3600  # cron/at expressions: an hour
    return max(60, min(interval, DAY_S))


class Schedules(Construct):
    def __init__(
        self, scope: Construct, id: str, *, cfg: DeploymentConfig, functions: dict[str, lambda_.Function]
    ) -> None:
        super().__init__(scope, id)
        self.cfg = cfg
        self.dead_letters = sqs.Queue(
            self,
            "MissedInvocations",
            queue_name=f"{cfg.prefix}-schedule-dlq",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
            removal_policy=RemovalPolicy.RETAIN if cfg.production else RemovalPolicy.DESTROY,
        )
        nag.acknowledge(
            self.dead_letters,
            "AwsSolutions-SQS3",
            "This queue is the dead-letter queue of the schedules; it is alarmed when not empty.",
        )
        scheduled = [spec for spec in FUNCTIONS if spec.trigger == "schedule"]
        # One role for the schedules: invoke exactly the scheduled functions (unqualified ARNs, no
        # version wildcard) and report missed invocations to the dead-letter queue.
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": self.dead_letters.env.account}},
            ),
            description="EventBridge Scheduler: invoke the scheduled dCMMS functions",
        )
        if scheduled:
            self.role.add_to_policy(
                iam.PolicyStatement(
                    actions=["lambda:InvokeFunction"],
                    resources=[functions[spec.name].function_arn for spec in scheduled],
                )
            )
        self.role.add_to_policy(
            iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[self.dead_letters.queue_arn])
        )
        self.schedules: dict[str, scheduler.CfnSchedule] = {
            spec.name: self._build_schedule(spec, functions[spec.name]) for spec in scheduled
        }
        if WARMER in functions:
            self.warm_on_deploy = triggers.Trigger(
                self,
                "WarmOnDeploy",
                handler=functions[WARMER],
                invocation_type=triggers.InvocationType.EVENT,
                execute_on_handler_change=True,
            )

    def _build_schedule(self, spec: FunctionSpec, function: lambda_.Function) -> scheduler.CfnSchedule:
        if not spec.schedule:
            raise ValueError(f"catalogue function {spec.name!r} has trigger 'schedule' but no schedule expression")
        return scheduler.CfnSchedule(
            self,
            f"Schedule-{spec.name}",
            name=f"{self.cfg.prefix}-{spec.name}",
            description=f"dCMMS {spec.name}: {spec.schedule}",
            schedule_expression=spec.schedule,
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
            state="ENABLED",
            target=scheduler.CfnSchedule.TargetProperty(
                arn=function.function_arn,
                role_arn=self.role.role_arn,
                retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                    maximum_retry_attempts=2, maximum_event_age_in_seconds=max_event_age_s(spec.schedule)
                ),
                dead_letter_config=scheduler.CfnSchedule.DeadLetterConfigProperty(arn=self.dead_letters.queue_arn),
            ),
        )
