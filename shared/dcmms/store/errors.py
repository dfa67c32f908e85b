"""Store exceptions, importable without loading pynamodb."""


class StaleVersion(Exception):
    """The stored item's version is not the one the write was based on."""
