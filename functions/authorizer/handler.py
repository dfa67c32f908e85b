"""Request-authorizer Lambda: API Gateway (REST, REQUEST authorizer, key source AUTHORIZER) -> dcmms.gateway."""

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from dcmms.config import get_settings
from dcmms.gateway.authorizer import authorizer
from dcmms.observability import logger

# Built once per execution environment: its caches (keys, tokens, the people usage keys) are what keep a warm
# authorizer off the network.
_authorizer = authorizer(get_settings())


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return _authorizer.decide(event)
