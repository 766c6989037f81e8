"""The numbers that decide when a channel's circuit opens, how long it stays open, and when an
auto-disabled channel comes back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

#: Seconds since the epoch. Wall-clock time, because replicas compare each other's timestamps
#: (through Redis); tests inject a fake one.
Clock = Callable[[], float]

#: Failure kinds that take a channel out of service until probes show it works again: its key is
#: rejected (401/403) or its account cannot pay (402, "insufficient balance").
DISABLE_KINDS = frozenset({"auth", "billing"})

#: Highest cool-down doubling kept (2**16 times the base is far past any sensible maximum).
MAX_LEVEL = 16


@dataclass(frozen=True, slots=True)
class HealthPolicy:
    #: Consecutive failures that open a closed circuit.
    failure_threshold: int = 3
    #: The error-rate rule: at least ``min_window_attempts`` attempts in the last ``window``
    #: seconds, of which at least ``error_rate`` failed, open the circuit.
    window: float = 30.0
    min_window_attempts: int = 10
    error_rate: float = 0.5
    #: The window is kept as this many buckets (window / buckets seconds each).
    window_buckets: int = 10
    #: Seconds an opened circuit refuses traffic; doubles each time it re-opens (a failed trial, or
    #: opening again within ``window`` seconds of closing), up to ``max_cooldown``.
    cooldown: float = 5.0
    max_cooldown: float = 60.0
    #: Seconds a half-open trial stays admitted without an outcome (a lost request, a crashed
    #: replica) before another trial may go.
    trial_lease: float = 10.0
    #: Consecutive successful probes that re-enable an auto-disabled channel.
    reenable_after: int = 2
    #: Weight of the newest time-to-first-byte sample in the moving average.
    ttfb_alpha: float = 0.2
    disable_kinds: frozenset[str] = field(default=DISABLE_KINDS)

    def cooldown_for(self, level: int) -> float:
        """Cool-down of a circuit opened ``level`` times in a row."""
        return min(self.cooldown * (2 ** min(level, MAX_LEVEL)), self.max_cooldown)

    @property
    def bucket_ms(self) -> int:
        return max(1, int(self.window * 1000) // self.window_buckets)
