"""What repositories return, importable without loading pynamodb (the services and the API use it too)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class ListResult(Generic[T]):
    """One page of a listing."""

    items: list[T]
    next_cursor: str | None  # opaque; None on the last page
