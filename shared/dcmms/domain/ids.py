"""Identifiers: a type prefix and a ULID, so ids sort by creation time and say what they name."""

from __future__ import annotations

import os
import time

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def ulid(now_ms: int | None = None, randomness: bytes | None = None) -> str:
    """A 26-character ULID: 48 bits of milliseconds then 80 random bits, Crockford base32. ``randomness`` (10
    bytes, e.g. of a hash) makes it a deterministic name of something instead."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    value = (ms << 80) | int.from_bytes(randomness[:10] if randomness else os.urandom(10), "big")
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_id(prefix: str, at_ms: int | None = None) -> str:
    """``<prefix>_<ULID>``; ``at_ms`` dates the id (seeded history), default now."""
    return f"{prefix}_{ulid(at_ms)}"
