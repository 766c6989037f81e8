"""A Redis client that counts its round trips (tests that prove a path costs one, or none)."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Connection, ConnectionPool, Redis

from tests.support.services import REDIS_URL


class CountingConnection(Connection):
    """A connection that counts what it sends: one send is one round trip (a command, or a whole
    pipeline)."""

    sent = 0

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        CountingConnection.sent += 1
        await super().send_packed_command(command, check_health)


def counting_redis() -> Redis:
    """A client whose round trips are counted in ``CountingConnection.sent``."""
    return Redis(connection_pool=ConnectionPool.from_url(REDIS_URL, connection_class=CountingConnection))
