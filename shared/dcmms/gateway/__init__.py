"""What stands in front of the API: API Gateway's request authorizer (``authorizer``) and the user pool's
pre-token-generation trigger (``pretoken``). The Lambda handlers in ``functions/`` are thin wrappers of these."""
