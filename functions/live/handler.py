"""Live-updates Lambda: API Gateway WebSocket API ($connect, $disconnect, $default) -> dcmms.live.sockets.

Routed by ``event["requestContext"]["routeKey"]``; events without a request context are frames relayed by the
functions inside the VPC (``{"dcmms_live": "deliver", ...}``), which this function posts to their connections. The
event is never logged: a ``$connect`` carries the person's token in its query string.
"""

from aws_lambda_powertools.utilities.typing import LambdaContext

from dcmms import runtime
from dcmms.config import get_settings
from dcmms.observability import logger, metrics, tracer

# Built once per execution environment: the token verifier's keys and caches, the @connections client.
_live = runtime.live_sockets(get_settings())


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId", log_event=False)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    if "requestContext" not in event and event.get("dcmms_live") == "deliver":  # API Gateway's events all have one
        return _live.deliver(event)
    route = event["requestContext"]["routeKey"]
    if route == "$connect":
        return _live.connect(event)
    if route == "$disconnect":
        return _live.disconnect(event)
    return _live.message(event)  # $default: subscribe, unsubscribe, ping
