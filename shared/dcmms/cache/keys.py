"""Redis key layout. Every key is tenant-scoped; keys that one operation touches together share the
tenant hash tag ``{t}`` so they live in one Redis Cluster slot."""

from __future__ import annotations

PREFIX = "dcmms"


def entity(kind: str, tenant_id: str, entity_id: str) -> str:
    return f"{PREFIX}:{{{tenant_id}}}:{kind}:{entity_id}"


def lock_for(key: str) -> str:
    """The single-flight lock of a cache key (same slot as the key)."""
    return f"{key}:lock"


def list_version(kind: str, tenant_id: str, site_id: str | None) -> str:
    """Version counter of a tenant's (or a tenant's site's) lists of ``kind``, bumped on writes."""
    scope = f":site:{site_id}" if site_id else ""
    return f"{PREFIX}:{{{tenant_id}}}:lv:{kind}{scope}"


def list_page(kind: str, tenant_id: str, version: int, query_digest: str) -> str:
    return f"{PREFIX}:{{{tenant_id}}}:list:{kind}:v{version}:{query_digest}"


def memo(keyspace: str, tenant_id: str, name: str) -> str:
    return f"{PREFIX}:{{{tenant_id}}}:memo:{keyspace}:{name}"


def reads(kind: str, day: str) -> str:
    """Sorted set of read counts per entity for one UTC day (member: ``tenant|id``)."""
    return f"{PREFIX}:reads:{kind}:{day}"


def job_lock(name: str) -> str:
    return f"{PREFIX}:job:{name}:lock"
