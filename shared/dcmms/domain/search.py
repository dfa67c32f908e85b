"""Search results as the domain sees them: what the read model's search returns and where a page ends."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

MAX_QUERY_LENGTH = 200
MAX_RESULTS = 1000  # spec §2.1: at most 1,000 results per search


class SearchType(StrEnum):
    site = "site"
    asset = "asset"
    work_order = "work_order"
    alert = "alert"


HREFS = {
    SearchType.site: "/api/v1/sites/",
    SearchType.asset: "/api/v1/assets/",
    SearchType.work_order: "/api/v1/work-orders/",
    SearchType.alert: "/api/v1/alerts/",
}


@dataclass(frozen=True)
class SearchHit:
    type: str
    id: str
    label: str  # a site's or asset's name, a work order's title, an alert's message
    site_id: str | None
    status: str | None
    rank: float
    snippet: str  # HTML-escaped text with the matched words in <mark>

    @property
    def href(self) -> str:
        return HREFS[SearchType(self.type)] + self.id


@dataclass(frozen=True)
class SearchAfter:
    """Where the previous page ended: its last hit's rank, type and id (keyset order: rank desc, type, id)."""

    rank: float
    type: str
    id: str
