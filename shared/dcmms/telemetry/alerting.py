"""Alert rules evaluated on each ingested batch.

Per (rule, asset) one Redis hash holds the episode: ``since`` (when the condition started holding)
and ``alert`` (the alert raised for it). ``HSETNX`` claims each step, so concurrent evaluators and
redelivered batches raise at most one alert per episode, and an asset has at most one active alert
per rule. Ids derive from (rule, asset, since), and creates are conditional, so the alert and its
work order exist exactly once even if a claim is replayed. Without Redis the batch is stored but not
evaluated (counted and logged by the caller); rules pick up again with the next batch.

A rule may also require a site condition (``while_site``, e.g. irradiance > 200 W/m² for "no output in
sunshine"). Site-level metrics reach the evaluator on other assets' records, possibly on other shards,
so each site's latest value per such metric is kept in a Redis hash (``ts|value``), read and written with
the batch's other state.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from dcmms.cache import ResilientRedis, keys
from dcmms.domain.model import Alert, AlertStatus, WorkOrder
from dcmms.domain.rules import AlertRule, SiteCondition

from .record_format import DecodedRecord

RULES_TTL_S = 60.0


class RuleAlerts(Protocol):
    """What the evaluator needs of the alerts service (dcmms.services.alerts.AlertService)."""

    def enabled_rules(self, tenant_id: str) -> list[AlertRule]: ...

    def raise_rule_alert(
        self, tenant_id: str, rule: AlertRule, asset_id: str, site_id: str, episode: str, at: datetime, value: float
    ) -> tuple[Alert, WorkOrder | None]: ...

    def resolve_rule_alert(self, tenant_id: str, alert_id: str) -> None: ...

    def alert_status(self, tenant_id: str, alert_id: str) -> AlertStatus | None: ...


@dataclass
class EvaluationReport:
    raised: int = 0
    resolved: int = 0
    work_orders: int = 0
    skipped: bool = False


def _episode(rule_id: str, asset_id: str, since: str) -> str:
    return hashlib.blake2b(f"{rule_id}|{asset_id}|{since}".encode(), digest_size=13).hexdigest().upper()


class RuleEvaluator:
    def __init__(self, alerts: RuleAlerts, redis: ResilientRedis) -> None:
        self.alerts = alerts
        self.redis = redis
        self._rules: dict[str, tuple[float, list[AlertRule]]] = {}

    def rules_for(self, tenant_id: str) -> list[AlertRule]:
        """The tenant's enabled rules, re-read at most every minute per process."""
        hit = self._rules.get(tenant_id)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        rules = self.alerts.enabled_rules(tenant_id)
        self._rules[tenant_id] = (time.monotonic() + RULES_TTL_S, rules)
        return rules

    def evaluate(self, records: Sequence[DecodedRecord]) -> EvaluationReport:
        """Walk each (rule, asset)'s samples of the batch in time order through its episode.

        Redis is read once per batch (one pipeline of HMGETs) and written once (the episodes that
        changed); only raising an alert claims its step at once. One asset's records reach one shard,
        so one evaluator at a time; the claims keep a redelivered batch from raising twice.
        """
        report = EvaluationReport()
        if not self.redis.available:
            report.skipped = True
            return report
        work: dict[str, _Walk] = {}
        site_news: dict[str, dict[str, tuple[datetime, float]]] = {}  # site key -> metric -> newest in batch
        for record in records:
            rules = self.rules_for(record.tenant_id)
            site_key = keys.site_latest(record.tenant_id, record.site_id)
            for metric in {rule.while_site.metric for rule in rules if rule.while_site is not None}:
                newest = max(((ts, values[metric]) for ts, values in record.readings if metric in values), default=None)
                known = site_news.setdefault(site_key, {}).get(metric)
                if newest is not None and (known is None or newest[0] > known[0]):
                    site_news[site_key][metric] = newest
            for rule in rules:
                if rule.asset_type is not record.asset_type:
                    continue
                metric = rule.metric
                samples = [(ts, values[metric]) for ts, values in record.readings if metric in values]
                if not samples:
                    continue
                key = keys.rule_state(record.tenant_id, rule.id, record.asset_id)
                walk = work.get(key)
                if walk is None:
                    work[key] = _Walk(key, rule, record, samples, site_key if rule.while_site else None)
                else:
                    walk.samples += samples
        if not work and not site_news:
            return report
        r: Any = self.redis.client  # redis-py types replies as Awaitable | Any
        reads = r.pipeline(transaction=False)
        for key in work:
            reads.hmget(key, "since", "alert")
        site_keys = sorted(set(site_news) | {w.site_key for w in work.values() if w.site_key})
        for key in site_keys:
            reads.hgetall(key)
        replies = reads.execute()
        writes = r.pipeline(transaction=False)
        sites = self._merge_sites(site_keys, replies[len(work) :], site_news, writes)
        for walk, (since, alert) in zip(work.values(), replies[: len(work)], strict=True):
            walk.stored = (since and since.decode(), alert and alert.decode())
            walk.site = sites.get(walk.site_key, {}) if walk.site_key else {}
            state = self._walk(walk, report)
            if state != walk.stored:
                writes.delete(walk.key)
                if state[0] is not None:
                    writes.hset(walk.key, mapping={"since": state[0]} | ({"alert": state[1]} if state[1] else {}))
        writes.execute()
        return report

    @staticmethod
    def _merge_sites(
        keys: list[str],
        stored: list[dict[bytes, bytes]],
        news: dict[str, dict[str, tuple[datetime, float]]],
        writes: Any,
    ) -> dict[str, dict[str, tuple[datetime, float]]]:
        """Each site's latest value per metric: the newer of what Redis holds and what this batch brought;
        the batch's newer values are queued for writing (``ts|value``)."""
        out: dict[str, dict[str, tuple[datetime, float]]] = {}
        for key, held in zip(keys, stored, strict=True):
            latest: dict[str, tuple[datetime, float]] = {}
            for held_metric, raw in held.items():
                held_ts, _, held_value = raw.decode().partition("|")
                latest[held_metric.decode()] = (datetime.fromisoformat(held_ts), float(held_value))
            for metric, (ts, value) in news.get(key, {}).items():
                if metric not in latest or ts > latest[metric][0]:
                    latest[metric] = (ts, value)
                    writes.hset(key, metric, f"{ts.isoformat()}|{value!r}")
            out[key] = latest
        return out

    def _walk(self, walk: _Walk, report: EvaluationReport) -> Episode:
        """The episode (since, alert) after ``walk``'s samples, starting from what Redis holds."""
        rule, record = walk.rule, walk.record
        since, alert = walk.stored
        status_checked = False
        for at, value in sorted(walk.samples):
            if rule.holds(value) and (rule.while_site is None or _site_holds(rule.while_site, walk.site, at)):
                if since is None:
                    since = at.isoformat()
                if alert is not None:
                    # a person may have resolved it while the condition still holds: start a new episode
                    if not status_checked:
                        status_checked = True
                        if self.alerts.alert_status(record.tenant_id, alert) is AlertStatus.resolved:
                            since = alert = None
                    continue
                if rule.due(datetime.fromisoformat(since), at):
                    since, alert = self._raise(walk, since, at, value, report)
            elif alert is None:
                since = None  # the condition broke before it was due: no episode
            elif rule.resolve_on_clear:
                self.alerts.resolve_rule_alert(record.tenant_id, alert)
                report.resolved += 1
                since = alert = None
        return since, alert

    def _raise(self, walk: _Walk, since: str, at: datetime, value: float, report: EvaluationReport) -> Episode:
        """Claim the episode's alert in Redis now (HSETNX) and raise it once; the rare, costly step."""
        r: Any = self.redis.client
        if walk.stored != (since, None):
            r.delete(walk.key)  # the stored episode ended earlier in this batch
        r.hsetnx(walk.key, "since", since)
        claimed_since = r.hget(walk.key, "since").decode()
        episode = _episode(walk.rule.id, walk.record.asset_id, claimed_since)
        if r.hsetnx(walk.key, "alert", f"alr_{episode}"):
            _, work_order = self.alerts.raise_rule_alert(
                walk.record.tenant_id, walk.rule, walk.record.asset_id, walk.record.site_id, episode, at, value
            )
            report.raised += 1
            report.work_orders += work_order is not None
        walk.stored = (claimed_since, r.hget(walk.key, "alert").decode())
        return walk.stored


Episode = tuple[str | None, str | None]  # (since, alert) of one (rule, asset)


def _site_holds(condition: SiteCondition, site: dict[str, tuple[datetime, float]], at: datetime) -> bool:
    """The site condition at ``at``, from the site's latest value; unknown or stale counts as not holding."""
    latest = site.get(condition.metric)
    if latest is None or abs((at - latest[0]).total_seconds()) > condition.max_age_s:
        return False
    return condition.holds(latest[1])


@dataclass
class _Walk:
    """One (rule, asset)'s samples in a batch, and its episode as Redis holds it."""

    key: str
    rule: AlertRule
    record: DecodedRecord
    samples: list[tuple[datetime, float]]
    site_key: str | None = None  # the site's latest-values hash, for rules with a site condition
    stored: Episode = (None, None)
    site: dict[str, tuple[datetime, float]] = field(default_factory=dict)
