"""Ingest Lambda: Kinesis batch -> validate, store in PostgreSQL, dead-letter the bad records.

Reports partial batch failures by sequence number (ReportBatchItemFailures). A batch whose every
record failed is answered the same way (not with an exception), so Kinesis retries from the first
failed sequence number exactly as for a partial failure.
"""

from aws_lambda_powertools.utilities.typing import LambdaContext

from dcmms import runtime
from dcmms.config import get_settings
from dcmms.observability import logger, metrics, tracer

_pipeline = runtime.ingest_pipeline(get_settings())


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return _pipeline.handle(event)
