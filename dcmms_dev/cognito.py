"""The local stack's Cognito user pool on moto's server (cognito-idp), shaped as the stacks deploy it: email
sign-in, ``custom:tenant_id`` (immutable), one group per role, an app client without a secret that allows
USER_PASSWORD_AUTH; and the demo users, one per role per tenant."""

from __future__ import annotations

import secrets
from typing import Any

from dcmms.clients import aws_client
from dcmms.config import Settings
from dcmms.domain.model import Role, User, utcnow

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


def create_user(settings: Settings, pool_id: str, tenant_id: str, role: Role, email: str, password: str) -> str:
    """A confirmed user in ``role``'s group: their subject."""
    idp = _client(settings)
    created = idp.admin_create_user(
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
    return str(next(a["Value"] for a in created["User"]["Attributes"] if a["Name"] == "sub"))


def seed_users(settings: Settings, pool_id: str, tenant_ids: list[str]) -> dict[str, dict[str, dict[str, str]]]:
    """One user per role per tenant, each with a fresh password, recorded in the tenant's directory as the
    management API records the people it invites: ``{tenant: {role: {email, password}}}``."""
    from dcmms.store.repositories import DirectoryRepository

    directory = DirectoryRepository()
    users: dict[str, dict[str, dict[str, str]]] = {}
    for tenant_id in tenant_ids:
        for role in Role:
            email, password = f"{role.value}@{tenant_id}.example.com", new_password()
            sub = create_user(settings, pool_id, tenant_id, role, email, password)
            now = utcnow()
            name = f"Demo {role.value}"
            directory.put_user(
                User(id=sub, tenant_id=tenant_id, name=name, email=email, role=role, status="CONFIRMED", created_at=now)
            )
            users.setdefault(tenant_id, {})[role.value] = {"email": email, "password": password}
    return users


def sign_in(settings: Settings, client_id: str, email: str, password: str) -> dict[str, str]:
    """The user's tokens (IdToken, AccessToken, RefreshToken), as the web app gets them."""
    reply = _client(settings).initiate_auth(
        ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH", AuthParameters={"USERNAME": email, "PASSWORD": password}
    )
    return dict(reply["AuthenticationResult"])


def first_sign_in(settings: Settings, client_id: str, email: str, temporary: str, password: str) -> dict[str, str]:
    """An invited person's first sign-in: the temporary password, then the NEW_PASSWORD_REQUIRED challenge
    answered with their own; their tokens."""
    idp = _client(settings)
    reply = idp.initiate_auth(
        ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH", AuthParameters={"USERNAME": email, "PASSWORD": temporary}
    )
    if reply.get("ChallengeName") == "NEW_PASSWORD_REQUIRED":
        reply = idp.respond_to_auth_challenge(
            ClientId=client_id,
            ChallengeName="NEW_PASSWORD_REQUIRED",
            Session=reply["Session"],
            ChallengeResponses={"USERNAME": email, "NEW_PASSWORD": password},
        )
    return dict(reply["AuthenticationResult"])
