"""API keys: how they are made and the only form in which they are stored."""

from __future__ import annotations

import hashlib
import secrets

PREFIX = "dcmms_"


def new_api_key() -> str:
    """``dcmms_`` + 256 random bits; shown once to its owner, never stored."""
    return PREFIX + secrets.token_urlsafe(32)


def hash_api_key(raw_key: str) -> str:
    """SHA-256 hex of the key. Keys are 256-bit random tokens, so a fast hash is safe (no dictionary)."""
    return hashlib.sha256(raw_key.encode()).hexdigest()
