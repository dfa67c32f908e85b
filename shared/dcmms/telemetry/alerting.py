"""Alert rules evaluated on each ingested batch.

Per (rule, asset) one Redis hash holds the episode: ``since`` (when the condition started holding)
and ``alert`` (the alert raised for it). ``HSETNX`` claims each step, so concurrent evaluators and
redelivered batches raise at most one alert per episode, and an asset has at most one active alert
per rule. Ids derive from (rule, asset, since), and creates are conditional, so the alert and its
work order exist exactly once even if a claim is replayed. Without Redis the batch is stored but not
evaluated (counted and logged by the caller); rules pick up again with the next batch.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from dcmms.cache import ResilientRedis
from dcmms.domain.model import AlertStatus
from dcmms.domain.rules import AlertRule

from .records import DecodedRecord

if TYPE_CHECKING:
    from dcmms.services import Maintenance

RULES_TTL_S = 60.0


@dataclass
class EvaluationReport:
    raised: int = 0
    resolved: int = 0
    work_orders: int = 0
    skipped: bool = False


def _episode(rule_id: str, asset_id: str, since: str) -> str:
    return hashlib.blake2b(f"{rule_id}|{asset_id}|{since}".encode(), digest_size=13).hexdigest().upper()


class RuleEvaluator:
    def __init__(self, maintenance: Maintenance, redis: ResilientRedis) -> None:
        self.maintenance = maintenance
        self.redis = redis
        self._rules: dict[str, tuple[float, list[AlertRule]]] = {}

    def rules_for(self, tenant_id: str) -> list[AlertRule]:
        """The tenant's enabled rules, re-read at most every minute per process."""
        from dcmms.store.repositories import read_all

        hit = self._rules.get(tenant_id)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        rules = [r for r in read_all(self.maintenance.rules.list, tenant_id) if r.enabled]
        self._rules[tenant_id] = (time.monotonic() + RULES_TTL_S, rules)
        return rules

    def evaluate(self, records: Sequence[DecodedRecord]) -> EvaluationReport:
        report = EvaluationReport()
        if not self.redis.available:
            report.skipped = True
            return report
        for record in records:
            for rule in self.rules_for(record.tenant_id):
                if rule.asset_type is not record.asset_type:
                    continue
                for sample in sorted((s for s in record.samples if s.metric == rule.metric), key=lambda s: s.ts):
                    self._step(rule, record, sample.ts, sample.value, report)
        return report

    def _step(
        self, rule: AlertRule, record: DecodedRecord, at: datetime, value: float, report: EvaluationReport
    ) -> None:
        r = self.redis.client
        key = f"dcmms:{{{record.tenant_id}}}:rule:{rule.id}:{record.asset_id}"
        if rule.holds(value):
            r.hsetnx(key, "since", at.isoformat())
            since_raw, alert_id = r.hmget(key, "since", "alert")
            since = datetime.fromisoformat(since_raw.decode())
            if alert_id is not None:
                # a person may have resolved it while the condition still holds: start a new episode
                if self.maintenance.alert_status(record.tenant_id, alert_id.decode()) is AlertStatus.resolved:
                    r.delete(key)
                return
            if rule.due(since, at):
                episode = _episode(rule.id, record.asset_id, since_raw.decode())
                if r.hsetnx(key, "alert", f"alr_{episode}"):
                    _, work_order = self.maintenance.raise_rule_alert(
                        record.tenant_id, rule, record.asset_id, record.site_id, episode, at, value
                    )
                    report.raised += 1
                    report.work_orders += work_order is not None
        else:
            alert_id = r.hget(key, "alert")
            if alert_id is None:
                r.delete(key)  # the condition broke before it was due: no episode
            elif rule.resolve_on_clear:
                self.maintenance.resolve_rule_alert(record.tenant_id, alert_id.decode())
                r.delete(key)
                report.resolved += 1
