"""Step 2 of the request path: rate limits (RPM, TPM, concurrency) for the key, its account and
every reseller above it, checked in one round trip by the limiter (app/relay/limits)."""

from __future__ import annotations

from app.relay.errors import RelayError
from app.relay.limits import Admission, LimitRule
from app.relay.protocols import ir
from app.tenants.keys import KeyContext

_DIMENSION = {"requests": "requests per minute", "tokens": "tokens per minute", "concurrency": "concurrent requests"}


def limit_rules(key: KeyContext) -> list[LimitRule]:
    """The key's own limits, its account's (over all the account's keys) and each reseller's above
    it (over its whole subtree)."""
    rules: list[LimitRule] = []
    if key.rpm is not None or key.tpm is not None or key.max_concurrency is not None:
        rules.append(LimitRule(f"key:{key.key_id}", key.rpm, key.tpm, key.max_concurrency))
    for account_id, rpm, tpm, concurrency in key.account_limits:
        scope = "account" if account_id == key.account_id else "subtree"
        rules.append(LimitRule(f"{scope}:{account_id}", rpm, tpm, concurrency))
    return rules


def rate_limited(admission: Admission, headers: dict[str, str]) -> RelayError:
    scope = (admission.scope or "key").split(":", 1)[0]
    what = _DIMENSION.get(admission.dimension or "requests", "requests")
    wait = f" Retry after {admission.retry_after:.1f} s." if admission.retry_after is not None else ""
    return RelayError(ir.Error(kind="rate_limit", status=429, code="rate_limit_exceeded",
                               message=f"Rate limit reached for this {scope} on {what}.{wait}"), headers=headers)
