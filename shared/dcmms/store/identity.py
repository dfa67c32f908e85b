"""The identity stores behind the management API: the Cognito user pool (people's sign-ins, one group per
role) and API Gateway's usage plans (where each issued API key is imported so the gateway meters it).

Both take a botocore client; ``dcmms.runtime`` builds them on first use. Errors that mean "the request was
wrong" become domain errors naming the field; anything else propagates (a 500 is logged, never leaked).
"""

from __future__ import annotations

import logging
from typing import Any

from dcmms.domain.errors import Conflict, NotFound
from dcmms.domain.model import Role

from .errors import RefusedValue

log = logging.getLogger(__name__)


def _code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


class CognitoPeople:
    """People's accounts in the user pool. A person is addressed by their email (the pool's username
    attribute); ``custom:tenant_id`` is set by the admin's call, never by the person."""

    def __init__(self, client: Any, pool_id: str) -> None:
        self._idp = client
        self._pool = pool_id

    def invite(
        self, tenant_id: str, email: str, role: Role, name: str | None, temporary_password: str | None
    ) -> tuple[str, str]:
        """Create the account (Cognito emails a temporary password unless one is given) in ``role``'s group:
        (its subject, its status)."""
        attributes = [
            {"Name": "email", "Value": email},
            {"Name": "email_verified", "Value": "true"},
            {"Name": "custom:tenant_id", "Value": tenant_id},
        ]
        if name:
            attributes.append({"Name": "name", "Value": name})
        args: dict[str, Any] = {"UserPoolId": self._pool, "Username": email, "UserAttributes": attributes}
        if temporary_password:
            # handed over by the admin: no email (Cognito would send the same password)
            args.update(TemporaryPassword=temporary_password, MessageAction="SUPPRESS")
        else:
            args["DesiredDeliveryMediums"] = ["EMAIL"]
        try:
            user = self._idp.admin_create_user(**args)["User"]
        except Exception as exc:
            if _code(exc) == "UsernameExistsException":
                raise Conflict(f"'{email}' already has a dCMMS sign-in.") from None
            message = str(getattr(exc, "response", {}).get("Error", {}).get("Message", ""))
            if _code(exc) == "InvalidPasswordException":
                raise RefusedValue("temporary_password", f"refused by the password policy: {message}") from None
            if _code(exc) == "InvalidParameterException" and ("Username" in message or "email" in message):
                raise RefusedValue("email", f"not an email the user pool takes: {message}") from None
            raise
        sub = next(a["Value"] for a in user["Attributes"] if a["Name"] == "sub")
        try:
            self._idp.admin_add_user_to_group(UserPoolId=self._pool, Username=email, GroupName=role.value)
        except Exception:
            self._idp.admin_delete_user(UserPoolId=self._pool, Username=email)  # no account left without a role
            raise
        return sub, str(user.get("UserStatus", "FORCE_CHANGE_PASSWORD"))

    def status(self, email: str) -> tuple[str, bool]:
        """(Cognito's status of the account, whether it is enabled); NotFound when it is gone."""
        try:
            user = self._idp.admin_get_user(UserPoolId=self._pool, Username=email)
        except Exception as exc:
            if _code(exc) == "UserNotFoundException":
                raise NotFound(f"No sign-in for '{email}'.") from None
            raise
        return str(user.get("UserStatus", "")), bool(user.get("Enabled", True))

    def set_role(self, email: str, role: Role) -> None:
        """Into ``role``'s group, out of every other role's (in that order: never in none)."""
        self._idp.admin_add_user_to_group(UserPoolId=self._pool, Username=email, GroupName=role.value)
        groups = self._idp.admin_list_groups_for_user(UserPoolId=self._pool, Username=email)["Groups"]
        for group in groups:
            if group["GroupName"] in Role.__members__ and group["GroupName"] != role.value:
                self._idp.admin_remove_user_from_group(
                    UserPoolId=self._pool, Username=email, GroupName=group["GroupName"]
                )

    def disable(self, email: str) -> None:
        """No more sign-ins, and the refresh tokens already issued are revoked."""
        self._idp.admin_disable_user(UserPoolId=self._pool, Username=email)
        self._idp.admin_user_global_sign_out(UserPoolId=self._pool, Username=email)

    def enable(self, email: str) -> None:
        self._idp.admin_enable_user(UserPoolId=self._pool, Username=email)

    def delete(self, email: str) -> None:
        try:
            self._idp.admin_user_global_sign_out(UserPoolId=self._pool, Username=email)
            self._idp.admin_delete_user(UserPoolId=self._pool, Username=email)
        except Exception as exc:
            if _code(exc) != "UserNotFoundException":
                raise


class UsagePlanKeys:
    """API Gateway keys for the keys dCMMS issues: the request authorizer names the caller's key as the usage
    identifier, so each issued key must exist in the gateway under its tier's usage plan."""

    def __init__(self, client: Any, plan_ids: dict[str, str]) -> None:
        self._apigw = client
        self._plans = plan_ids

    def add(self, key_id: str, raw_key: str, tier: str) -> str:
        """Import the key into ``tier``'s usage plan; its gateway id."""
        created = self._apigw.create_api_key(name=key_id, value=raw_key, enabled=True, description="issued by dCMMS")
        try:
            self._apigw.create_usage_plan_key(usagePlanId=self._plans[tier], keyId=created["id"], keyType="API_KEY")
        except Exception:
            self._apigw.delete_api_key(apiKey=created["id"])
            raise
        return str(created["id"])

    def remove(self, gateway_key_id: str, tier: str) -> None:
        """Out of its tier's plan, and deleted."""
        plan = self._plans.get(tier)
        if plan is not None:
            self._ignore_missing(lambda: self._apigw.delete_usage_plan_key(usagePlanId=plan, keyId=gateway_key_id))
        self._ignore_missing(lambda: self._apigw.delete_api_key(apiKey=gateway_key_id))

    @staticmethod
    def _ignore_missing(call: Any) -> None:
        try:
            call()
        except Exception as exc:
            if _code(exc) != "NotFoundException":
                raise
