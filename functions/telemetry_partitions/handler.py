"""Telemetry partitions Lambda (daily schedule): partitions ahead of time, then retention; and the read model's
schema, so that a new index ships with the next run even before the projector's next cold start."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from dcmms import runtime
from dcmms.cache import LockNotAcquired, RedisLock, keys
from dcmms.config import get_settings
from dcmms.observability import logger, metrics, tracer

_settings = get_settings()
_store = runtime.telemetry_store(_settings)


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    lock = RedisLock(runtime.resilient_redis(_settings).client, keys.job_lock("telemetry-partitions"), 15 * 60_000)
    try:
        with lock:
            _store.migrate(days_ahead=3)
            runtime.migrate_read_model(_settings)
            dropped = _store.apply_retention()
    except LockNotAcquired:
        return {"ran": False}
    logger.info("telemetry maintenance done", extra={"dropped_partitions": dropped})
    return {"ran": True, "dropped_partitions": dropped}
