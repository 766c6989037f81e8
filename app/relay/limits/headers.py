"""OpenAI-style rate-limit response headers from an :class:`Admission`."""

from __future__ import annotations

import math

from app.relay.limits.base import Admission


def format_reset(seconds: float) -> str:
    """A duration the way OpenAI writes ``x-ratelimit-reset-*``: ``"0s"``, ``"20ms"``, ``"1.5s"``,
    ``"6m0s"``. Rounded up to the millisecond, so a client that waits this long is never early."""
    ms = math.ceil(seconds * 1000 - 1e-6) if seconds > 0 else 0
    if ms < 1000:
        return f"{ms}ms" if ms else "0s"
    minutes, ms = divmod(ms, 60_000)
    hours, minutes = divmod(minutes, 60)
    secs = f"{ms // 1000}.{ms % 1000:03d}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{hours}h{minutes}m{secs}"
    return f"{minutes}m{secs}" if minutes else secs


def rate_limit_headers(admission: Admission) -> dict[str, str]:
    """``x-ratelimit-{limit,remaining,reset}-{requests,tokens}`` for the tightest rules, and
    ``retry-after`` (whole seconds, rounded up) with ``retry-after-ms`` (which the OpenAI SDKs
    prefer) when the request was refused and waiting helps."""
    headers: dict[str, str] = {}
    if (q := admission.requests) is not None:
        headers["x-ratelimit-limit-requests"] = str(q.limit)
        headers["x-ratelimit-remaining-requests"] = str(q.remaining)
        headers["x-ratelimit-reset-requests"] = format_reset(q.reset)
    if (q := admission.tokens) is not None:
        headers["x-ratelimit-limit-tokens"] = str(q.limit)
        headers["x-ratelimit-remaining-tokens"] = str(q.remaining)
        headers["x-ratelimit-reset-tokens"] = format_reset(q.reset)
    if not admission.admitted and admission.retry_after is not None:
        ms = max(1, math.ceil(admission.retry_after * 1000 - 1e-6))
        headers["retry-after"] = str(-(-ms // 1000))
        headers["retry-after-ms"] = str(ms)
    return headers
