"""The service name and the CloudWatch namespace every figure and log line carries."""

SERVICE = "dcmms"
NAMESPACE = "dCMMS"
