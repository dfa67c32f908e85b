"""Use cases: what a caller may do to sites, assets, work orders and alerts, scoped to its tenant."""

from .maintenance import Maintenance

__all__ = ["Maintenance"]
