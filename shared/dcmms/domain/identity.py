"""Who may call the API, as a tenant's admins manage it: the people who sign in (Cognito users, mirrored in the
users table), the API keys of integrations and devices, and the audit trail of every change to either."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from .model import Role

EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
KEY_PREFIX_CHARS = 12  # "dcmms_" + 6 characters of the secret: enough to tell keys apart, useless to guess one


class UserInvite(BaseModel):
    """Invite a person: Cognito emails them a temporary password unless one is given (to hand over in person)."""

    model_config = ConfigDict(extra="forbid")

    email: str = Field(pattern=EMAIL_PATTERN, max_length=254, description="Their sign-in (and where the invite goes).")
    role: Role
    name: str | None = Field(default=None, min_length=1, max_length=200)
    temporary_password: str | None = Field(
        default=None,
        min_length=12,
        max_length=256,
        description="Optional: set the first password yourself (changed at first sign-in); never shown again.",
        json_schema_extra={"writeOnly": True},
    )


class UserPatch(BaseModel):
    """Change a person's role, name, or whether they may sign in (``enabled``)."""

    model_config = ConfigDict(extra="forbid")

    role: Role | None = None
    name: str | None = Field(default=None, min_length=1, max_length=200)
    enabled: bool | None = None


class Person(BaseModel):
    """A colleague as everyone of the tenant sees them: to assign work and to name who did what."""

    id: str
    name: str
    email: str
    role: Role
    enabled: bool


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, description="What the key is for (an integration, a device).")
    role: Role
    expires_at: AwareDatetime | None = Field(default=None, description="Refused from this moment on (optional).")


class ApiKey(BaseModel):
    """An API key as its tenant sees it: never the secret, never its hash."""

    id: str
    tenant_id: str
    name: str
    role: Role
    prefix: str = Field(description="The first characters of the key, to tell keys apart.")
    created_at: datetime
    created_by: str | None = None
    expires_at: datetime | None = None
    last_used_at: datetime | None = Field(default=None, description="Within about 30 s.")
    revoked: bool = False
    revoked_at: datetime | None = None
    revoked_by: str | None = None


class IssuedKey(ApiKey):
    """The answer to creating a key: the only time the secret is shown."""

    key: str = Field(description="The secret: send it as x-api-key. Shown this once; store it now.")


class Me(BaseModel):
    """The caller, as the API sees them."""

    tenant_id: str
    tenant_name: str
    user_id: str
    role: Role
    tier: str
    credential: str = Field(description="api-key (x-api-key) or token (a signed-in person's Bearer token).")
    key_id: str = Field(description="What rate limits count against: the key's id, or user:<sub> for a person.")
    email: str | None = None
    name: str | None = None
    expires_at: datetime | None = Field(default=None, description="An API key's expiry.")


class AuditAction(StrEnum):
    user_invited = "user.invited"
    user_role_changed = "user.role-changed"
    user_renamed = "user.renamed"
    user_disabled = "user.disabled"
    user_enabled = "user.enabled"
    user_deleted = "user.deleted"
    key_created = "api-key.created"
    key_revoked = "api-key.revoked"


class AuditEntry(BaseModel):
    """One change to who may call the API: who did it (user and credential), when, to what."""

    id: str
    tenant_id: str
    at: datetime
    actor: str = Field(description="The user id (a person's Cognito subject, or an API key's owner).")
    actor_key_id: str = Field(description="The credential used: an API key's id, or user:<sub> for a person.")
    action: AuditAction
    target_type: str
    target_id: str
    detail: dict[str, Any] = Field(default_factory=dict)


def key_prefix(raw_key: str) -> str:
    return raw_key[:KEY_PREFIX_CHARS]
