"""PM Lambda (every 15 minutes): generates the preventive work that schedules make due, once per occurrence
(``services.pm``; ``runtime.run_pm`` walks the tenants)."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from dcmms import runtime
from dcmms.config import get_settings
from dcmms.observability import logger, metrics, tracer

_settings = get_settings()


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    counts = runtime.run_pm(_settings)
    logger.info("pm run", extra={"pm": counts})
    return counts
