"""API Lambda: API Gateway (REST) -> Mangum -> the dcmms FastAPI app."""

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from mangum import Mangum
from mangum.adapter import DEFAULT_TEXT_MIME_TYPES

from dcmms import snapstart
from dcmms.api.app import create_app
from dcmms.config import get_settings
from dcmms.observability import logger, metrics, publish_cache_counts, tracer

# Built once per execution environment; clients inside are created lazily on first use, or before the
# snapshot when Lambda initializes this function for SnapStart.
app = create_app()
snapstart.install(get_settings())
# problem+json is text: without it Mangum would base64-encode every error body.
_asgi = Mangum(
    app,
    lifespan="off",
    api_gateway_base_path="/",
    text_mime_types=[*DEFAULT_TEXT_MIME_TYPES, "application/problem+json"],
)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    response = _asgi(event, context)
    cache = app.state.maintenance.cache
    if cache is not None:
        publish_cache_counts(cache.stats.drain())
    return response
