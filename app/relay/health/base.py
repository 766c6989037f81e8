"""What the relay asks of channel health, whatever keeps it (one process, or Redis for many)."""

from __future__ import annotations

from typing import Protocol

from app.relay.health.schemas import ChannelHealth


class HealthBook(Protocol):
    """Circuit breakers, auto-disable and latency of every channel.

    The hot path calls ``is_available`` (synchronous, O(1), from memory) for every candidate,
    ``admit`` (or ``needs_trial`` + ``acquire_trial``) just before sending to one, and ``record``
    after each attempt. Unknown channels are healthy.
    """

    def is_available(self, channel_id: int) -> bool:
        """False while the circuit is open (cooling down), while a half-open trial is in flight,
        or while the channel is auto-disabled. Synchronous and O(1): reads the in-memory view."""

    def needs_trial(self, channel_id: int) -> bool:
        """The circuit is half-open: the request may only go if ``acquire_trial`` says so."""

    async def acquire_trial(self, channel_id: int) -> bool:
        """Take the half-open trial (one at a time across every replica). True for a closed
        circuit, False for an open or disabled one."""

    async def admit(self, channel_id: int) -> bool:
        """``is_available``, and for a half-open circuit ``acquire_trial``: call it right before
        sending to the channel; skip the channel when False."""

    async def record(self, channel_id: int, ok: bool, *, kind: str | None = None, ttfb_ms: float | None = None,
                     probe: bool = False, detail: str | None = None) -> None:
        """The outcome of one attempt (``probe``: of one active probe). ``kind``: why it failed
        ("connect", "timeout", "http_5xx", "http_429", "overloaded", "auth", "billing", ...; see
        ``classify``); "auth" and "billing" auto-disable the channel. ``ttfb_ms`` of successes
        feeds the latency average. ``detail``: a short note for the operator event (status and
        error code), never request or response text. A failure is in the shared book when this
        returns; a success on a closed circuit may be written in the background (``RedisHealth``
        does, about ten times a second), which is why the request path need not wait for it."""

    async def claim_probe(self, channel_id: int, interval: float) -> bool:
        """Whether this replica should probe the channel now: True for one replica per
        ``interval`` seconds."""

    async def reset(self, channel_id: int) -> None:
        """The operator puts the channel back in service now (closed circuit, not disabled)."""

    def stats(self, channel_id: int) -> ChannelHealth:
        """Health of one channel for the admin API (from the in-memory view)."""

    def all_stats(self) -> list[ChannelHealth]:
        """Health of every channel with a recorded history, by channel id."""

    async def flush(self) -> None:
        """Wait until every pending operator event is in the database, and every success
        recorded in the background is in the shared book (tests, shutdown)."""

    async def start(self) -> None:
        """Restore auto-disabled channels from the event log and start background work."""

    async def aclose(self) -> None:
        """Stop background work and write pending events."""
