"""What the health module tells the router and the operator about a channel."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

#: ``half_open``: the cool-down is over and one trial request at a time may go.
#: ``disabled``: auto-disabled after an auth or billing error, until probes succeed again.
CircuitState = Literal["closed", "open", "half_open", "disabled"]


class ChannelHealth(msgspec.Struct, kw_only=True):
    """One channel's health, as the admin API shows it."""

    channel_id: int
    state: CircuitState = "closed"
    consecutive_failures: int = 0
    #: Request attempts (not probes) since this replica (or, with Redis, the cluster) started.
    attempts: int = 0
    failures: int = 0
    #: Attempts and failures in the sliding window, and their ratio (0 when there were none).
    window_attempts: int = 0
    window_failures: int = 0
    error_rate: float = 0.0
    #: Exponentially weighted moving average of time to first byte of successful attempts.
    ewma_ttfb_ms: float | None = None
    #: When the circuit opened (start of the current outage), and when traffic may be tried again.
    opened_at: datetime | None = None
    retry_at: datetime | None = None
    cooldown_seconds: float | None = None
    disabled_reason: str | None = None
    last_failure_kind: str | None = None
    last_failure_at: datetime | None = None
    last_probe_ok: bool | None = None
    last_probe_at: datetime | None = None
