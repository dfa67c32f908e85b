"""The fleet: sites and their asset hierarchies. Only admins and supervisors change it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dcmms.cache import Doc
from dcmms.domain import commands as cmd
from dcmms.domain.errors import Conflict
from dcmms.domain.model import Asset, Principal, Site

from .common import ASSET, SITE, Service, field_error, new_entity, require_fleet


class FleetService(Service):
    # -- sites ------------------------------------------------------------------------------------------

    def create_site(self, p: Principal, body: cmd.SiteCreate) -> Site:
        require_fleet(p)
        return self._create(SITE, new_entity(Site, "site", p, body.model_dump()))

    def read_site(self, p: Principal, site_id: str) -> Doc:
        return self._read(SITE, p, site_id)

    def list_sites(self, p: Principal, limit: int, cursor: str | None) -> bytes:
        params = {"limit": limit, "cursor": cursor}
        return self._page(SITE, p, params, lambda: self.repositories.sites.list(p.tenant_id, limit, cursor))

    def update_site(self, p: Principal, site_id: str, body: cmd.SitePatch, if_match: int | None) -> Site:
        require_fleet(p)
        fields = cmd.patch_fields(body)
        return self._mutate(SITE, p, site_id, lambda _: fields, if_match)

    def delete_site(self, p: Principal, site_id: str, if_match: int | None) -> None:
        """Refused while assets or active work orders reference the site."""
        require_fleet(p)
        site = self._pinned(SITE, p, site_id, if_match)
        if self.repositories.assets.site_has_assets(p.tenant_id, site_id):
            raise Conflict(f"Site '{site_id}' still has assets; delete or move them first.")
        if self.repositories.work_orders.any_active_for_site(p.tenant_id, site_id):
            raise Conflict(f"Site '{site_id}' has open work orders; close or cancel them first.")
        self._delete(SITE, site)

    # -- assets -----------------------------------------------------------------------------------------

    def create_asset(self, p: Principal, body: cmd.AssetCreate) -> Asset:
        require_fleet(p)
        self._referenced(SITE, p, body.site_id, "site_id")
        self._check_parent(p, body.site_id, body.parent_id)
        return self._create(ASSET, new_entity(Asset, "ast", p, body.model_dump()))

    def read_asset(self, p: Principal, asset_id: str) -> Doc:
        return self._read(ASSET, p, asset_id)

    def list_assets(
        self,
        p: Principal,
        limit: int,
        cursor: str | None,
        *,
        site_id: str | None = None,
        parent_id: str | None = None,
        types: Sequence[str] = (),
        statuses: Sequence[str] = (),
    ) -> bytes:
        filters: dict[str, Any] = {"site_id": site_id, "parent_id": parent_id, "types": types, "statuses": statuses}
        return self._page(
            ASSET,
            p,
            {"limit": limit, "cursor": cursor, **filters},
            lambda: self.repositories.assets.list(p.tenant_id, limit=limit, cursor=cursor, **filters),
        )

    def update_asset(self, p: Principal, asset_id: str, body: cmd.AssetPatch, if_match: int | None) -> Asset:
        require_fleet(p)
        fields = cmd.patch_fields(body)

        def change(current: Asset) -> dict[str, Any]:
            if "parent_id" in fields:
                self._check_parent(p, current.site_id, fields["parent_id"], current.id)
            return fields

        return self._mutate(ASSET, p, asset_id, change, if_match)

    def delete_asset(self, p: Principal, asset_id: str, if_match: int | None) -> None:
        """Refused while child assets or active work orders reference the asset."""
        require_fleet(p)
        asset = self._pinned(ASSET, p, asset_id, if_match)
        if self.repositories.assets.has_children(p.tenant_id, asset_id):
            raise Conflict(f"Asset '{asset_id}' has child assets; delete or re-parent them first.")
        if self.repositories.work_orders.any_active_for_asset(p.tenant_id, asset_id):
            raise Conflict(f"Asset '{asset_id}' has open work orders; close or cancel them first.")
        self._delete(ASSET, asset)

    def _check_parent(self, p: Principal, site_id: str, parent_id: str | None, asset_id: str | None = None) -> None:
        """A parent must exist on the same site, and a move must not close a cycle."""
        if parent_id is None:
            return
        if parent_id == asset_id:
            raise field_error("parent_id", "an asset cannot be its own parent")
        parent = self._referenced(ASSET, p, parent_id, "parent_id")
        if parent.site_id != site_id:
            raise field_error("parent_id", f"asset '{parent_id}' is on another site")
        # Walk up so a move cannot close a cycle; hierarchies are a few levels deep.
        seen = {parent_id}
        while parent.parent_id is not None:
            if parent.parent_id == asset_id or parent.parent_id in seen:
                raise field_error("parent_id", "the move would make the hierarchy a cycle")
            seen.add(parent.parent_id)
            parent = self.repositories.assets.get(p.tenant_id, parent.parent_id)
