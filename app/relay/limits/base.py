"""Rate limits on the request path: requests per minute, tokens per minute and concurrency.

The caller builds one :class:`LimitRule` per scope that applies to a request (its key, its account,
its plan, every reseller above it) and asks a :class:`Limiter` to ``admit`` the request against all
of them at once: either every rule has room and the request is counted by every rule, or nothing is
counted and the :class:`Admission` says which scope and which dimension refused, and when to retry.

Window algorithm: a **sliding-window log**. Every scope keeps the admissions of the last
:data:`WINDOW` seconds, ordered by time, each with its token count, plus a running token sum. An
admission first drops the entries that left the window (amortised O(1): each entry is dropped once),
then RPM is the number of entries and TPM the running sum. This is exact (no approximation at a
window boundary, unlike fixed windows or the two-bucket "sliding window counter"), it lets ``finish``
replace one request's provisional token count by its actual one, and it gives exact retry times (when
the oldest entries that are in the way leave the window). Its cost is memory: one entry per admitted
request per scope for 60 s, which for a scope with an RPM limit is at most that limit (denied
requests are never recorded).

Concurrency slots are **leases**: a slot counts until ``finish`` releases it or its lease expires
(a crashed request must not hold its slot forever). Request ids must be unique per admission.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

import msgspec

#: Length of the RPM/TPM sliding window, in seconds.
WINDOW = 60.0

#: Which limit refused a request (named like OpenAI's ``x-ratelimit-*-requests|tokens`` headers).
Dimension = Literal["requests", "tokens", "concurrency"]


class LimitRule(msgspec.Struct, frozen=True, gc=False):
    """The limits of one scope; ``None`` means "no limit on this dimension".

    ``scope`` is an opaque name shared by every request it covers, e.g. ``"key:12"``,
    ``"account:5"``, ``"plan:pro"``, ``"subtree:3"``. A rule with every dimension ``None`` is ignored.
    """

    scope: str
    rpm: int | None = None
    tpm: int | None = None
    concurrency: int | None = None


class Quota(msgspec.Struct, frozen=True, gc=False):
    """The tightest rule of one dimension, as the client sees it after this admission.

    ``reset``: seconds until the oldest request this rule still counts leaves the window, i.e. the
    earliest moment ``remaining`` grows (0 when the rule counts nothing).
    """

    limit: int
    remaining: int
    reset: float


class Admission(msgspec.Struct, frozen=True, gc=False):
    """The answer to ``admit``.

    When refused, ``scope`` and ``dimension`` name the rule that refused (of several, the one the
    client must wait for longest), and ``retry_after`` is in how many seconds the request would fit,
    or ``None`` when it never will (its token estimate alone exceeds the TPM limit, or a limit is 0).
    ``requests`` and ``tokens`` describe the tightest rule of each dimension (``None`` when no rule
    limits that dimension), for the ``x-ratelimit-*`` headers.
    """

    admitted: bool
    scope: str | None = None
    dimension: Dimension | None = None
    retry_after: float | None = None
    requests: Quota | None = None
    tokens: Quota | None = None


#: The answer when no rule applies (shared: admissions are immutable).
ADMITTED = Admission(admitted=True)


class Limiter(Protocol):
    async def admit(self, request_id: str, rules: Sequence[LimitRule], tokens: int,
                    now: float | None = None) -> Admission:
        """Count the request against every rule, or against none if any rule has no room.

        ``tokens`` is the caller's estimate (input + max output), counted provisionally towards TPM;
        ``now`` (seconds) is for tests, by default the limiter's own clock.
        """

    async def finish(self, request_id: str, actual_tokens: int | None) -> None:
        """The request ended: release its concurrency slots and, when ``actual_tokens`` (input +
        output) is known, count that instead of the estimate. Unknown or repeated ids do nothing."""

    async def aclose(self) -> None:
        """Release the limiter's resources."""
