"""The local stack's Cognito user pool on moto's server (cognito-idp), shaped as the stacks deploy it: email
sign-in, ``custom:tenant_id`` (immutable), one group per role, an app client without a secret that allows
USER_PASSWORD_AUTH; and the demo users, one per role per tenant."""

from __future__ import annotations

import secrets
from typing import Any

from dcmms.clients import aws_client
from dcmms.config import Settings
from dcmms.domain.model import Role

POOL_NAME = "dcmms-local"
CLIENT_NAME = "dcmms-web"


def _client(settings: Settings) -> Any:
    return aws_client("cognito-idp", settings)


def create_pool(settings: Settings) -> tuple[str, str]:
    """(user pool id, app client id) of a new pool with a group per role."""
    idp = _client(settings)
    pool = idp.create_user_pool(
        PoolName=POOL_NAME,
        UsernameAttributes=["email"],
        AutoVerifiedAttributes=["email"],
        Schema=[{"Name": "tenant_id", "AttributeDataType": "String", "Mutable": False}],
        Policies={
            "PasswordPolicy": {
                "MinimumLength": 12,
                "RequireUppercase": True,
                "RequireLowercase": True,
                "RequireNumbers": True,
                "RequireSymbols": False,
            }
        },  # fmt: skip
        MfaConfiguration="OPTIONAL",
    )["UserPool"]["Id"]
    for role in Role:
        idp.create_group(UserPoolId=pool, GroupName=role.value, Description=f"dCMMS {role.value}s")
    client = idp.create_user_pool_client(
        UserPoolId=pool,
        ClientName=CLIENT_NAME,
        GenerateSecret=False,
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        ReadAttributes=["email", "custom:tenant_id"],
        WriteAttributes=["email"],  # custom:tenant_id is not the user's to change
    )["UserPoolClient"]["ClientId"]
    return pool, client


def new_password() -> str:
    return f"Dcmms-{secrets.token_urlsafe(9)}-9a"


def create_user(settings: Settings, pool_id: str, tenant_id: str, role: Role, email: str, password: str) -> None:
    idp = _client(settings)
    idp.admin_create_user(
        UserPoolId=pool_id,
        Username=email,
        UserAttributes=[
            {"Name": "email", "Value": email},
            {"Name": "email_verified", "Value": "true"},
            {"Name": "custom:tenant_id", "Value": tenant_id},
        ],  # fmt: skip
        MessageAction="SUPPRESS",
    )
    idp.admin_set_user_password(UserPoolId=pool_id, Username=email, Password=password, Permanent=True)
    idp.admin_add_user_to_group(UserPoolId=pool_id, Username=email, GroupName=role.value)


def seed_users(settings: Settings, pool_id: str, tenant_ids: list[str]) -> dict[str, dict[str, dict[str, str]]]:
    """One user per role per tenant, each with a fresh password: ``{tenant: {role: {email, password}}}``."""
    users: dict[str, dict[str, dict[str, str]]] = {}
    for tenant_id in tenant_ids:
        for role in Role:
            email, password = f"{role.value}@{tenant_id}.example.com", new_password()
            create_user(settings, pool_id, tenant_id, role, email, password)
            users.setdefault(tenant_id, {})[role.value] = {"email": email, "password": password}
    return users


def sign_in(settings: Settings, client_id: str, email: str, password: str) -> dict[str, str]:
    """The user's tokens (IdToken, AccessToken, RefreshToken), as the web app gets them."""
    reply = _client(settings).initiate_auth(
        ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH", AuthParameters={"USERNAME": email, "PASSWORD": password}
    )
    return dict(reply["AuthenticationResult"])
