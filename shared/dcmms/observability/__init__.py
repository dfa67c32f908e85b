"""One Logger, Tracer and Metrics per execution environment, shared by every handler and module."""

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = "dcmms"

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(namespace="dCMMS", service=SERVICE)

__all__ = ["logger", "metrics", "tracer", "SERVICE"]
