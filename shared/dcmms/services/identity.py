"""The management API: a tenant's admins invite people (Cognito accounts, one group per role), change their role,
disable, enable and delete them, and issue and revoke API keys. Every change is audited (who, with which
credential, when, to what) and drops the cached credential it affects, so it takes effect at once in this
process and in Redis, and everywhere within the caches' bound (``dcmms.cache.credentials``).

People live in two places: the user pool (their sign-in and role group: what their tokens carry) and the users
table (the tenant's directory: what the listing shows and what a token is checked against, so a disabled,
deleted or re-roled person's old tokens stop working before they expire).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol

from dcmms.domain.apikeys import new_api_key
from dcmms.domain.errors import Conflict, Forbidden, NotFound, ServiceUnavailable
from dcmms.domain.identity import (
    ApiKey,
    ApiKeyCreate,
    AuditAction,
    AuditEntry,
    IssuedKey,
    Me,
    Person,
    UserInvite,
    UserPatch,
    key_prefix,
)
from dcmms.domain.ids import new_id
from dcmms.domain.model import Principal, Role, Tier, User, utcnow
from dcmms.store.errors import RefusedValue
from dcmms.store.results import ListResult

from .common import field_error

log = logging.getLogger(__name__)


class KeyRecord(Protocol):
    @property
    def digest(self) -> str: ...
    @property
    def key(self) -> ApiKey: ...
    @property
    def tier(self) -> Tier: ...
    @property
    def gateway_key_id(self) -> str | None: ...


class Directory(Protocol):
    def tenant_tier(self, tenant_id: str) -> Tier: ...
    def tenant_name(self, tenant_id: str) -> str: ...
    def user(self, tenant_id: str, user_id: str) -> User | None: ...
    def put_user(self, user: User) -> User: ...
    def list_users(self, tenant_id: str, limit: int, cursor: str | None = None) -> ListResult[User]: ...
    def create_api_key(
        self, raw_key: str, key: ApiKey, user_id: str, tier: Tier, gateway_key_id: str | None
    ) -> None: ...
    def list_api_keys(self, tenant_id: str, limit: int, cursor: str | None = None) -> ListResult[ApiKey]: ...
    def api_key(self, tenant_id: str, key_id: str) -> KeyRecord | None: ...
    def revoke_api_key(self, digest: str, at: datetime, by: str) -> None: ...


class Audit(Protocol):
    def append(self, entry: AuditEntry) -> None: ...
    def list(self, tenant_id: str, limit: int, cursor: str | None = None) -> ListResult[AuditEntry]: ...


class People(Protocol):
    def invite(
        self, tenant_id: str, email: str, role: Role, name: str | None, temporary_password: str | None
    ) -> tuple[str, str]: ...
    def status(self, email: str) -> tuple[str, bool]: ...
    def set_role(self, email: str, role: Role) -> None: ...
    def disable(self, email: str) -> None: ...
    def enable(self, email: str) -> None: ...
    def delete(self, email: str) -> None: ...


class GatewayKeys(Protocol):
    def add(self, key_id: str, raw_key: str, tier: str) -> str: ...
    def remove(self, gateway_key_id: str, tier: str) -> None: ...


class Credentials(Protocol):
    def forget_key(self, digest: str) -> None: ...
    def forget_person(self, tenant_id: str, user_id: str) -> None: ...
    def last_used(self, tenant_id: str, key_ids: Sequence[str]) -> dict[str, datetime]: ...


def require_admin(p: Principal) -> None:
    if p.role is not Role.admin:
        raise Forbidden(f"Role '{p.role.value}' cannot manage people or API keys; an admin of the tenant can.")


class IdentityAdmin:
    def __init__(
        self,
        directory: Callable[[], Directory],
        audit: Callable[[], Audit],
        people: Callable[[], People | None],
        gateway: Callable[[], GatewayKeys | None],
        credentials: Credentials,
    ) -> None:
        self._directory, self._audit, self._people, self._gateway = directory, audit, people, gateway
        self.credentials = credentials

    # -- the caller -------------------------------------------------------------------------------------

    def me(self, p: Principal) -> Me:
        person = self._directory().user(p.tenant_id, p.user_id)
        return Me(
            tenant_id=p.tenant_id,
            tenant_name=self._directory().tenant_name(p.tenant_id),
            user_id=p.user_id,
            role=p.role,
            tier=p.tier.value,
            credential=p.credential.value,
            key_id=p.key_id,
            email=person.email if person else None,
            name=person.name if person else None,
            expires_at=p.expires_at,
        )

    # -- people -----------------------------------------------------------------------------------------

    def _pool(self) -> People:
        people = self._people()
        if people is None:
            raise ServiceUnavailable("This deployment has no user pool: people cannot be invited.")
        return people

    def invite(self, p: Principal, body: UserInvite) -> User:
        require_admin(p)
        try:
            sub, status = self._pool().invite(p.tenant_id, body.email, body.role, body.name, body.temporary_password)
        except RefusedValue as exc:
            raise field_error(exc.field, str(exc)) from None
        now = utcnow()
        user = User(
            id=sub,
            tenant_id=p.tenant_id,
            name=body.name or body.email.split("@")[0],
            email=body.email,
            role=body.role,
            status=status,
            created_at=now,
            created_by=p.user_id,
            updated_at=now,
        )
        self._directory().put_user(user)
        self._record(p, AuditAction.user_invited, "user", sub, email=body.email, role=body.role.value)
        return user

    def users(self, p: Principal, limit: int, cursor: str | None) -> ListResult[User]:
        require_admin(p)
        return self._directory().list_users(p.tenant_id, limit, cursor)

    def people(self, p: Principal, limit: int, cursor: str | None) -> ListResult[Person]:
        """The tenant's people who sign in, for anyone of the tenant (assignment pickers, names in histories): no
        status, no audit fields, and not the owners of API keys alone."""
        page = self._directory().list_users(p.tenant_id, limit, cursor)
        items = [
            Person(id=u.id, name=u.name, email=u.email, role=u.role, enabled=u.enabled)
            for u in page.items
            if u.status is not None
        ]
        return ListResult(items, page.next_cursor)

    def _user(self, p: Principal, user_id: str) -> User:
        user = self._directory().user(p.tenant_id, user_id)
        if user is None or user.deleted_at is not None:
            raise NotFound(f"No user '{user_id}'.")
        return user

    def user(self, p: Principal, user_id: str) -> User:
        """The person, with their sign-in's current status (e.g. CONFIRMED once they set their password)."""
        require_admin(p)
        user = self._user(p, user_id)
        people = self._people()
        if user.status is not None and people is not None:
            try:
                status, _ = people.status(user.email)
            except NotFound:
                status = "DELETED"
            if status != user.status:
                user = self._directory().put_user(user.model_copy(update={"status": status}))
        return user

    def update(self, p: Principal, user_id: str, patch: UserPatch) -> User:
        require_admin(p)
        user = self._user(p, user_id)
        if user_id == p.user_id and (
            patch.enabled is False or (patch.role is not None and patch.role is not Role.admin)
        ):
            raise Conflict("You cannot disable yourself or give up your own admin role; ask another admin.")
        pool = self._people() if user.status is not None else None
        changes: dict[str, Any] = {}
        if patch.role is not None and patch.role is not user.role:
            if pool is not None:
                pool.set_role(user.email, patch.role)
            changes["role"] = patch.role
            self._record(
                p, AuditAction.user_role_changed, "user", user_id, before=user.role.value, after=patch.role.value
            )
        if patch.name is not None and patch.name != user.name:
            changes["name"] = patch.name
            self._record(p, AuditAction.user_renamed, "user", user_id, before=user.name, after=patch.name)
        if patch.enabled is not None and patch.enabled is not user.enabled:
            if pool is not None:
                (pool.enable if patch.enabled else pool.disable)(user.email)
            changes["enabled"] = patch.enabled
            action = AuditAction.user_enabled if patch.enabled else AuditAction.user_disabled
            self._record(p, action, "user", user_id)
        if not changes:
            return user
        user = self._directory().put_user(user.model_copy(update={**changes, "updated_at": utcnow()}))
        self.credentials.forget_person(p.tenant_id, user_id)
        return user

    def delete(self, p: Principal, user_id: str) -> None:
        """Delete the sign-in; the record stays as a tombstone so tokens issued before are refused."""
        require_admin(p)
        user = self._user(p, user_id)
        if user_id == p.user_id:
            raise Conflict("You cannot delete yourself; ask another admin.")
        if user.status is not None:
            self._pool().delete(user.email)
        now = utcnow()
        self._directory().put_user(user.model_copy(update={"deleted_at": now, "updated_at": now, "enabled": False}))
        self.credentials.forget_person(p.tenant_id, user_id)
        self._record(p, AuditAction.user_deleted, "user", user_id, email=user.email)

    # -- API keys ---------------------------------------------------------------------------------------

    def create_key(self, p: Principal, body: ApiKeyCreate) -> IssuedKey:
        """A new key, shown once; imported into the tier's usage plan when the deployment has a gateway."""
        require_admin(p)
        now = utcnow()
        if body.expires_at is not None and body.expires_at <= now:
            raise field_error("expires_at", "must be in the future")
        directory = self._directory()
        tier = directory.tenant_tier(p.tenant_id)
        raw = new_api_key()
        key = ApiKey(
            id=new_id("key"),
            tenant_id=p.tenant_id,
            name=body.name,
            role=body.role,
            prefix=key_prefix(raw),
            created_at=now,
            created_by=p.user_id,
            expires_at=body.expires_at,
        )
        gateway = self._gateway()
        gateway_key_id = gateway.add(key.id, raw, tier.value) if gateway is not None else None
        try:
            directory.create_api_key(raw, key, key.id, tier, gateway_key_id)
        except Exception:
            if gateway is not None and gateway_key_id is not None:
                gateway.remove(gateway_key_id, tier.value)
            raise
        self._record(p, AuditAction.key_created, "api-key", key.id, name=key.name, role=key.role.value)
        return IssuedKey(**key.model_dump(), key=raw)

    def keys(self, p: Principal, limit: int, cursor: str | None) -> ListResult[ApiKey]:
        require_admin(p)
        page = self._directory().list_api_keys(p.tenant_id, limit, cursor)
        used = self.credentials.last_used(p.tenant_id, [k.id for k in page.items])
        items = [k.model_copy(update={"last_used_at": used.get(k.id)}) for k in page.items]
        return ListResult(items, page.next_cursor)

    def revoke_key(self, p: Principal, key_id: str) -> None:
        """Refuse the key from now on: marked revoked, dropped from the caches, removed from the gateway."""
        require_admin(p)
        record = self._directory().api_key(p.tenant_id, key_id)
        if record is None:
            raise NotFound(f"No API key '{key_id}'.")
        if record.key.revoked:
            return
        self._directory().revoke_api_key(record.digest, utcnow(), p.user_id)
        self.credentials.forget_key(record.digest)
        gateway = self._gateway()
        if gateway is not None and record.gateway_key_id is not None:
            try:
                gateway.remove(record.gateway_key_id, record.tier.value)
            except Exception:  # revoked already: the gateway key alone admits nothing past the authorizer
                log.exception("api key %s: its gateway key %s was not removed", key_id, record.gateway_key_id)
        self._record(p, AuditAction.key_revoked, "api-key", key_id, name=record.key.name)

    # -- audit ------------------------------------------------------------------------------------------

    def audit(self, p: Principal, limit: int, cursor: str | None) -> ListResult[AuditEntry]:
        require_admin(p)
        return self._audit().list(p.tenant_id, limit, cursor)

    def _record(self, p: Principal, action: AuditAction, target_type: str, target_id: str, **detail: Any) -> None:
        entry = AuditEntry(
            id=new_id("aud"),
            tenant_id=p.tenant_id,
            at=utcnow(),
            actor=p.user_id,
            actor_key_id=p.key_id,
            action=action,
            target_type=target_type,
            target_id=target_id,
            detail=detail,
        )
        self._audit().append(entry)
        log.info(
            "audit %s %s/%s by %s",
            action.value,
            target_type,
            target_id,
            p.user_id,
            extra={"tenant_id": p.tenant_id, "audit": entry.model_dump(mode="json")},
        )
