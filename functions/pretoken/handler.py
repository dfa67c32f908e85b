"""Pre-token-generation Lambda: Cognito user pool trigger (event V2_0) -> dcmms.gateway.pretoken."""

import os

from dcmms.gateway.pretoken import customize, provider_tenants

# The environment's identity providers and their tenants (cdk.json cognito.identity_providers), set by the stacks.
_PROVIDERS = provider_tenants(os.environ.get("DCMMS_IDENTITY_PROVIDER_TENANTS"))


def lambda_handler(event: dict, context: object) -> dict:
    return customize(event, _PROVIDERS)
