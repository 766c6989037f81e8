"""Operator events: the words for each state change, and a background writer of event rows.

Events are rare (state changes, never one per request), but the request path must not wait on the
database for them: ``emit`` queues the row and a single writer task appends queued rows in small
batches, in order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.lib.clock import utcnow
from app.models import ChannelEvent
from app.relay.health import repository
from app.relay.health.circuit import Change, Circuit
from app.relay.health.policy import HealthPolicy

log = logging.getLogger("waystation.health")

#: Longest ``detail`` kept (callers pass status codes and error codes, not bodies).
MAX_DETAIL = 300
#: Rows waiting for the database beyond this are dropped (and logged): the database is down.
MAX_QUEUED = 10_000
#: Seconds ``aclose`` waits for queued events to reach the database.
SHUTDOWN_WAIT = 5.0


def clip(detail: str | None) -> str:
    text = " ".join((detail or "").split())
    return text if len(text) <= MAX_DETAIL else text[:MAX_DETAIL - 1] + "…"


def describe(change: Change, c: Circuit, policy: HealthPolicy, now: float, detail: str = "") -> str:
    """The operator-facing text of a change, from the circuit just after it."""
    if change.kind == "opened":
        cooldown = f"no traffic for {policy.cooldown_for(c.level):g} s"
        if change.cause == "rate":
            attempts, failures = c.window_totals(policy, now)
            return (f"{failures} of {attempts} attempts failed in the last {policy.window:g} s "
                    f"(last: {c.last_kind}); {cooldown}")
        return f"{c.consecutive} consecutive failures (last: {c.last_kind}); {cooldown}"
    if change.kind == "closed":
        return {"probe": "a probe succeeded after the cool-down", "traffic": "a trial request succeeded",
                "operator": "reset by the operator"}.get(change.cause, change.cause)
    if change.kind == "auto_disabled":
        return c.reason
    if change.kind == "re_enabled":
        if change.cause == "operator":
            return "re-enabled by the operator"
        return f"{policy.reenable_after} consecutive successful probes"
    return f"{change.cause}: {detail}" if detail else change.cause  # probe_failed


class EventLog:
    """Queues channel events and writes them to ``channel_events`` in the background. Without a
    sessionmaker (tests, tools) events are only logged."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession] | None,
                 now: Callable[[], datetime] = utcnow) -> None:
        self._sessionmaker = sessionmaker
        self._now = now
        self._queue: asyncio.Queue[ChannelEvent] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None

    def emit(self, channel_id: int, kind: str, detail: str) -> None:
        """Queue an event (never blocks). Must be called from the event loop."""
        level = logging.INFO if kind in ("closed", "re_enabled") else logging.WARNING
        log.log(level, "channel %s %s: %s", channel_id, kind, detail,
                extra={"channel_id": channel_id, "event": kind, "detail": detail})
        if self._sessionmaker is None:
            return
        if self._queue.qsize() >= MAX_QUEUED:
            log.error("channel event dropped: the event writer is %d rows behind", MAX_QUEUED)
            return
        self._queue.put_nowait(ChannelEvent(channel_id=channel_id, kind=kind, detail=clip(detail),
                                            created_at=self._now()))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_forever(), name="health-event-writer")

    async def _write_forever(self) -> None:
        assert self._sessionmaker is not None
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty() and len(batch) < 100:
                batch.append(self._queue.get_nowait())
            try:
                for attempt in range(3):
                    try:
                        async with self._sessionmaker() as session:
                            await repository.add_events(session, batch)
                            await session.commit()
                        break
                    except Exception:  # noqa: BLE001 - a lost event must not stop the writer
                        if attempt == 2:
                            log.exception("could not write %d channel events", len(batch))
                        else:
                            await asyncio.sleep(0.5 * (attempt + 1))
                            # a failed flush leaves the objects bound to a dead session: copy them
                            batch = [ChannelEvent(channel_id=e.channel_id, kind=e.kind, detail=e.detail,
                                                  created_at=e.created_at) for e in batch]
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def flush(self) -> None:
        """Wait until every queued event was written (or given up on)."""
        if self._writer is not None and not self._writer.done():
            await self._queue.join()

    async def aclose(self) -> None:
        try:
            async with asyncio.timeout(SHUTDOWN_WAIT):
                await self.flush()
        except TimeoutError:
            log.error("gave up writing %d channel events at shutdown", self._queue.qsize())
        if self._writer is not None:
            self._writer.cancel()
            try:
                await self._writer
            except asyncio.CancelledError:
                pass
            self._writer = None
