"""RateLimit-Policy and RateLimit fields of draft-ietf-httpapi-ratelimit-headers-11.

Both are structured-field Lists (RFC 9651) of String items with parameters: a policy advertises its
quota ``q`` per window ``w`` seconds; a service limit says ``r`` requests are available now and none
more for ``t`` seconds (rounded up: the draft has whole seconds only). The burst is a vendor-prefixed
policy parameter, as the draft asks of implementation-specific ones.
"""

from __future__ import annotations

from collections.abc import Iterable

from dcmms.ratelimit.policy import LimitRule

RATELIMIT_POLICY = "RateLimit-Policy"
RATELIMIT = "RateLimit"
RETRY_AFTER = "Retry-After"


def quota_policy_item(rule: LimitRule) -> str:
    """``"free";q=1000;w=3600;dcmms-burst=100``: rule names are validated to need no escaping."""
    return f'"{rule.name}";q={rule.limit};w={rule.period_s};dcmms-burst={rule.burst}'


def policy_field(rules: Iterable[LimitRule]) -> str:
    """Every policy that applies to the request, in one List."""
    return ", ".join(quota_policy_item(rule) for rule in rules)


def service_limit_item(name: str, remaining: int, window_s: int) -> str:
    """``"free";r=0;t=4``: the state of one policy after this request."""
    return f'"{name}";r={remaining};t={window_s}'
