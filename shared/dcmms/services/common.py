"""The mechanics every service shares: permission checks, field errors, cache-through reads, versioned
mutation with retries, and create-once.

Repositories are reached through a ``Kind``, only inside the function that needs one, so a read answered
from the cache never touches them (nor, in production, imports pynamodb and botocore).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from pydantic import ValidationError

from dcmms.cache import Doc
from dcmms.domain.errors import Conflict, FieldIssue, Forbidden, NotFound, PreconditionFailed, ValidationFailed
from dcmms.domain.ids import new_id
from dcmms.domain.model import Alert, Asset, Entity, Principal, Role, Site, Tier, WorkOrder, utcnow
from dcmms.domain.pm import PMSchedule
from dcmms.domain.procedures import Procedure
from dcmms.domain.rules import AlertRule
from dcmms.store.errors import AlreadyExists, StaleVersion
from dcmms.store.results import ListResult

from .ports import EntityCache, PageEncoder, Repositories, Repository

E = TypeVar("E", bound=Entity)

# Writers that lose a version race re-read and re-apply their change this many times before giving up.
MAX_ATTEMPTS = 8


# -- who may do what ----------------------------------------------------------------------------------


def require_write(p: Principal) -> None:
    if not p.can_write:
        raise Forbidden(f"Role '{p.role.value}' is read-only.")


def require_fleet(p: Principal) -> None:
    if not p.can_manage_fleet:
        raise Forbidden(f"Role '{p.role.value}' cannot change sites or assets; an admin or supervisor can.")


def system_principal(tenant_id: str, user_id: str) -> Principal:
    """An in-process actor (rule evaluation, cache warming) with every right within one tenant."""
    return Principal(tenant_id=tenant_id, user_id=user_id, role=Role.admin, tier=Tier.enterprise, key_id="system")


# -- invalid input --------------------------------------------------------------------------------------


def field_error(
    field: str, message: str, location: Literal["body", "query"] = "body", detail: str | None = None
) -> ValidationFailed:
    """A 422 naming one input field (the API writes ``<location>.<field>``); the detail defaults to
    ``<field>: <message>``."""
    return ValidationFailed(detail or f"{field}: {message}", errors=[FieldIssue(field, message, location)])


def revalidate(entity_type: type[E], data: dict[str, Any]) -> E:
    """Re-check the whole entity after a merge patch (e.g. ``null`` for a required field)."""
    try:
        return entity_type.model_validate(data)
    except ValidationError as exc:
        errors = [FieldIssue(".".join(str(p) for p in e["loc"]), e["msg"]) for e in exc.errors()]
        raise ValidationFailed("The change would leave the resource invalid.", errors=errors) from None


# -- entities -------------------------------------------------------------------------------------------


def new_entity(entity_type: type[E], prefix: str, p: Principal, fields: dict[str, Any]) -> E:
    now = utcnow()
    return entity_type.model_validate(
        {**fields, "id": new_id(prefix), "tenant_id": p.tenant_id, "created_at": now, "updated_at": now}
    )


def doc_of(entity: Entity) -> Doc:
    return Doc(entity.version, entity.model_dump_json().encode())


def read_all(list_page: Callable[..., ListResult[E]], tenant_id: str, **filters: Any) -> Iterator[E]:
    """Every item of a paged listing (for jobs and aggregates, not request paths that return pages)."""
    cursor = None
    while True:
        page = list_page(tenant_id, limit=1000, cursor=cursor, **filters)
        yield from page.items
        cursor = page.next_cursor
        if cursor is None:
            return


@dataclass(frozen=True)
class Kind(Generic[E]):
    """An aggregate as the mechanics see it: its name in cache keys, in messages, and its repository."""

    cache: str  # in cache keys; changing one orphans what is cached under the old name
    label: str  # in messages: "work order"
    repository: Callable[[Repositories], Repository[E]]
    # (entity attribute, list filter) pairs that cached list pages are versioned by (see list_scopes)
    list_dimensions: tuple[tuple[str, str], ...] = (("site_id", "site_id"),)


SITE: Kind[Site] = Kind("site", "site", lambda r: r.sites, list_dimensions=())
ASSET: Kind[Asset] = Kind("asset", "asset", lambda r: r.assets)
WORK_ORDER: Kind[WorkOrder] = Kind(
    "wo",
    "work order",
    lambda r: r.work_orders,
    list_dimensions=(("site_id", "site_id"), ("status", "statuses"), ("assigned_to", "assigned_to")),
)
ALERT: Kind[Alert] = Kind("alert", "alert", lambda r: r.alerts)
RULE: Kind[AlertRule] = Kind("rule", "alert rule", lambda r: r.rules)
PROCEDURE: Kind[Procedure] = Kind("procedure", "procedure", lambda r: r.procedures, list_dimensions=())
PM_SCHEDULE: Kind[PMSchedule] = Kind(
    "pm",
    "PM schedule",
    lambda r: r.pm_schedules,
    list_dimensions=(("site_id", "site_id"), ("asset_id", "asset_id"), ("trigger_kind", "trigger_kind")),
)


def list_scopes(dimensions: Sequence[tuple[str, str]], params: dict[str, Any]) -> list[str]:
    """The list-version scopes a listing depends on: one per combination of the values it filters its
    dimensions by (``site_id=S|status=open``); ``""`` is the tenant-wide scope of an unfiltered one.

    A page is cached under the versions of all its scopes, so it is found again until a write bumps one.
    """
    axes: list[list[str]] = []
    for attribute, param in dimensions:
        value = params.get(param)
        values = [value] if isinstance(value, str) else sorted(set(value or ()))
        axes.append([f"{attribute}={v}" for v in values] or [""])
    return ["|".join(part for part in combination if part) for combination in itertools.product(*axes)]


def write_scopes(dimensions: Sequence[tuple[str, str]], *states: Entity) -> set[str]:
    """Every scope a listing could see any of ``states`` (an entity before and after a write) in: each
    subset of its dimension values, the empty one (tenant-wide) included. An unset value (no assignee)
    is in no filter's scope, so it adds none."""
    out: set[str] = set()
    for state in states:
        parts = []
        for attribute, _ in dimensions:
            value = getattr(state, attribute, None)
            if value is not None:
                parts.append(f"{attribute}={getattr(value, 'value', value)}")
        for size in range(len(parts) + 1):
            out.update("|".join(chosen) for chosen in itertools.combinations(parts, size))
    return out


class Service:
    """Base of the aggregate services: the repositories, the cache (optional) and the page encoder.

    Reads go through the cache when there is one; every write updates it (versioned write-through) and
    bumps the list versions it affects.
    """

    def __init__(self, repositories: Repositories, cache: EntityCache | None, encode_page: PageEncoder) -> None:
        self.repositories = repositories
        self.cache = cache
        self.encode_page = encode_page

    # -- reads ------------------------------------------------------------------------------------------

    def _read(self, kind: Kind[Any], p: Principal, entity_id: str) -> Doc:
        """One entity's representation; the repository is touched only on a cache miss."""

        def load() -> Doc:
            return doc_of(kind.repository(self.repositories).get(p.tenant_id, entity_id))

        if self.cache is None:
            return load()
        doc = self.cache.get_entity(kind.cache, p.tenant_id, entity_id, load, track_reads=kind is WORK_ORDER)
        if doc.deleted:
            raise NotFound(f"No {kind.label} '{entity_id}'.")
        return doc

    def _page(self, kind: Kind[E], p: Principal, params: dict[str, Any], load: Callable[[], ListResult[E]]) -> bytes:
        """A page of a listing, encoded; cached under the list versions of the scopes its filters select,
        so a write invalidates only the listings it can change (``write_scopes``)."""
        if self.cache is None:
            return self.encode_page(load())
        scopes = list_scopes(kind.list_dimensions, params)
        return self.cache.get_list(kind.cache, p.tenant_id, scopes, params, lambda: self.encode_page(load()))

    def _referenced(self, kind: Kind[E], p: Principal, entity_id: str, field: str) -> E:
        """An entity the input refers to, or a 422 naming the field."""
        try:
            return kind.repository(self.repositories).get(p.tenant_id, entity_id)
        except NotFound:
            raise field_error(field, f"no {kind.label} '{entity_id}'") from None

    # -- writes -----------------------------------------------------------------------------------------

    def _written(self, kind: Kind[E], entity: E, deleted: bool = False, before: E | None = None) -> None:
        """The cache after a write: the entity (or its tombstone), and new versions of the lists that
        showed it before or may show it now."""
        if self.cache is None:
            return
        tenant = entity.tenant_id
        if deleted:
            self.cache.delete_entity(kind.cache, tenant, entity.id, entity.version)
        else:
            self.cache.put_entity(kind.cache, tenant, entity.id, doc_of(entity))
        states = (entity,) if before is None else (before, entity)
        self.cache.invalidate_lists(kind.cache, tenant, write_scopes(kind.list_dimensions, *states))

    def _create(self, kind: Kind[E], entity: E) -> E:
        created = kind.repository(self.repositories).create(entity)
        self._written(kind, created)
        return created

    def _create_once(self, kind: Kind[E], entity: E) -> E:
        """Create ``entity``, or return the stored one when its (derived) id exists already."""
        try:
            return self._create(kind, entity)
        except AlreadyExists:
            return kind.repository(self.repositories).get(entity.tenant_id, entity.id)

    def _mutate(
        self,
        kind: Kind[E],
        p: Principal,
        entity_id: str,
        change: Callable[[E], dict[str, Any]],
        if_match: int | None,
    ) -> E:
        """Read, apply ``change``, write conditionally on the version read; retry lost races.

        With ``If-Match`` the caller pinned a version, so any other version is a 412 and there is no
        retry; without it the change is re-applied to the newer version, so no concurrent write is lost.
        """
        repo = kind.repository(self.repositories)
        for _ in range(MAX_ATTEMPTS):
            current = repo.get(p.tenant_id, entity_id)
            if if_match is not None and current.version != if_match:
                raise PreconditionFailed(
                    f"The {kind.label} is at version {current.version}, not {if_match}; fetch it again.",
                    current_version=current.version,
                )
            data = current.model_dump() | change(current)
            data |= {"version": current.version + 1, "updated_at": utcnow()}
            updated = revalidate(type(current), data)
            try:
                repo.replace(updated, expected_version=current.version)
            except StaleVersion:
                if if_match is not None:
                    raise PreconditionFailed(f"The {kind.label} changed meanwhile; fetch it again.") from None
                continue
            self._written(kind, updated, before=current)
            return updated
        raise Conflict(f"The {kind.label} is being changed by many writers at once; retry shortly.")

    def _pinned(self, kind: Kind[E], p: Principal, entity_id: str, if_match: int | None) -> E:
        """The entity about to be deleted, at the version ``If-Match`` pinned (412 otherwise)."""
        entity = kind.repository(self.repositories).get(p.tenant_id, entity_id)
        if if_match is not None and entity.version != if_match:
            raise PreconditionFailed(f"The {kind.label} is at version {entity.version}, not {if_match}.")
        return entity

    def _delete(self, kind: Kind[E], entity: E) -> None:
        try:
            kind.repository(self.repositories).delete(entity)
        except StaleVersion:
            raise Conflict(f"The {kind.label} changed while being deleted; retry.") from None
        self._written(kind, entity, deleted=True)
