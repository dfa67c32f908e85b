"""Ingest Lambda: Kinesis batch -> validate, store in PostgreSQL, dead-letter the bad records.

Reports partial batch failures by sequence number (ReportBatchItemFailures), through Powertools.
"""

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.kinesis_stream_event import KinesisStreamRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from dcmms import clients, runtime
from dcmms.config import get_settings
from dcmms.observability import logger, metrics, tracer
from dcmms.telemetry.alerting import RuleEvaluator
from dcmms.telemetry.ingest import (
    CachedAssetLookup,
    S3DeadLetters,
    ingest_batch,
    records_from_event,
)
from dcmms.telemetry.pgstore import TelemetryStore
from dcmms.telemetry.records import AssetRef
from dcmms.telemetry.timestream import TimestreamSink

_settings = get_settings()
clients.configure_dynamodb(_settings)
_store = TelemetryStore(_settings.database_url)
_dead_letters = S3DeadLetters(clients.aws_client("s3", _settings), _settings.dead_letter_bucket)
# A batch whose every record failed is still answered with batchItemFailures (not an exception), so
# Kinesis retries from the first failed sequence number exactly as for a partial failure.
_timestream = (
    TimestreamSink(
        clients.aws_client("timestream-write", _settings), _settings.timestream_database, _settings.timestream_table
    )
    if _settings.timestream_database
    else None
)
_evaluator = RuleEvaluator(runtime.maintenance(_settings).alerts, runtime.resilient_redis(_settings))
_processor = BatchProcessor(event_type=EventType.KinesisDataStreams, raise_on_entire_batch_failure=False)


def _locate(tenant_id: str, asset_id: str) -> AssetRef | None:
    from dcmms.domain.model import AssetType
    from dcmms.store.repositories import AssetRepository

    found = AssetRepository().locate(tenant_id, asset_id)
    return AssetRef(found[0], AssetType(found[1])) if found else None


_lookup = CachedAssetLookup(_locate)


class RecordFailed(Exception):
    """Raised for a record the batch could not store, so Powertools reports its sequence number."""


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    outcome = ingest_batch(
        records_from_event(event), _lookup, _store, _dead_letters, evaluator=_evaluator, timestream=_timestream
    )
    failed = set(outcome.failed)

    def record_handler(record: KinesisStreamRecord) -> None:
        if record.kinesis.sequence_number in failed:
            raise RecordFailed(record.kinesis.sequence_number)

    return process_partial_response(event=event, record_handler=record_handler, processor=_processor, context=context)
