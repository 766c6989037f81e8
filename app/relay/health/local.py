"""Channel health in one process (embedded mode: no Redis).

Every transition runs without an ``await`` in between reading and writing a circuit, so nothing
else on the event loop can interleave: the view is the truth.
"""

from __future__ import annotations

import time

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.relay.health import circuit, repository
from app.relay.health.circuit import Change, Circuit
from app.relay.health.events import EventLog, clip, describe
from app.relay.health.policy import Clock, HealthPolicy
from app.relay.health.view import CircuitView


class LocalHealth(CircuitView):
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession] | None = None, *,
                 policy: HealthPolicy | None = None, clock: Clock = time.time) -> None:
        super().__init__(policy or HealthPolicy(), clock)
        self._sessionmaker = sessionmaker
        self.events = EventLog(sessionmaker)

    def _circuit(self, channel_id: int) -> Circuit:
        c = self._view.get(channel_id)
        if c is None:
            c = self._view[channel_id] = Circuit()
        return c

    def _report(self, channel_id: int, c: Circuit, changes: list[Change], now: float, detail: str) -> None:
        for change in changes:
            self.events.emit(channel_id, change.kind, describe(change, c, self.policy, now, detail))

    async def record(self, channel_id: int, ok: bool, *, kind: str | None = None, ttfb_ms: float | None = None,
                     probe: bool = False, detail: str | None = None) -> None:
        now = self._clock()
        c = self._circuit(channel_id)
        note = clip(detail)
        changes = circuit.record(c, self.policy, now, ok, kind=kind, ttfb_ms=ttfb_ms, probe=probe, detail=note)
        self._report(channel_id, c, changes, now, note)

    async def acquire_trial(self, channel_id: int) -> bool:
        c = self._view.get(channel_id)
        return c is None or circuit.acquire_trial(c, self.policy, self._clock())

    async def claim_probe(self, channel_id: int, interval: float) -> bool:
        return True  # the only process

    async def reset(self, channel_id: int) -> None:
        now = self._clock()
        c = self._circuit(channel_id)
        self._report(channel_id, c, circuit.reset(c, now), now, "")

    async def flush(self) -> None:
        await self.events.flush()

    async def start(self) -> None:
        for channel_id, reason in (await repository.disabled_at_start(self._sessionmaker)).items():
            circuit.disable(self._circuit(channel_id), reason)

    async def aclose(self) -> None:
        await self.events.aclose()
