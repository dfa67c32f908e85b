"""Cache-warmer Lambda: EventBridge schedule (and the deploy-time trigger) -> dcmms warming."""

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from dcmms import runtime
from dcmms.config import get_settings
from dcmms.observability import logger, metrics, tracer
from dcmms.services.warming import warm_caches

_settings = get_settings()
_maintenance = runtime.maintenance(_settings)


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    report = warm_caches(_maintenance, runtime.store_repositories(_settings).directory.tenant_ids())
    logger.info("cache warmed", extra=report.as_dict())
    for name in ("sites", "kpis", "work_orders"):
        metrics.add_metric(name=f"Warmed_{name}", unit=MetricUnit.Count, value=getattr(report, name))
    return report.as_dict()
