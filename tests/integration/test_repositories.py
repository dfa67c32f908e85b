"""The DynamoDB repositories (moto) keep the promises of the services' ports (dcmms.services.ports):
creates are conditional (AlreadyExists), replaces and deletes are versioned (StaleVersion)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from dcmms.domain.errors import NotFound
from dcmms.domain.model import Site, SiteKind
from dcmms.store.errors import AlreadyExists, StaleVersion
from dcmms.store.repositories import SiteRepository

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _site(tenant_id: str) -> Site:
    return Site(
        id="site_once",
        tenant_id=tenant_id,
        name="Once",
        kind=SiteKind.solar,
        capacity_mw=1.0,
        timezone="UTC",
        created_at=NOW,
        updated_at=NOW,
    )


def test_an_id_is_created_once_and_written_only_at_the_version_read(stack) -> None:
    repo, site = SiteRepository(), _site(f"t-{uuid.uuid4().hex[:10]}")
    repo.create(site)
    with pytest.raises(AlreadyExists):
        repo.create(site.model_copy(update={"name": "Twice"}))
    assert repo.get(site.tenant_id, site.id).name == "Once"
    renamed = site.model_copy(update={"name": "Renamed", "version": 2})
    repo.replace(renamed, expected_version=1)
    with pytest.raises(StaleVersion):
        repo.replace(site.model_copy(update={"version": 2}), expected_version=1)
    with pytest.raises(StaleVersion):
        repo.delete(site)  # at version 1; the stored one is at 2
    repo.delete(renamed)
    with pytest.raises(NotFound):
        repo.get(site.tenant_id, site.id)
