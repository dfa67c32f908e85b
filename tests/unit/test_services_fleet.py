"""FleetService over in-memory repositories: permissions, references, hierarchy, deletes, concurrency."""

from __future__ import annotations

import orjson
import pytest

from dcmms.domain import commands as cmd
from dcmms.domain.errors import Conflict, FieldIssue, Forbidden, NotFound, PreconditionFailed, ValidationFailed
from dcmms.domain.model import Role
from dcmms.services.common import MAX_ATTEMPTS
from tests.unit.fakes import World, principal

ADMIN = principal(Role.admin)
SITE = cmd.SiteCreate(name="North", kind="solar", capacity_mw=12.5, timezone="Europe/Madrid")


def _issue(err: pytest.ExceptionInfo[ValidationFailed]) -> FieldIssue:
    (issue,) = err.value.extra["errors"]
    return issue


@pytest.mark.parametrize("role", [Role.technician, Role.viewer])
def test_only_admins_and_supervisors_change_the_fleet(role: Role) -> None:
    w = World()
    with pytest.raises(Forbidden):
        w.fleet.create_site(principal(role), SITE)
    w.site()
    with pytest.raises(Forbidden):
        w.fleet.update_site(principal(role), "site_1", cmd.SitePatch(name="x"), None)
    with pytest.raises(Forbidden):
        w.fleet.delete_site(principal(role), "site_1", None)
    assert orjson.loads(w.fleet.read_site(principal(role), "site_1").body)["name"] == "Plant"  # reading is fine


def test_a_created_site_belongs_to_the_callers_tenant_and_is_invisible_to_others() -> None:
    w = World()
    site = w.fleet.create_site(principal(Role.supervisor), SITE)
    assert site.tenant_id == "t1" and site.id.startswith("site_") and site.version == 1
    doc = w.fleet.read_site(ADMIN, site.id)
    assert doc.version == 1 and orjson.loads(doc.body)["name"] == "North"
    with pytest.raises(NotFound):
        w.fleet.read_site(principal(tenant="t2"), site.id)


def test_if_match_pins_the_version_a_change_applies_to() -> None:
    w = World()
    w.site()
    with pytest.raises(PreconditionFailed) as stale:
        w.fleet.update_site(ADMIN, "site_1", cmd.SitePatch(name="Renamed"), if_match=7)
    assert stale.value.extra == {"current_version": 1}
    updated = w.fleet.update_site(ADMIN, "site_1", cmd.SitePatch(name="Renamed"), if_match=1)
    assert (updated.version, updated.name) == (2, "Renamed")
    assert w.repos.sites.rows[("t1", "site_1")].name == "Renamed"


def test_a_writer_that_loses_a_race_reapplies_its_change_so_no_write_is_lost() -> None:
    w = World()
    w.site()
    sites = w.repos.sites

    def concurrent_writer(_):
        sites.before_write = None
        sites.bump("t1", "site_1", capacity_mw=99.0)

    sites.before_write = concurrent_writer
    updated = w.fleet.update_site(ADMIN, "site_1", cmd.SitePatch(name="Renamed"), None)
    assert (updated.version, updated.name, updated.capacity_mw) == (3, "Renamed", 99.0)


def test_a_race_under_if_match_is_a_precondition_failure_not_a_retry() -> None:
    w = World()
    w.site()
    w.repos.sites.before_write = lambda _: w.repos.sites.bump("t1", "site_1")
    with pytest.raises(PreconditionFailed, match="changed meanwhile"):
        w.fleet.update_site(ADMIN, "site_1", cmd.SitePatch(name="Renamed"), if_match=1)


def test_endless_races_end_in_a_conflict_after_a_bounded_number_of_attempts() -> None:
    w = World()
    w.site()
    attempts = []

    def always_first(_):
        attempts.append(1)
        w.repos.sites.bump("t1", "site_1")

    w.repos.sites.before_write = always_first
    with pytest.raises(Conflict, match="many writers"):
        w.fleet.update_site(ADMIN, "site_1", cmd.SitePatch(name="Renamed"), None)
    assert len(attempts) == MAX_ATTEMPTS


def test_an_asset_needs_an_existing_site_and_a_parent_on_the_same_site() -> None:
    w = World()
    w.site()
    w.site("site_2")
    w.asset("ast_other", site_id="site_2")
    with pytest.raises(ValidationFailed) as no_site:
        w.fleet.create_asset(ADMIN, cmd.AssetCreate(site_id="site_9", name="inv", type="inverter"))
    assert _issue(no_site) == FieldIssue("site_id", "no site 'site_9'")
    with pytest.raises(ValidationFailed) as no_parent:
        w.fleet.create_asset(ADMIN, cmd.AssetCreate(site_id="site_1", parent_id="ast_9", name="i", type="inverter"))
    assert _issue(no_parent) == FieldIssue("parent_id", "no asset 'ast_9'")
    with pytest.raises(ValidationFailed) as elsewhere:
        w.fleet.create_asset(ADMIN, cmd.AssetCreate(site_id="site_1", parent_id="ast_other", name="i", type="inverter"))
    assert _issue(elsewhere).field == "parent_id" and "another site" in _issue(elsewhere).message
    asset = w.fleet.create_asset(
        ADMIN, cmd.AssetCreate(site_id="site_2", parent_id="ast_other", name="i", type="string")
    )
    assert asset.parent_id == "ast_other" and asset.id.startswith("ast_")


def test_a_move_that_would_close_a_cycle_in_the_hierarchy_is_refused() -> None:
    w = World()
    w.site()
    w.asset("ast_tx", type="transformer")
    w.asset("ast_inv", parent_id="ast_tx")
    w.asset("ast_cb", parent_id="ast_inv", type="combiner")
    with pytest.raises(ValidationFailed) as cycle:
        w.fleet.update_asset(ADMIN, "ast_tx", cmd.AssetPatch(parent_id="ast_cb"), None)
    assert _issue(cycle) == FieldIssue("parent_id", "the move would make the hierarchy a cycle")
    with pytest.raises(ValidationFailed) as own:
        w.fleet.update_asset(ADMIN, "ast_tx", cmd.AssetPatch(parent_id="ast_tx"), None)
    assert _issue(own).message == "an asset cannot be its own parent"
    assert w.repos.assets.rows[("t1", "ast_tx")].parent_id is None  # nothing was written
    moved = w.fleet.update_asset(ADMIN, "ast_cb", cmd.AssetPatch(parent_id="ast_tx"), None)
    assert moved.parent_id == "ast_tx" and moved.version == 2


def test_a_site_is_not_deleted_while_assets_or_active_work_orders_reference_it() -> None:
    w = World()
    w.site()
    w.asset("ast_1")
    with pytest.raises(Conflict, match="still has assets"):
        w.fleet.delete_site(ADMIN, "site_1", None)
    del w.repos.assets.rows[("t1", "ast_1")]
    w.work_order("wo_1", status="in_progress")
    with pytest.raises(Conflict, match="open work orders"):
        w.fleet.delete_site(ADMIN, "site_1", None)
    w.repos.work_orders.bump("t1", "wo_1", status="closed")
    with pytest.raises(PreconditionFailed):
        w.fleet.delete_site(ADMIN, "site_1", if_match=2)
    w.fleet.delete_site(ADMIN, "site_1", if_match=1)
    with pytest.raises(NotFound):
        w.fleet.read_site(ADMIN, "site_1")


def test_an_asset_is_not_deleted_while_child_assets_or_active_work_orders_reference_it() -> None:
    w = World()
    w.site()
    w.asset("ast_tx", type="transformer")
    w.asset("ast_inv", parent_id="ast_tx")
    w.work_order("wo_1", asset_id="ast_inv", status="open")
    with pytest.raises(Conflict, match="child assets"):
        w.fleet.delete_asset(ADMIN, "ast_tx", None)
    with pytest.raises(Conflict, match="open work orders"):
        w.fleet.delete_asset(ADMIN, "ast_inv", None)
    w.repos.work_orders.bump("t1", "wo_1", status="cancelled")
    w.fleet.delete_asset(ADMIN, "ast_inv", None)
    w.fleet.delete_asset(ADMIN, "ast_tx", None)
    assert not w.repos.assets.rows


def test_a_delete_that_races_a_write_is_a_conflict() -> None:
    w = World()
    w.site()
    real_delete = w.repos.sites.delete

    def after_a_write(site):
        w.repos.sites.bump("t1", "site_1")
        real_delete(site)

    w.repos.sites.delete = after_a_write
    with pytest.raises(Conflict, match="changed while being deleted"):
        w.fleet.delete_site(ADMIN, "site_1", None)


def test_lists_are_pages_of_the_tenants_entities_with_an_opaque_cursor() -> None:
    w = World()
    for n in range(3):
        w.site(f"site_{n}")
    w.site("site_x", tenant="t2")
    first = orjson.loads(w.fleet.list_sites(ADMIN, 2, None))
    assert [s["id"] for s in first["items"]] == ["site_0", "site_1"] and first["next_cursor"]
    rest = orjson.loads(w.fleet.list_sites(ADMIN, 2, first["next_cursor"]))
    assert [s["id"] for s in rest["items"]] == ["site_2"] and rest["next_cursor"] is None
    w.asset("ast_a", site_id="site_0", type="inverter")
    w.asset("ast_b", site_id="site_0", type="string")
    page = orjson.loads(w.fleet.list_assets(ADMIN, 10, None, site_id="site_0", types=["string"]))
    assert [a["id"] for a in page["items"]] == ["ast_b"]
