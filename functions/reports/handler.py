"""Reports Lambda: report jobs from its SQS queue (the API's requests, the schedules' runs) and the EventBridge
Scheduler runs that queue the scheduled reports (``dcmms.reports.worker``). Its layer adds the report libraries
(ReportLab, openpyxl) to the shared one."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from dcmms.config import get_settings
from dcmms.observability import logger, metrics, tracer
from dcmms.reports import worker

_settings = get_settings()


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return worker.handle(event, _settings)
