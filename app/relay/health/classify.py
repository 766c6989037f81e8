"""Which failure kind an upstream outcome is, for ``HealthBook.record``.

``None`` means the outcome says nothing about the channel's health (the caller's own mistake, a
model this channel does not serve): do not record it as a failure.
"""

from __future__ import annotations

import re

from app.relay.protocols import ir

CONNECT = "connect"
TIMEOUT = "timeout"
HTTP_5XX = "http_5xx"
HTTP_429 = "http_429"
OVERLOADED = "overloaded"
AUTH = "auth"
BILLING = "billing"

#: How providers say "this account cannot pay" (DeepSeek 402 "Insufficient Balance", Anthropic 400
#: "Your credit balance is too low", SiliconFlow 403 "account balance is insufficient", Zhipu
#: "余额不足" / "欠费", OpenRouter 402 "insufficient credits"...). Not "exceeded your current quota":
#: Gemini says that about rate limits; OpenAI's billing case carries the insufficient_quota code.
_BILLING_TEXT = re.compile(
    r"insufficient[\s_-]*(account[\s_-]*)?(balance|quota|credit|credits|funds)"
    r"|credit balance is too low|balance is (too low|insufficient|not enough)|out of credits?"
    r"|(account|payment) (is )?(overdue|in arrears)|余额不足|欠费",
    re.IGNORECASE,
)


def mentions_billing(text: str) -> bool:
    """The error text says the upstream account is out of money or quota."""
    return bool(_BILLING_TEXT.search(text))


def kind_for_unavailable(reason: str) -> str:
    """``UpstreamUnavailable.reason`` -> "timeout" or "connect"."""
    lowered = reason.lower()
    if "connect" in lowered or "connection" in lowered:
        return CONNECT
    return TIMEOUT


def kind_for_status(status: int, error: ir.Error | None = None) -> str | None:
    """An upstream HTTP status (and its parsed error) -> failure kind, or None when it is not the
    channel's fault (success, the caller's invalid request, an unknown model)."""
    if status < 400:
        return None
    text = f"{error.code or ''} {error.message}" if error is not None else ""
    if status == 402 or (error is not None and (error.kind == "insufficient_quota" or mentions_billing(text))):
        return BILLING
    if status in (401, 403) or (error is not None and error.kind in ("authentication", "permission")):
        return AUTH
    if status == 429:
        return HTTP_429
    if status in (408, 504) or (error is not None and error.kind == "timeout"):
        return TIMEOUT
    if status in (503, 529) or (error is not None and error.kind == "overloaded"):
        return OVERLOADED
    if status >= 500:
        return HTTP_5XX
    return None
