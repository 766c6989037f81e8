"""In-process limiter (embedded mode: one process, no Redis).

``admit`` is atomic because it never awaits: nothing else on the event loop can run between the
checks and the recording. Each scope keeps a deque of the entries of the last :data:`WINDOW`
seconds (one shared :class:`_Entry` per admitted request, so ``finish`` can correct its token count
in every scope at once) and a dict of concurrency leases.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Sequence

from app.relay.limits.base import ADMITTED, WINDOW, Admission, Dimension, LimitRule, Quota


class _Entry:
    """One admitted request in the sliding windows of its scopes."""

    __slots__ = ("at", "tokens")

    def __init__(self, at: float, tokens: int) -> None:
        self.at = at
        self.tokens = tokens


class _Scope:
    """What one scope counts: window entries (oldest first), their token sum, concurrency leases."""

    __slots__ = ("entries", "used", "horizon", "leases")

    def __init__(self) -> None:
        self.entries: deque[_Entry] = deque()
        self.used = 0
        #: every entry with ``at <= horizon`` has left ``entries``
        self.horizon = -math.inf
        #: request id -> lease expiry, in expiry order (one lease length, a clock that never goes back)
        self.leases: dict[str, float] = {}

    def trim(self, cutoff: float) -> None:
        entries = self.entries
        while entries and entries[0].at <= cutoff:
            self.used -= entries.popleft().tokens
        self.horizon = cutoff

    def prune(self, now: float) -> None:
        leases = self.leases
        while leases:
            rid = next(iter(leases))
            if leases[rid] > now:
                break
            del leases[rid]

    def tokens_retry(self, need: int, now: float) -> float:
        """Seconds until the oldest entries holding at least ``need`` tokens have left the window."""
        freed = 0
        for entry in self.entries:
            freed += entry.tokens
            if freed >= need:
                return entry.at + WINDOW - now
        return 0.0

    def reset(self, now: float) -> float:
        return self.entries[0].at + WINDOW - now if self.entries else 0.0


class _Record:
    """What ``finish`` must undo for one admitted request."""

    __slots__ = ("entry", "windows", "slots", "expires")

    def __init__(self, entry: _Entry, windows: list[_Scope], slots: list[_Scope], expires: float) -> None:
        self.entry = entry
        self.windows = windows
        self.slots = slots
        self.expires = expires


class LocalLimiter:
    """Rate limits for one process. ``lease``: seconds a concurrency slot lasts without ``finish``
    (the longest a request may run); ``busy_retry``: the ``retry_after`` of a concurrency refusal."""

    def __init__(self, *, lease: float = 600.0, busy_retry: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._lease = lease
        self._busy_retry = busy_retry
        self._keep = max(lease, WINDOW)
        self._clock = clock
        self._last = -math.inf
        self._scopes: dict[str, _Scope] = {}
        self._records: dict[str, _Record] = {}  # in expiry order
        self._next_sweep = -math.inf

    async def admit(self, request_id: str, rules: Sequence[LimitRule], tokens: int,
                    now: float | None = None) -> Admission:
        """See :meth:`Limiter.admit`. No ``await`` in here: that is what makes it atomic."""
        if now is None:
            now = self._clock()
        # Deques and lease dicts stay ordered only if time never goes back.
        if now < self._last:
            now = self._last
        else:
            self._last = now
        if now >= self._next_sweep:
            self._sweep(now)
        if tokens < 0:
            tokens = 0
        cutoff = now - WINDOW
        scopes = self._scopes
        checked: list[tuple[LimitRule, _Scope]] = []
        deny_after = -1.0  # seconds; inf = never; -1 = nobody refused
        deny_rule: LimitRule | None = None
        deny_dim: Dimension | None = None
        rq_rule: LimitRule | None = None  # the tightest rule of each dimension, and its scope
        tk_rule: LimitRule | None = None
        rq_scope: _Scope | None = None
        tk_scope: _Scope | None = None
        rq_left = tk_left = 0

        for rule in rules:
            rpm, tpm, conc = rule.rpm, rule.tpm, rule.concurrency
            if rpm is None and tpm is None and conc is None:
                continue
            scope = scopes.get(rule.scope)
            if scope is None:
                scope = scopes[rule.scope] = _Scope()
            checked.append((rule, scope))
            if rpm is not None or tpm is not None:
                scope.trim(cutoff)
                if rpm is not None:
                    count = len(scope.entries)
                    if count >= rpm:
                        after = scope.entries[count - rpm].at + WINDOW - now if rpm > 0 else math.inf
                        if after > deny_after:
                            deny_after, deny_rule, deny_dim = after, rule, "requests"
                    if rq_rule is None or rpm - count < rq_left:
                        rq_rule, rq_scope, rq_left = rule, scope, rpm - count
                if tpm is not None:
                    used = scope.used
                    if used + tokens > tpm:
                        after = scope.tokens_retry(used + tokens - tpm, now) if tokens <= tpm else math.inf
                        if after > deny_after:
                            deny_after, deny_rule, deny_dim = after, rule, "tokens"
                    if tk_rule is None or tpm - used < tk_left:
                        tk_rule, tk_scope, tk_left = rule, scope, tpm - used
            if conc is not None:
                scope.prune(now)
                if len(scope.leases) >= conc:
                    after = self._busy_retry if conc > 0 else math.inf
                    if after > deny_after:
                        deny_after, deny_rule, deny_dim = after, rule, "concurrency"

        if not checked:
            return ADMITTED
        admitted = deny_rule is None
        if admitted:
            self._record(request_id, checked, tokens, now)
            rq_left -= 1
            tk_left -= tokens
        requests: Quota | None = None
        tokens_quota: Quota | None = None
        if rq_rule is not None and rq_scope is not None and rq_rule.rpm is not None:
            requests = Quota(rq_rule.rpm, max(rq_left, 0), rq_scope.reset(now))
        if tk_rule is not None and tk_scope is not None and tk_rule.tpm is not None:
            tokens_quota = Quota(tk_rule.tpm, max(tk_left, 0), tk_scope.reset(now))
        if admitted:
            return Admission(True, requests=requests, tokens=tokens_quota)
        return Admission(False, deny_rule.scope if deny_rule else None, deny_dim,
                         None if deny_after == math.inf else deny_after, requests, tokens_quota)

    def _record(self, request_id: str, checked: list[tuple[LimitRule, _Scope]], tokens: int, now: float) -> None:
        entry = _Entry(now, tokens)
        windows: list[_Scope] = []
        slots: list[_Scope] = []
        for rule, scope in checked:
            if rule.rpm is not None or rule.tpm is not None:
                if not (scope.entries and scope.entries[-1] is entry):  # the same scope twice
                    scope.entries.append(entry)
                    scope.used += tokens
                    windows.append(scope)
            if rule.concurrency is not None:
                scope.leases[request_id] = now + self._lease
                slots.append(scope)
        self._records[request_id] = _Record(entry, windows, slots, now + self._keep)

    async def finish(self, request_id: str, actual_tokens: int | None) -> None:
        """See :meth:`Limiter.finish`."""
        record = self._records.pop(request_id, None)
        if record is None:
            return
        entry = record.entry
        if actual_tokens is not None:
            delta = max(actual_tokens, 0) - entry.tokens
            if delta:
                for scope in record.windows:
                    if entry.at > scope.horizon:  # still counted there
                        scope.used += delta
                entry.tokens += delta
        for scope in record.slots:
            scope.leases.pop(request_id, None)

    def _sweep(self, now: float) -> None:
        """Forget requests that can no longer be finished usefully and scopes that count nothing
        (at most once a window: O(scopes))."""
        self._next_sweep = now + WINDOW
        records = self._records
        while records:
            rid = next(iter(records))
            if records[rid].expires > now:
                break
            del records[rid]
        cutoff = now - WINDOW
        idle = []
        for name, scope in self._scopes.items():
            scope.trim(cutoff)
            scope.prune(now)
            if not scope.entries and not scope.leases:
                idle.append(name)
        for name in idle:
            del self._scopes[name]

    async def aclose(self) -> None:
        """Nothing to release."""
        return None
