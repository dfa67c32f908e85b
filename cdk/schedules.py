"""Schedules: EventBridge Scheduler for every schedule of every catalogue function.

Generic over the catalogue: a function's ``schedules`` (whatever its trigger: the KPI refresh, the warmer and
telemetry partitions are triggered by nothing else, the reports function also by its queue) each become one
schedule, ``<prefix>-<function>`` for a function's only, unnamed schedule and ``<prefix>-<function>-<name>``
otherwise, evaluated in the schedule's timezone. A schedule's payload is the target's input (JSON); the
context attribute ``<aws.scheduler.scheduled-time>`` in it is replaced by the run's scheduled time on every
attempt, retries included, which is what makes a run idempotent. Bounded retries, and a dead-letter queue for
invocations that never ran. The cache warmer also runs after each deployment that changes it (a CDK trigger,
invoked asynchronously so that a cold Redis cannot fail the deployment).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import lru_cache

from aws_cdk import Duration, RemovalPolicy, triggers
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from cdk import nag
from cdk.config import DeploymentConfig
from dcmms.catalogue import FUNCTIONS, FunctionSpec, Schedule, next_run, schedule_interval_s

WARMER = "warmer"
DAY_S = 86_400
HOUR_S = 3600
# Where the runs of a cron() schedule are sampled to find its shortest interval: a fixed instant, so that a
# synthesis never depends on the day it runs.
_CRON_SAMPLE_FROM = datetime(2025, 1, 1, tzinfo=UTC)
_CRON_SAMPLE_RUNS = 4


@lru_cache(maxsize=64)
def _cron_interval_s(expression: str, timezone: str) -> int:
    """The shortest gap between consecutive runs of a cron() schedule, over a few runs."""
    schedule = Schedule(expression, timezone=timezone)
    runs = [next_run(schedule, _CRON_SAMPLE_FROM)]
    for _ in range(_CRON_SAMPLE_RUNS - 1):
        runs.append(next_run(schedule, runs[-1]))
    return min(int((b - a).total_seconds()) for a, b in zip(runs, runs[1:], strict=False))


def max_event_age_s(expression: str, timezone: str = "UTC") -> int:
    """How long a missed run stays worth retrying: one interval for rate() (a later run supersedes it), an hour
    for cron() but never more than its interval; always 1 min..1 day (Scheduler's bounds)."""
    if expression.startswith("rate("):
        interval = schedule_interval_s(expression)
    elif expression.startswith("cron("):
        interval = min(HOUR_S, _cron_interval_s(expression, timezone))
    else:
        interval = HOUR_S  # at(): a one-off
    return max(60, min(interval, DAY_S))


def schedule_name(prefix: str, spec: FunctionSpec, schedule: Schedule) -> str:
    """``<prefix>-<function>`` for a function's only schedule, ``<prefix>-<function>-<name>`` for named ones."""
    return f"{prefix}-{spec.name}" + (f"-{schedule.name}" if schedule.name else "")


def scheduled_functions() -> list[FunctionSpec]:
    return [spec for spec in FUNCTIONS if spec.schedules]


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
        for spec in FUNCTIONS:
            if spec.trigger == "schedule" and not spec.schedules:
                raise ValueError(f"catalogue function {spec.name!r} has trigger 'schedule' but no schedule")
        scheduled = scheduled_functions()
        # One role for the schedules: invoke exactly the functions that have schedules (unqualified ARNs, no
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
        # schedule name (<prefix>-<function>[-<name>]) -> schedule
        self.schedules: dict[str, scheduler.CfnSchedule] = {}
        for spec in scheduled:
            names = [schedule.name for schedule in spec.schedules]
            if len(set(names)) != len(names) or (len(names) > 1 and "" in names):
                raise ValueError(f"catalogue function {spec.name!r}: several schedules need distinct names")
            for schedule in spec.schedules:
                name = schedule_name(cfg.prefix, spec, schedule)
                self.schedules[name] = self._build_schedule(spec, schedule, name, functions[spec.name])
        if WARMER in functions:
            self.warm_on_deploy = triggers.Trigger(
                self,
                "WarmOnDeploy",
                handler=functions[WARMER],
                invocation_type=triggers.InvocationType.EVENT,
                execute_on_handler_change=True,
            )

    def _build_schedule(
        self, spec: FunctionSpec, schedule: Schedule, name: str, function: lambda_.Function
    ) -> scheduler.CfnSchedule:
        # The construct ids of unnamed schedules are those of one schedule per function (no replacement).
        construct_id = f"Schedule-{spec.name}" + (f"-{schedule.name}" if schedule.name else "")
        label = f" {schedule.name}" if schedule.name else ""
        return scheduler.CfnSchedule(
            self,
            construct_id,
            name=name,
            description=f"dCMMS {spec.name}{label}: {schedule.expression} ({schedule.timezone})",
            schedule_expression=schedule.expression,
            schedule_expression_timezone=schedule.timezone,
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
            state="ENABLED",
            target=scheduler.CfnSchedule.TargetProperty(
                arn=function.function_arn,
                role_arn=self.role.role_arn,
                # The event the function receives; Scheduler replaces <aws.scheduler.scheduled-time> in it.
                input=json.dumps(dict(schedule.payload), sort_keys=True) if schedule.payload is not None else None,
                retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                    maximum_retry_attempts=2,
                    maximum_event_age_in_seconds=max_event_age_s(schedule.expression, schedule.timezone),
                ),
                dead_letter_config=scheduler.CfnSchedule.DeadLetterConfigProperty(arn=self.dead_letters.queue_arn),
            ),
        )
