"""Alerts and the rules that raise them: alerts raised by people or monitoring systems (acknowledged, then
resolved), alert rules (fleet configuration), and the alerts and work orders rules raise on ingested
telemetry (telemetry/alerting.py decides when; this module writes them, each exactly once)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol

from dcmms.cache import Doc
from dcmms.domain import commands as cmd
from dcmms.domain.errors import Conflict, NotFound
from dcmms.domain.ids import new_id
from dcmms.domain.model import (
    TERMINAL_ALERT,
    Alert,
    AlertStatus,
    Principal,
    WorkOrder,
    WorkOrderStatus,
    WorkOrderType,
    utcnow,
)
from dcmms.domain.rules import PRIORITY_FOR_SEVERITY, AlertRule
from dcmms.store.errors import AlreadyExists

from .common import (
    ALERT,
    ASSET,
    RULE,
    WORK_ORDER,
    Service,
    new_entity,
    read_all,
    require_fleet,
    require_write,
    revalidate,
    system_principal,
)

RULES_ACTOR = "system:rules"
log = logging.getLogger(__name__)


class AlertEvents(Protocol):
    """Who hears of an alert raised, acknowledged or resolved: the live updates' publisher (``dcmms.live``), which
    pushes it to the tenant's browsers. It never raises (a browser that went away is not the writer's problem)."""

    def alert_changed(self, event: str, alert: Alert) -> None: ...


def link_to(work_order_id: str) -> Callable[[Alert], dict[str, Any]]:
    """The change that points an alert at its work order, unless another work order already took it."""

    def change(alert: Alert) -> dict[str, Any]:
        return {} if alert.work_order_id else {"work_order_id": work_order_id}

    return change


class AlertService(Service):
    # Live updates: what tells browsers of each change (``AlertEvents``), set by ``dcmms.runtime`` and built on the
    # first change, so the API's cold start never loads it; None, or a factory answering None: nobody to tell.
    live: Callable[[], AlertEvents | None] | None = None

    def _tell(self, event: str, alert: Alert) -> None:
        """Tell the live updates, after the change is stored; a failure here never fails the change."""
        if self.live is None:
            return
        try:
            events = self.live()
            if events is not None:
                events.alert_changed(event, alert)
        except Exception:
            log.exception("live updates: alert %s (%s) not pushed", alert.id, event)

    # -- alerts -----------------------------------------------------------------------------------------

    def create_alert(self, p: Principal, body: cmd.AlertCreate) -> Alert:
        """An alert on an asset, on the asset's site; raised now unless the body says when."""
        require_write(p)
        asset = self._referenced(ASSET, p, body.asset_id, "asset_id")
        fields = body.model_dump() | {"site_id": asset.site_id, "raised_at": body.raised_at or utcnow()}
        alert = self._create(ALERT, new_entity(Alert, "alr", p, fields))
        self._tell("raised", alert)
        return alert

    def read_alert(self, p: Principal, alert_id: str) -> Doc:
        return self._read(ALERT, p, alert_id)

    def list_alerts(
        self,
        p: Principal,
        limit: int,
        cursor: str | None,
        *,
        site_id: str | None = None,
        asset_id: str | None = None,
        statuses: Sequence[str] = (),
        severities: Sequence[str] = (),
    ) -> bytes:
        filters: dict[str, Any] = {
            "site_id": site_id,
            "asset_id": asset_id,
            "statuses": statuses,
            "severities": severities,
        }
        return self._page(
            ALERT,
            p,
            {"limit": limit, "cursor": cursor, **filters},
            lambda: self.repositories.alerts.list(p.tenant_id, limit=limit, cursor=cursor, **filters),
        )

    def update_alert(self, p: Principal, alert_id: str, body: cmd.AlertPatch, if_match: int | None) -> Alert:
        require_write(p)
        fields = cmd.patch_fields(body)
        if fields.get("work_order_id"):
            self._referenced(WORK_ORDER, p, fields["work_order_id"], "work_order_id")
        return self._mutate(ALERT, p, alert_id, lambda _: fields, if_match)

    def acknowledge_alert(self, p: Principal, alert_id: str, if_match: int | None, note: str | None = None) -> Alert:
        """Only an active alert can be acknowledged (409 naming its ``current`` status otherwise)."""
        require_write(p)

        def change(current: Alert) -> dict[str, Any]:
            if current.status is not AlertStatus.active:
                raise Conflict(
                    f"Alert '{alert_id}' is {current.status.value}; only an active alert can be acknowledged.",
                    current=current.status.value,
                )
            return {
                "status": AlertStatus.acknowledged,
                "acknowledged_at": utcnow(),
                "acknowledged_by": p.user_id,
                "acknowledge_note": note,
            }

        alert = self._mutate(ALERT, p, alert_id, change, if_match)
        self._tell("acknowledged", alert)
        return alert

    def resolve_alert(self, p: Principal, alert_id: str, if_match: int | None, note: str | None = None) -> Alert:
        """An active or acknowledged alert becomes resolved (409 when it already is)."""
        require_write(p)

        def change(current: Alert) -> dict[str, Any]:
            if current.status in TERMINAL_ALERT:
                raise Conflict(f"Alert '{alert_id}' is already resolved.", current=current.status.value)
            return {
                "status": AlertStatus.resolved,
                "resolved_at": utcnow(),
                "resolved_by": p.user_id,
                "resolution_note": note,
            }

        alert = self._mutate(ALERT, p, alert_id, change, if_match)
        self._tell("resolved", alert)
        return alert

    # -- alert rules --------------------------------------------------------------------------------------

    def create_rule(self, p: Principal, body: cmd.AlertRuleCreate) -> AlertRule:
        require_fleet(p)
        now = utcnow()
        fields = body.model_dump() | {
            "id": new_id("rule"),
            "tenant_id": p.tenant_id,
            "created_at": now,
            "updated_at": now,
        }
        return self._create(RULE, revalidate(AlertRule, fields))

    def read_rule(self, p: Principal, rule_id: str) -> Doc:
        return self._read(RULE, p, rule_id)

    def list_rules(self, p: Principal, limit: int, cursor: str | None) -> bytes:
        params = {"limit": limit, "cursor": cursor}
        return self._page(RULE, p, params, lambda: self.repositories.rules.list(p.tenant_id, limit, cursor))

    def update_rule(self, p: Principal, rule_id: str, body: cmd.AlertRulePatch, if_match: int | None) -> AlertRule:
        require_fleet(p)
        fields = cmd.patch_fields(body)
        return self._mutate(RULE, p, rule_id, lambda _: fields, if_match)

    def delete_rule(self, p: Principal, rule_id: str, if_match: int | None) -> None:
        require_fleet(p)
        self._delete(RULE, self._pinned(RULE, p, rule_id, if_match))

    def enabled_rules(self, tenant_id: str) -> list[AlertRule]:
        """Every enabled rule of the tenant, read from the store (the evaluator keeps its own copy)."""
        return [r for r in read_all(self.repositories.rules.list, tenant_id) if r.enabled]

    # -- alerts raised by rules (ingest) ------------------------------------------------------------------

    def raise_rule_alert(
        self, tenant_id: str, rule: AlertRule, asset_id: str, site_id: str, episode: str, at: datetime, value: float
    ) -> tuple[Alert, WorkOrder | None]:
        """The alert of one episode of ``rule`` on an asset, and its work order if the rule asks.

        Ids derive from the episode, and creates are conditional, so a redelivered batch or a
        concurrent evaluator creates each alert and each work order exactly once.
        """
        alert = Alert(
            id=f"alr_{episode}",
            tenant_id=tenant_id,
            site_id=site_id,
            asset_id=asset_id,
            rule_id=rule.id,
            severity=rule.severity,
            message=f"{rule.name}: {rule.metric} = {value:g}",
            raised_at=at,
            created_at=at,
            updated_at=at,
        )
        try:
            alert, raised = self._create(ALERT, alert), True
        except AlreadyExists:  # a redelivered batch, or a concurrent evaluator, raised it first
            alert, raised = self.repositories.alerts.get(tenant_id, alert.id), False
        if not rule.auto_work_order:
            if raised:
                self._tell("raised", alert)
            return alert, None
        work_order = WorkOrder(
            id=f"wo_{episode}",
            tenant_id=tenant_id,
            site_id=site_id,
            asset_id=asset_id,
            title=f"{rule.name} on {asset_id}",
            type=WorkOrderType.corrective,
            priority=PRIORITY_FOR_SEVERITY[rule.severity],
            status=WorkOrderStatus.open,
            source_alert_id=alert.id,
            created_by=f"rule:{rule.id}",
            created_at=at,
            updated_at=at,
        )
        work_order = self._create_once(WORK_ORDER, work_order)
        if alert.work_order_id is None:
            alert = self._mutate(
                ALERT, system_principal(tenant_id, RULES_ACTOR), alert.id, link_to(work_order.id), None
            )
        if raised:  # once its work order is linked, so the inbox shows both
            self._tell("raised", alert)
        return alert, work_order

    def resolve_rule_alert(self, tenant_id: str, alert_id: str) -> None:
        """Resolve an alert whose condition cleared (no-op when a person already resolved it, or it is gone)."""

        resolved: list[bool] = []

        def change(current: Alert) -> dict[str, Any]:
            resolved[:] = [current.status is not AlertStatus.resolved]
            if current.status is AlertStatus.resolved:
                return {}
            return {
                "status": AlertStatus.resolved,
                "resolved_at": utcnow(),
                "resolved_by": RULES_ACTOR,
                "resolution_note": "condition cleared",
            }

        try:
            alert = self._mutate(ALERT, system_principal(tenant_id, RULES_ACTOR), alert_id, change, None)
        except NotFound:
            return
        if resolved == [True]:
            self._tell("resolved", alert)

    def alert_status(self, tenant_id: str, alert_id: str) -> AlertStatus | None:
        """The alert's status as stored (not cached), or None when there is no such alert."""
        try:
            return self.repositories.alerts.get(tenant_id, alert_id).status
        except NotFound:
            return None
