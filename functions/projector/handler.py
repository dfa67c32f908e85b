"""Projector Lambda: DynamoDB Streams batch (sites, assets, work orders, alerts) -> the PostgreSQL read model.

Reports partial batch failures by sequence number (records it cannot read); a database error raises, so
the event-source mapping bisects and retries the batch.
"""

from aws_lambda_powertools.utilities.typing import LambdaContext

from dcmms import runtime
from dcmms.config import get_settings
from dcmms.observability import logger, metrics, tracer

_projector = runtime.projector(get_settings())


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return _projector.handle(event)
