"""Store exceptions, importable without loading pynamodb."""


class StaleVersion(Exception):
    """The stored item's version is not the one the write was based on."""


class AlreadyExists(Exception):
    """A create found an item with the same id: creates are conditional, so an id is stored at most once."""


class RefusedValue(Exception):
    """The identity provider refused one input (an email it cannot take, a password against its policy)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
