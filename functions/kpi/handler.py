"""KPI Lambda (every 5 minutes): refreshes the read model's materialized dashboard KPIs, one refresh at a
time across concurrent invocations (``readmodel.kpis``)."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from dcmms import runtime
from dcmms.config import get_settings
from dcmms.observability import logger, metrics, tracer

_settings = get_settings()


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    outcome = runtime.refresh_kpis(_settings)
    as_of = outcome.as_of.isoformat() if outcome.as_of else None
    logger.info(
        "kpi refresh", extra={"refreshed": outcome.refreshed, "seconds": round(outcome.seconds, 3), "as_of": as_of}
    )
    return {"refreshed": outcome.refreshed, "seconds": round(outcome.seconds, 3), "as_of": as_of}
