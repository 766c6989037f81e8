"""The routing table the hot path reads: every enabled channel with its keys decrypted, held in
memory and reloaded from the database every few seconds (or at once after an operator change
on this process)."""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import Callable
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.lib.crypto import SecretBox
from app.relay.channels import repository
from app.relay.channels.schemas import PROTOCOL_OF


class Route(msgspec.Struct, frozen=True):
    """One channel as the relay sees it."""

    id: int
    name: str
    type: str
    protocol: str  # wire protocol upstream: "openai" | "anthropic" | "gemini"
    base_url: str
    keys: tuple[str, ...]
    models: frozenset[str]
    model_map: dict[str, str]
    priority: int
    weight: int
    api_version: str | None
    connect_timeout: float
    first_byte_timeout: float
    idle_timeout: float
    total_timeout: float

    def upstream_model(self, public: str) -> str:
        return self.model_map.get(public, public)


class _Snapshot(msgspec.Struct):
    routes: list[Route]
    by_model: dict[str, list[Route]]
    loaded_at: float


class ChannelDirectory:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], box: SecretBox, ttl: float,
                 rand: Callable[[], float] = random.random) -> None:
        self._sessionmaker = sessionmaker
        self._box = box
        self._ttl = ttl
        self._rand = rand
        self._snapshot: _Snapshot | None = None
        self._lock = asyncio.Lock()
        self._key_turn: dict[int, Any] = {}

    def invalidate(self) -> None:
        """Reload on next use (after an operator change made through this process)."""
        self._snapshot = None

    async def _current(self) -> _Snapshot:
        snap = self._snapshot
        if snap is not None and time.monotonic() - snap.loaded_at < self._ttl:
            return snap
        async with self._lock:  # one reload at a time; the others wait for its result
            snap = self._snapshot
            if snap is None or time.monotonic() - snap.loaded_at >= self._ttl:
                snap = await self._load()
                self._snapshot = snap
        return snap

    async def _load(self) -> _Snapshot:
        async with self._sessionmaker() as session:
            rows = await repository.all_with_keys(session)
        routes: list[Route] = []
        for ch in rows:
            if not ch.enabled:
                continue
            routes.append(Route(
                id=ch.id, name=ch.name, type=ch.type, protocol=PROTOCOL_OF[ch.type], base_url=ch.base_url,
                keys=tuple(self._box.decrypt(k.secret_encrypted) for k in ch.keys if k.enabled),
                models=frozenset(ch.models), model_map=dict(ch.model_map), priority=ch.priority,
                weight=ch.weight, api_version=ch.api_version, connect_timeout=ch.connect_timeout,
                first_byte_timeout=ch.first_byte_timeout, idle_timeout=ch.idle_timeout,
                total_timeout=ch.total_timeout,
            ))
        by_model: dict[str, list[Route]] = {}
        for route in routes:
            for model in route.models:
                by_model.setdefault(model, []).append(route)
        return _Snapshot(routes=routes, by_model=by_model, loaded_at=time.monotonic())

    async def routes(self) -> list[Route]:
        """Every enabled channel (for health probes)."""
        return list((await self._current()).routes)

    async def models(self) -> list[str]:
        """Every public model name some enabled channel serves."""
        return sorted((await self._current()).by_model)

    async def candidates(self, model: str, protocols: frozenset[str] | None = None) -> list[Route]:
        """Channels that serve ``model``, in the order to try them: higher priority first; within
        one priority, a weighted random order (so weights split the traffic and failover still
        visits every channel once)."""
        routes = (await self._current()).by_model.get(model, [])
        if protocols is not None:
            routes = [r for r in routes if r.protocol in protocols]
        rand = self._rand

        def order(r: Route) -> tuple[int, float]:
            # Efraimidis–Spirakis: u^(1/w) sorted descending is a weighted random permutation.
            return (-r.priority, -(rand() ** (1.0 / r.weight)))

        return sorted(routes, key=order)

    def next_key(self, route: Route) -> str:
        """Round-robin over the channel's keys."""
        turn = self._key_turn.get(route.id)
        if turn is None:
            turn = self._key_turn[route.id] = itertools.count()
        return route.keys[next(turn) % len(route.keys)] if route.keys else ""
