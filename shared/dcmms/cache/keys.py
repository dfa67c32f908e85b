"""Redis key layout, every key of the application built here (cache, principals, rate limits, rule state).
Keys of a tenant carry the tenant hash tag ``{t}``, so keys that one operation touches together live in
one Redis Cluster slot."""

from __future__ import annotations

from collections.abc import Sequence

PREFIX = "dcmms"


def entity(kind: str, tenant_id: str, entity_id: str) -> str:
    return f"{PREFIX}:{{{tenant_id}}}:{kind}:{entity_id}"


def lock_for(key: str) -> str:
    """The single-flight lock of a cache key (same slot as the key)."""
    return f"{key}:lock"


def list_version(kind: str, tenant_id: str, scope: str) -> str:
    """Version counter of a tenant's lists of ``kind`` in one scope (``""``: all of them; else filter
    values such as ``site_id=S|status=open``, services/common.py), bumped by writes in that scope."""
    return f"{PREFIX}:{{{tenant_id}}}:lv:{kind}{':' + scope if scope else ''}"


def list_page(kind: str, tenant_id: str, versions: Sequence[int], query_digest: str) -> str:
    return f"{PREFIX}:{{{tenant_id}}}:list:{kind}:v{'.'.join(map(str, versions))}:{query_digest}"


def memo(keyspace: str, tenant_id: str, name: str) -> str:
    return f"{PREFIX}:{{{tenant_id}}}:memo:{keyspace}:{name}"


def reads(kind: str, day: str) -> str:
    """Sorted set of read counts per entity for one UTC day (member: ``tenant|id``)."""
    return f"{PREFIX}:reads:{kind}:{day}"


def job_lock(name: str) -> str:
    return f"{PREFIX}:job:{name}:lock"


def principal(key_digest: str) -> str:
    """The principal of an API key, by the key's hash (never the key itself)."""
    return f"{PREFIX}:auth:{key_digest}"


def person(tenant_id: str, user_id: str) -> str:
    """A person's standing (their users-table record: enabled, role, deleted), checked with their tokens."""
    return f"{PREFIX}:{{{tenant_id}}}:person:{user_id}"


def tenant_plan(tenant_id: str) -> str:
    """The tenant's tier (people's rate limits are counted in it)."""
    return f"{PREFIX}:{{{tenant_id}}}:plan"


def key_used(tenant_id: str) -> str:
    """Hash of when each of the tenant's API keys was last used (key id -> ISO time), to about 30 s."""
    return f"{PREFIX}:{{{tenant_id}}}:key-used"


def site_latest(tenant_id: str, site_id: str) -> str:
    """A site's latest metric values (hash: metric -> ``ts|value``), for site-conditioned rules."""
    return f"{PREFIX}:{{{tenant_id}}}:site:{site_id}:latest"


def rule_state(tenant_id: str, rule_id: str, asset_id: str) -> str:
    """One rule's evaluation state on one asset (hash: since, alert, ...)."""
    return f"{PREFIX}:{{{tenant_id}}}:rule:{rule_id}:{asset_id}"


def rate_limit_key(tenant_id: str, key_id: str) -> str:
    """GCRA state of a tier limit, per API key (no tier in it: an upgrade keeps what the key has used)."""
    return f"rl:{{{tenant_id}}}:key:{key_id}"


def rate_limit_user(tenant_id: str, rule: str, user_id: str) -> str:
    return f"rl:{{{tenant_id}}}:ep:{rule}:user:{user_id}"


def rate_limit_tenant(tenant_id: str, rule: str) -> str:
    return f"rl:{{{tenant_id}}}:ep:{rule}:tenant"
