"""One channel's circuit breaker as plain data and pure transitions (no I/O, no clock).

``LocalHealth`` runs these functions directly; ``RedisHealth`` runs a Lua transcription of them
(``redis_scripts.py``) so every replica's update is atomic, and reads the result back into this
same :class:`Circuit`. Both are tested against the same behaviour.

States: ``closed`` (traffic flows) -> ``open`` (no traffic until the cool-down ends) ->
``half_open`` (the cool-down is over: one trial at a time) -> ``closed`` on a success, ``open``
again (with a doubled cool-down) on a failure. ``disabled`` is outside that cycle: an auth or
billing failure puts the channel there, and only consecutive successful probes bring it back.
Half-open is not stored: it is an open circuit whose cool-down has passed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from app.relay.health.policy import MAX_LEVEL, HealthPolicy
from app.relay.health.schemas import ChannelHealth, CircuitState


@dataclass(frozen=True, slots=True)
class Change:
    """A state change worth an operator event: ``kind`` is the event kind, ``cause`` a short code
    (``consecutive`` / ``rate`` for ``opened``, ``probe`` / ``traffic`` for ``closed``, the failure
    kind for ``auto_disabled`` and ``probe_failed``, ``probes`` / ``operator`` for ``re_enabled``)."""

    kind: str
    cause: str


@dataclass(slots=True)
class Bucket:
    number: int = -1  # which window slice this is (time // bucket length); -1: never used
    attempts: int = 0
    failures: int = 0


@dataclass(slots=True)
class Circuit:
    """Everything known about one channel. Times are seconds since the epoch (0: never)."""

    state: str = "closed"  # "closed" | "open" | "disabled"
    until: float = 0.0  # open: end of the cool-down
    level: int = 0  # cool-down = policy.cooldown * 2**level
    opened_at: float = 0.0
    closed_at: float = 0.0
    consecutive: int = 0
    trial_until: float = 0.0  # half-open: lease of the trial in flight
    probe_streak: int = 0  # disabled: consecutive successful probes
    probe_failing: bool = False
    last_probe_at: float = 0.0
    reason: str = ""  # disabled: why
    attempts: int = 0
    failures: int = 0
    ttfb_ms: float = -1.0  # -1: no sample yet
    last_kind: str = ""
    last_failure_at: float = 0.0
    buckets: list[Bucket] = field(default_factory=list)

    # ------------------------------------------------------------------ reading

    def state_at(self, now: float) -> CircuitState:
        if self.state == "closed":
            return "closed"
        if self.state == "disabled":
            return "disabled"
        return "open" if now < self.until else "half_open"

    def admits(self, now: float) -> bool:
        """May a request be sent now? Half-open admits only while no trial holds the lease."""
        state = self.state_at(now)
        return state == "closed" or (state == "half_open" and self.trial_until <= now)

    def window_totals(self, policy: HealthPolicy, now: float) -> tuple[int, int]:
        """(attempts, failures) in the sliding window ending now."""
        current = int(now * 1000) // policy.bucket_ms
        attempts = failures = 0
        for b in self.buckets:
            if b.number > current - policy.window_buckets:
                attempts += b.attempts
                failures += b.failures
        return attempts, failures


# ---------------------------------------------------------------------- transitions


def _count(c: Circuit, policy: HealthPolicy, now: float, ok: bool) -> None:
    n = policy.window_buckets
    if len(c.buckets) != n:
        c.buckets = [Bucket() for _ in range(n)]
    number = int(now * 1000) // policy.bucket_ms
    b = c.buckets[number % n]
    if b.number != number:
        b.number, b.attempts, b.failures = number, 0, 0
    b.attempts += 1
    if not ok:
        b.failures += 1


def _open(c: Circuit, policy: HealthPolicy, now: float) -> None:
    """Closed -> open. Opening again soon after closing is the same trouble: keep doubling."""
    c.level = min(c.level + 1, MAX_LEVEL) if c.closed_at and now - c.closed_at < policy.window else 0
    c.state, c.opened_at, c.until, c.trial_until = "open", now, now + policy.cooldown_for(c.level), 0.0


def _close(c: Circuit, now: float) -> None:
    c.state, c.closed_at, c.until, c.trial_until = "closed", now, 0.0, 0.0
    c.consecutive = c.probe_streak = 0
    c.reason = ""
    c.buckets = []  # a fresh start: failures from before the outage must not re-trip it


def record(c: Circuit, policy: HealthPolicy, now: float, ok: bool, *, kind: str | None = None,
           ttfb_ms: float | None = None, probe: bool = False, detail: str = "") -> list[Change]:
    """Apply one attempt's (or probe's) outcome; returns the changes to report. ``detail`` (a
    short note such as "HTTP 401 invalid_api_key") becomes part of a disabled channel's reason."""
    changes: list[Change] = []
    kind = None if ok else (kind or "error")
    if probe:
        c.last_probe_at = now
        if kind is not None and not c.probe_failing:
            changes.append(Change("probe_failed", kind))
        c.probe_failing = kind is not None
    else:
        c.attempts += 1
        c.failures += 0 if ok else 1
        _count(c, policy, now, ok)
        if ok and ttfb_ms is not None:
            c.ttfb_ms = ttfb_ms if c.ttfb_ms < 0 else policy.ttfb_alpha * ttfb_ms + (1 - policy.ttfb_alpha) * c.ttfb_ms
    if kind is not None:
        c.last_kind, c.last_failure_at = kind, now

    if kind is not None and kind in policy.disable_kinds:
        c.probe_streak = 0
        if c.state != "disabled":
            # A probe that disables the channel says so once, as the auto_disabled event.
            changes = [x for x in changes if x.kind != "probe_failed"]
            c.state, c.trial_until, c.until = "disabled", 0.0, 0.0
            c.reason = f"{kind}: {detail}" if detail else kind
            changes.append(Change("auto_disabled", kind))
        return changes
    if c.state == "disabled":
        # Only probes speak for a disabled channel (late answers of requests sent before it was
        # disabled do not).
        if probe:
            c.probe_streak = c.probe_streak + 1 if ok else 0
            if c.probe_streak >= policy.reenable_after:
                _close(c, now)
                c.level = 0
                changes.append(Change("re_enabled", "probes"))
        return changes

    c.consecutive = 0 if ok else c.consecutive + 1
    state = c.state_at(now)
    if state == "closed":
        if kind is None:
            return changes
        if c.consecutive >= policy.failure_threshold:
            _open(c, policy, now)
            changes.append(Change("opened", "consecutive"))
        elif not probe:
            attempts, failures = c.window_totals(policy, now)
            if attempts >= policy.min_window_attempts and failures >= policy.error_rate * attempts:
                _open(c, policy, now)
                changes.append(Change("opened", "rate"))
    elif state == "open":
        # Still cooling down. Late answers of requests sent before it opened change nothing, but a
        # successful probe is fresh evidence: end the cool-down so a trial may go at once.
        if ok and probe:
            c.until, c.trial_until = now, 0.0
    elif ok:  # half-open: the trial (or a probe) worked
        _close(c, now)
        changes.append(Change("closed", "probe" if probe else "traffic"))
    else:  # half-open: still broken; wait longer this time
        c.level = min(c.level + 1, MAX_LEVEL)
        c.until, c.trial_until = now + policy.cooldown_for(c.level), 0.0
    return changes


@dataclass(slots=True)
class Successes:
    """Successful attempts (not probes) that one replica recorded on a circuit it saw closed, and
    has not written to the shared book yet: what ``record`` did for each of them, folded so that
    ``apply_successes`` can do it for all of them at once, later."""

    count: int = 0
    last_at: float = 0.0
    #: window bucket number -> (successes in it, time of the latest)
    buckets: dict[int, tuple[int, float]] = field(default_factory=dict)
    #: time-to-first-byte samples: how many, their moving average started from zero
    #: (sum of alpha * (1 - alpha)**(k - i) * x_i) and started from the first sample.
    samples: int = 0
    ttfb_sum: float = 0.0
    ttfb_from_first: float = 0.0

    def add(self, policy: HealthPolicy, now: float, ttfb_ms: float | None) -> None:
        self.count += 1
        self.last_at = max(self.last_at, now)
        number = int(now * 1000) // policy.bucket_ms
        count, latest = self.buckets.get(number, (0, 0.0))
        self.buckets[number] = (count + 1, max(latest, now))
        self._forget_old_buckets(policy, number)
        if ttfb_ms is not None:
            a = policy.ttfb_alpha
            self.ttfb_from_first = ttfb_ms if not self.samples else a * ttfb_ms + (1 - a) * self.ttfb_from_first
            self.ttfb_sum = a * ttfb_ms + (1 - a) * self.ttfb_sum
            self.samples += 1

    def then(self, later: Successes, policy: HealthPolicy) -> Successes:
        """These successes followed by ``later`` ones (a write that failed is retried with what
        came since)."""
        decay = (1 - policy.ttfb_alpha) ** later.samples
        out = Successes(self.count + later.count, max(self.last_at, later.last_at), dict(self.buckets),
                        self.samples + later.samples, decay * self.ttfb_sum + later.ttfb_sum,
                        decay * self.ttfb_from_first + later.ttfb_sum if self.samples else later.ttfb_from_first)
        for number, (count, latest) in later.buckets.items():
            before, at = out.buckets.get(number, (0, 0.0))
            out.buckets[number] = (before + count, max(at, latest))
        if out.buckets:
            out._forget_old_buckets(policy, max(out.buckets))
        return out

    def _forget_old_buckets(self, policy: HealthPolicy, newest: int) -> None:
        for number in [n for n in self.buckets if n <= newest - policy.window_buckets]:
            del self.buckets[number]


def apply_successes(c: Circuit, policy: HealthPolicy, s: Successes) -> None:
    """Apply successes recorded earlier, as ``record`` would have, except that they never change
    the state (only successes seen on a closed circuit are deferred): they count as attempts, in
    the window unless a close since then started it afresh, feed the latency average, and end the
    run of consecutive failures if the latest of them came after its last failure. (With failures
    from several replicas in between, the exact order is lost: those failures keep their count,
    which errs towards opening the circuit.)"""
    c.attempts += s.count
    n = policy.window_buckets
    if len(c.buckets) != n:
        c.buckets = [Bucket() for _ in range(n)]
    for number, (count, latest) in s.buckets.items():
        if latest < c.closed_at:
            continue
        b = c.buckets[number % n]
        if b.number == number:
            b.attempts += count
        elif b.number < number:
            b.number, b.attempts, b.failures = number, count, 0
    if s.samples:
        decay = (1 - policy.ttfb_alpha) ** s.samples
        c.ttfb_ms = s.ttfb_from_first if c.ttfb_ms < 0 else decay * c.ttfb_ms + s.ttfb_sum
    if c.state != "disabled" and s.last_at > c.last_failure_at:
        c.consecutive = 0


def acquire_trial(c: Circuit, policy: HealthPolicy, now: float) -> bool:
    """Take the half-open trial lease (one trial at a time). A closed circuit needs none."""
    state = c.state_at(now)
    if state == "closed":
        return True
    if state != "half_open" or c.trial_until > now:
        return False
    c.trial_until = now + policy.trial_lease
    return True


def reset(c: Circuit, now: float) -> list[Change]:
    """The operator puts the channel back in service (fixed its key, topped up its account)."""
    if c.state == "closed":
        return []
    was = c.state
    _close(c, now)
    c.level = 0
    return [Change("re_enabled" if was == "disabled" else "closed", "operator")]


def disable(c: Circuit, reason: str) -> None:
    """Restore an auto-disabled state remembered by the event log (after a restart)."""
    c.state, c.reason, c.probe_streak, c.trial_until, c.until = "disabled", reason, 0, 0.0, 0.0


# ---------------------------------------------------------------------- views


def _at(t: float) -> datetime | None:
    return datetime.fromtimestamp(t, UTC) if t > 0 else None


def stats(channel_id: int, c: Circuit, policy: HealthPolicy, now: float) -> ChannelHealth:
    state = c.state_at(now)
    attempts, failures = c.window_totals(policy, now)
    is_open = state in ("open", "half_open")
    return ChannelHealth(
        channel_id=channel_id, state=state, consecutive_failures=c.consecutive, attempts=c.attempts,
        failures=c.failures, window_attempts=attempts, window_failures=failures,
        error_rate=failures / attempts if attempts else 0.0,
        ewma_ttfb_ms=c.ttfb_ms if c.ttfb_ms >= 0 else None,
        opened_at=_at(c.opened_at) if is_open else None, retry_at=_at(c.until) if is_open else None,
        cooldown_seconds=policy.cooldown_for(c.level) if is_open else None,
        disabled_reason=(c.reason or None) if state == "disabled" else None,
        last_failure_kind=c.last_kind or None, last_failure_at=_at(c.last_failure_at),
        last_probe_ok=(not c.probe_failing) if c.last_probe_at else None, last_probe_at=_at(c.last_probe_at),
    )
