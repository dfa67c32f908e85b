"""Monitoring: the spec's §9.3 alerts as CloudWatch alarms, what serverless adds, and one dashboard.

Spec rules and their equivalents here:
- HighAPILatency (p95 > 1 s for 5 min)      -> API Gateway Latency p95, five 1-minute periods
- HighErrorRate (5xx > 5 % for 5 min)        -> API Gateway 5XXError average (the 5xx share), five minutes
- CacheHitRateLow (< 80 % for 10 min)        -> CacheHits / (CacheHits + CacheMisses), the app's EMF metrics
- HighMemoryUsage (> 90 % for 5 min)         -> Lambda Insights memory_utilization (when enabled) and Redis
                                                DatabaseMemoryUsagePercentage
- DatabaseReplicationLag                     -> AWS/RDS ReplicaLag per read replica, above the lag past which
                                                readmodel.router passes it over (1 s; analytics 5 s), 3 minutes
Serverless additions: Lambda errors (not the request authorizer's: its errors are refused credentials)
and throttles per function, ingest and projector iterator age, dead-letter
depth (event-source, schedule and job queues), the age of the oldest job waiting (reports), refused records, the read model's projection lag and failed
records, DynamoDB throttles per table, Kinesis write throttles.
Every alarm notifies one SNS topic (KMS-encrypted, TLS-only).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from cdk.api import Api
from cdk.config import DeploymentConfig
from cdk.data import DataRefs
from dcmms.catalogue import by_name

APP_NAMESPACE = "dCMMS"  # dcmms.observability: Metrics(namespace="dCMMS", service="dcmms")
APP_DIMENSIONS = {"service": "dcmms"}
MINUTE = Duration.minutes(1)
FIVE_MINUTES = Duration.minutes(5)
# A job (a report) waiting longer than this is behind: the schedules enqueue every 15 minutes, so a queue that
# has not drained by the next run is not keeping up (or its consumer is failing without reporting it).
JOB_QUEUE_MAX_AGE_S = 900


@dataclass(frozen=True)
class Sources:
    """What the alarms watch, gathered from the other constructs."""

    data: DataRefs
    api: Api
    functions: dict[str, lambda_.Function]
    ingest_function: str
    dead_letter_queues: dict[str, sqs.IQueue]
    projector_function: str | None = None
    # Job queues (cdk/queues.py) by name: alarmed when their oldest message waits too long.
    job_queues: dict[str, sqs.IQueue] = field(default_factory=dict)


def app_metric(name: str, statistic: str = "Sum", period: Duration = FIVE_MINUTES) -> cw.Metric:
    return cw.Metric(
        namespace=APP_NAMESPACE, metric_name=name, dimensions_map=APP_DIMENSIONS, statistic=statistic, period=period
    )


class Monitoring(Construct):
    def __init__(self, scope: Construct, id: str, *, cfg: DeploymentConfig, sources: Sources) -> None:
        super().__init__(scope, id)
        self.cfg, self.src = cfg, sources
        self.topic = self._build_topic()
        self.alarms: dict[str, cw.Alarm] = {}
        self._api_alarms()
        self._cache_alarms()
        self._function_alarms()
        self._stream_alarms()
        self._projection_alarms()
        self._job_queue_alarms()
        self._replica_alarms()
        self._table_alarms()
        self.dashboard = self._build_dashboard()

    # -- plumbing ------------------------------------------------------------------------------------

    def _build_topic(self) -> sns.Topic:
        key = kms.Key(self, "AlarmsKey", description="dCMMS alarm topic", enable_key_rotation=True)
        # CloudWatch publishes to the encrypted topic, so it needs the key too.
        key.add_to_resource_policy(
            iam.PolicyStatement(
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                resources=["*"],
            )
        )
        topic = sns.Topic(self, "Alarms", topic_name=f"{self.cfg.prefix}-alarms", master_key=key, enforce_ssl=True)
        for email in self.cfg.monitoring.alarm_emails:
            topic.add_subscription(subscriptions.EmailSubscription(email))
        return topic

    def _alarm(
        self,
        name: str,
        metric: cw.IMetric,
        threshold: float,
        *,
        periods: int = 1,
        comparison: cw.ComparisonOperator = cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
        description: str,
    ) -> cw.Alarm:
        alarm = cw.Alarm(
            self,
            name,
            alarm_name=f"{self.cfg.prefix}-{name}",
            alarm_description=description,
            metric=metric,
            threshold=threshold,
            evaluation_periods=periods,
            datapoints_to_alarm=periods,
            comparison_operator=comparison,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(cw_actions.SnsAction(self.topic))
        alarm.add_ok_action(cw_actions.SnsAction(self.topic))
        self.alarms[name] = alarm
        return alarm

    # -- alarms --------------------------------------------------------------------------------------

    def _api_alarms(self) -> None:
        m = self.cfg.monitoring
        api = self.src.api.rest_api
        self._alarm(
            "api-p95-latency",
            api.metric_latency(statistic="p95", period=MINUTE),
            m.api_p95_latency_ms,
            periods=5,
            description=f"HighAPILatency: API p95 latency above {m.api_p95_latency_ms} ms for 5 minutes",
        )
        self._alarm(
            "api-5xx-rate",
            api.metric_server_error(statistic="Average", period=MINUTE),
            m.api_5xx_rate,
            periods=5,
            description=f"HighErrorRate: more than {m.api_5xx_rate:.0%} of API responses are 5xx for 5 minutes",
        )

    def cache_hit_rate(self) -> cw.MathExpression:
        return cw.MathExpression(
            expression="IF((h + m) > 0, h / (h + m), 1)",
            using_metrics={"h": app_metric("CacheHits"), "m": app_metric("CacheMisses")},
            label="cache hit rate",
            period=FIVE_MINUTES,
        )

    def _cache_alarms(self) -> None:
        m = self.cfg.monitoring
        self._alarm(
            "cache-hit-rate",
            self.cache_hit_rate(),
            m.cache_hit_rate,
            periods=2,
            comparison=cw.ComparisonOperator.LESS_THAN_THRESHOLD,
            description=f"CacheHitRateLow: Redis cache hit rate below {m.cache_hit_rate:.0%} for 10 minutes",
        )
        nodes = self.src.data.redis_node_ids
        memory = {
            f"n{i}": cw.Metric(
                namespace="AWS/ElastiCache",
                metric_name="DatabaseMemoryUsagePercentage",
                dimensions_map={"CacheClusterId": node},
                statistic="Maximum",
                period=MINUTE,
            )
            for i, node in enumerate(nodes[:10])  # metric math takes at most 10 metrics per alarm
        }
        self._alarm(
            "redis-memory",
            cw.MathExpression(expression=f"MAX([{', '.join(memory)}])", using_metrics=memory, period=MINUTE),
            m.memory_utilization * 100,
            periods=5,
            description=f"HighMemoryUsage: a Redis node above {m.memory_utilization:.0%} memory for 5 minutes",
        )

    def _function_alarms(self) -> None:
        m = self.cfg.monitoring
        for name, fn in self.src.functions.items():
            # The request authorizer refuses a credential by failing (Exception("Unauthorized") is how API Gateway
            # is told to answer 401), so its Errors count refusals, which callers cause: its real failures are
            # API Gateway's AUTHORIZER_FAILURE 5xx, in the API's 5xx-rate alarm.
            if by_name(name).trigger != "authorizer":
                self._alarm(
                    f"{name}-errors",
                    fn.metric_errors(statistic="Sum", period=FIVE_MINUTES),
                    0,
                    description=f"The {name} function failed invocations (errors or timeouts) in 5 minutes",
                )
            self._alarm(
                f"{name}-throttles",
                fn.metric_throttles(statistic="Sum", period=FIVE_MINUTES),
                0,
                description=f"The {name} function was throttled (reserved concurrency exhausted)",
            )
            if m.lambda_insights:
                self._alarm(
                    f"{name}-memory",
                    cw.Metric(
                        namespace="LambdaInsights",
                        metric_name="memory_utilization",
                        dimensions_map={"function_name": fn.function_name},
                        statistic="Maximum",
                        period=MINUTE,
                    ),
                    m.memory_utilization * 100,
                    periods=5,
                    description=f"HighMemoryUsage: the {name} function above {m.memory_utilization:.0%} memory",
                )

    def _stream_alarms(self) -> None:
        m = self.cfg.monitoring
        ingest = self.src.functions[self.src.ingest_function]
        self._alarm(
            "ingest-iterator-age",
            ingest.metric("IteratorAge", statistic="Maximum", period=MINUTE),
            m.iterator_age_ms,
            periods=5,
            description=f"The ingest function is more than {m.iterator_age_ms / 1000:g} s behind the stream",
        )
        for name, queue in self.src.dead_letter_queues.items():
            self._alarm(
                f"{name}-dead-letters",
                queue.metric_approximate_number_of_messages_visible(statistic="Maximum", period=MINUTE),
                0,
                description=f"{name}: something was given up on and is waiting in its dead-letter queue",
            )
        self._alarm(
            "ingest-refused-records",
            app_metric("IngestDeadLettered"),
            0,
            description="Telemetry records were refused and written to the dead-letter bucket (dcmms dlq list)",
        )
        self._alarm(
            "stream-write-throttles",
            self.src.data.stream.metric_write_provisioned_throughput_exceeded(statistic="Sum", period=FIVE_MINUTES),
            0,
            description="Producers were throttled by the telemetry stream: add shards",
        )

    def _projection_alarms(self) -> None:
        """The read model's staleness (ProjectionLag: now minus the oldest record of a batch) and the stream
        side of it (the projector's IteratorAge), both sustained for 5 minutes; records the projector could
        not read (reported failed, redelivered, then on the on-failure queue)."""
        name = self.src.projector_function
        if name is None:
            return
        m = self.cfg.monitoring
        self._alarm(
            "projection-lag",
            app_metric("ProjectionLag", "Maximum", MINUTE),
            m.projection_lag_ms,
            periods=5,
            description=f"The read model is more than {m.projection_lag_ms / 1000:g} s behind the tables for 5 minutes",
        )
        self._alarm(
            f"{name}-iterator-age",
            self.src.functions[name].metric("IteratorAge", statistic="Maximum", period=MINUTE),
            m.projection_lag_ms,
            periods=5,
            description=f"The {name} function is more than {m.projection_lag_ms / 1000:g} s behind the table streams",
        )
        self._alarm(
            "projection-failed-records",
            app_metric("ProjectionFailedRecords"),
            0,
            description="The projector reported stream records it could not project (redelivered, then dead-lettered)",
        )

    def _job_queue_alarms(self) -> None:
        """Each job queue's oldest message older than 15 minutes (its dead-letter queue is alarmed with the others'
        in ``_stream_alarms``)."""
        for name, queue in self.src.job_queues.items():
            self._alarm(
                f"{name}-queue-age",
                queue.metric_approximate_age_of_oldest_message(statistic="Maximum", period=MINUTE),
                JOB_QUEUE_MAX_AGE_S,
                description=(
                    f"The oldest {name} job has waited more than {JOB_QUEUE_MAX_AGE_S // 60} minutes in its queue: "
                    "the consumer is not keeping up or not running"
                ),
            )

    def replica_lag(self, identifier: str) -> cw.Metric:
        return cw.Metric(
            namespace="AWS/RDS",
            metric_name="ReplicaLag",
            dimensions_map={"DBInstanceIdentifier": identifier},
            statistic="Maximum",
            period=MINUTE,
        )

    def replica_bounds(self) -> dict[str, float]:
        """Each deployed replica's identifier and the lag (s) past which the router stops using it."""
        m, names = self.cfg.monitoring, self.src.data.names
        if self.src.data.database_instance is None:
            return {}
        bounds = {identifier: m.replica_lag_s for identifier in names.database_replicas}
        if names.database_analytics:
            bounds[names.database_analytics] = m.analytics_replica_lag_s
        return bounds

    def _replica_alarms(self) -> None:
        for identifier, bound in self.replica_bounds().items():
            short = identifier.removeprefix(f"{self.cfg.prefix}-telemetry-")
            self._alarm(
                f"db-{short}-lag",
                self.replica_lag(identifier),
                bound,
                periods=3,
                description=(
                    f"DatabaseReplicationLag: {identifier} more than {bound:g} s behind the primary for 3 minutes "
                    "(readmodel.router sends its queries elsewhere meanwhile)"
                ),
            )

    def _table_alarms(self) -> None:
        for name, table in self.src.data.tables.items():
            throttles = cw.MathExpression(
                expression="FILL(r, 0) + FILL(w, 0)",
                using_metrics={
                    "r": table.metric("ReadThrottleEvents", statistic="Sum", period=FIVE_MINUTES),
                    "w": table.metric("WriteThrottleEvents", statistic="Sum", period=FIVE_MINUTES),
                },
                period=FIVE_MINUTES,
            )
            self._alarm(f"table-{name}-throttles", throttles, 0, description=f"DynamoDB throttled requests on {name}")

    # -- dashboard: the spec's five dashboards as five sections ----------------------------------------

    def _read_model_widgets(self, graph: Callable[[str, list[cw.IMetric]], cw.GraphWidget]) -> list[cw.IWidget]:
        """Replication lag per replica, the projection lag, and where read-model queries went."""
        m = self.cfg.monitoring
        widgets: list[cw.IWidget] = []
        bounds = self.replica_bounds()
        if bounds:
            widgets.append(
                cw.GraphWidget(
                    title="Replica lag (s)",
                    left=[self.replica_lag(identifier).with_(label=identifier) for identifier in bounds],
                    left_annotations=[
                        cw.HorizontalAnnotation(value=v, label=f"router bound {v:g} s")
                        for v in sorted(set(bounds.values()))
                    ],
                    width=8,
                    height=6,
                )
            )
        else:
            widgets.append(
                cw.TextWidget(
                    markdown="Replication lag: no read replicas are deployed (reads use the primary).",
                    width=8,
                    height=6,
                )
            )
        if self.src.projector_function is not None:
            widgets.append(
                cw.GraphWidget(
                    title="Projection lag (ms) and records",
                    left=[app_metric("ProjectionLag", "Maximum", MINUTE)],
                    left_annotations=[cw.HorizontalAnnotation(value=m.projection_lag_ms, label="alarm")],
                    right=[
                        app_metric("ProjectedRecords", period=MINUTE),
                        app_metric("ProjectionFailedRecords", period=MINUTE),
                    ],
                    width=8,
                    height=6,
                )
            )
        widgets.append(
            graph(
                "Read-model routing (queries)",
                [
                    cw.Metric(
                        namespace=APP_NAMESPACE,
                        metric_name="DatabaseRoute",
                        dimensions_map={**APP_DIMENSIONS, "outcome": outcome},
                        statistic="Sum",
                        period=FIVE_MINUTES,
                        label=outcome,
                    )
                    for outcome in ("chosen", "down", "lagging", "fallback")
                ],
            )
        )
        return widgets

    def _build_dashboard(self) -> cw.Dashboard:
        api = self.src.api.rest_api
        data = self.src.data
        fns = self.src.functions
        board = cw.Dashboard(
            self,
            "Dashboard",
            dashboard_name=f"{self.cfg.prefix}-{Stack.of(self).region}",
            default_interval=Duration.hours(3),
        )
        width = 8

        def graph(title: str, metrics: list[cw.IMetric], right: list[cw.IMetric] | None = None) -> cw.GraphWidget:
            return cw.GraphWidget(title=title, left=metrics, right=right or [], width=width, height=6)

        board.add_widgets(cw.TextWidget(markdown="## API performance: latency, throughput, errors", width=24, height=1))
        board.add_widgets(
            graph(
                "API latency (ms)",
                [api.metric_latency(statistic=s, period=MINUTE, label=s) for s in ("p50", "p95", "p99")],
            ),
            graph("Requests / minute", [api.metric_count(statistic="Sum", period=MINUTE)]),
            graph(
                "Errors (share of requests)",
                [
                    api.metric_client_error(statistic="Average", period=MINUTE, label="4xx"),
                    api.metric_server_error(statistic="Average", period=MINUTE, label="5xx"),
                ],
            ),
        )
        board.add_widgets(
            cw.TextWidget(markdown="## Database performance: query latency, connections", width=24, height=1)
        )
        dynamo_latency = [
            table.metric_successful_request_latency(
                dimensions_map={"TableName": table.table_name, "Operation": op},
                statistic="Average",
                label=f"{name} {op}",
            )
            for name, table in data.tables.items()
            if name in ("work-orders", "assets", "sites")
            for op in ("GetItem", "Query")
        ]
        db_widgets: list[cw.IWidget] = [graph("DynamoDB latency (ms)", dynamo_latency)]
        if data.database_instance is not None:

            def rds(metric: str) -> cw.Metric:
                return cw.Metric(
                    namespace="AWS/RDS",
                    metric_name=metric,
                    dimensions_map={"DBInstanceIdentifier": data.database_instance},
                    statistic="Average",
                )

            db_widgets.append(graph("PostgreSQL latency (s)", [rds("ReadLatency"), rds("WriteLatency")]))
            db_widgets.append(
                graph("PostgreSQL connections and CPU", [rds("DatabaseConnections")], right=[rds("CPUUtilization")])
            )
        board.add_widgets(*db_widgets)
        board.add_widgets(*self._read_model_widgets(graph))
        board.add_widgets(
            cw.TextWidget(markdown="## Cache performance: hit rate, evictions, memory", width=24, height=1)
        )

        def redis(metric: str, stat: str = "Maximum") -> list[cw.IMetric]:
            return [
                cw.Metric(
                    namespace="AWS/ElastiCache",
                    metric_name=metric,
                    dimensions_map={"CacheClusterId": node},
                    statistic=stat,
                    label=node,
                )
                for node in data.redis_node_ids
            ]

        board.add_widgets(
            graph("Cache hit rate", [self.cache_hit_rate()]),
            graph("Redis evictions", redis("Evictions", "Sum")),
            graph("Redis memory (%)", redis("DatabaseMemoryUsagePercentage")),
        )
        board.add_widgets(cw.TextWidget(markdown="## Infrastructure: compute, memory, stream", width=24, height=1))
        board.add_widgets(
            graph(
                "Concurrent executions",
                [fn.metric("ConcurrentExecutions", statistic="Maximum", label=n) for n, fn in fns.items()],
            ),
            graph("Duration p95 (ms)", [fn.metric_duration(statistic="p95", label=n) for n, fn in fns.items()]),
            graph(
                "Telemetry stream",
                [data.stream.metric_incoming_records(statistic="Sum")],
                right=[fns[self.src.ingest_function].metric("IteratorAge", statistic="Maximum", label="iterator age")],
            ),
        )
        if self.src.job_queues:
            board.add_widgets(
                graph(
                    "Job queues: waiting messages",
                    [
                        q.metric_approximate_number_of_messages_visible(statistic="Maximum", label=n)
                        for n, q in self.src.job_queues.items()
                    ],
                    right=[
                        q.metric_approximate_age_of_oldest_message(statistic="Maximum", label=f"{n} oldest (s)")
                        for n, q in self.src.job_queues.items()
                    ],
                )
            )
        if self.cfg.monitoring.lambda_insights:
            board.add_widgets(
                graph(
                    "Function memory (%)",
                    [
                        cw.Metric(
                            namespace="LambdaInsights",
                            metric_name="memory_utilization",
                            dimensions_map={"function_name": fn.function_name},
                            statistic="Maximum",
                            label=n,
                        )
                        for n, fn in fns.items()
                    ],
                )
            )
        board.add_widgets(cw.TextWidget(markdown="## Business metrics: telemetry, alerts, work", width=24, height=1))
        board.add_widgets(
            graph("Telemetry ingested", [app_metric("IngestEvents"), app_metric("IngestRecords")]),
            graph(
                "Alerts raised / resolved by rules",
                [app_metric("AlertsRaised"), app_metric("AlertsResolved")],
            ),
            graph(
                "Refused records and rate-limit refusals",
                [app_metric("IngestDeadLettered"), app_metric("RateLimitRefused")],
            ),
        )
        return board
