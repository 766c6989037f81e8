"""The in-memory reads every health book shares: answers from a dict of circuits, no I/O."""

from __future__ import annotations

from app.relay.health import circuit
from app.relay.health.circuit import Circuit
from app.relay.health.policy import Clock, HealthPolicy
from app.relay.health.schemas import ChannelHealth


class CircuitView:
    """Holds ``channel id -> Circuit`` and answers the synchronous questions from it. In
    ``LocalHealth`` the view is the truth; in ``RedisHealth`` it is a copy refreshed from Redis."""

    def __init__(self, policy: HealthPolicy, clock: Clock) -> None:
        self.policy = policy
        self._clock = clock
        self._view: dict[int, Circuit] = {}

    def is_available(self, channel_id: int) -> bool:
        c = self._view.get(channel_id)
        return c is None or c.admits(self._clock())

    def needs_trial(self, channel_id: int) -> bool:
        c = self._view.get(channel_id)
        return c is not None and c.state_at(self._clock()) == "half_open"

    async def acquire_trial(self, channel_id: int) -> bool:  # pragma: no cover - overridden
        raise NotImplementedError

    async def admit(self, channel_id: int) -> bool:
        c = self._view.get(channel_id)
        if c is None:
            return True
        state = c.state_at(self._clock())
        if state == "closed":
            return True
        if state == "half_open":
            return await self.acquire_trial(channel_id)
        return False

    def stats(self, channel_id: int) -> ChannelHealth:
        c = self._view.get(channel_id)
        return circuit.stats(channel_id, c if c is not None else Circuit(), self.policy, self._clock())

    def all_stats(self) -> list[ChannelHealth]:
        now = self._clock()
        return [circuit.stats(cid, c, self.policy, now) for cid, c in sorted(self._view.items())]
