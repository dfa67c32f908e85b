"""Tiered and per-endpoint rate limits (GCRA in one Redis Lua script), with IETF RateLimit headers."""

from .limiter import Decision, RateLimiter
from .policy import LimitRule, PolicyError, RatePolicy, Scope, load_policy

__all__ = ["Decision", "LimitRule", "PolicyError", "RateLimiter", "RatePolicy", "Scope", "load_policy"]
