"""Redis response cache: shared by every replica.

One string per entry, ``{prefix}rc:{key}`` = the msgpack-encoded ``CachedResponse`` (bytes stay
bytes, no base64), written with ``SET ... PX ttl`` so Redis expires it. Redis's own ``maxmemory``
policy (``allkeys-lru`` / ``volatile-lru``) bounds the total; entries above ``max_entry_bytes``
are not stored, so one huge answer cannot crowd out many small ones or stall the server.

A cache may forget: when Redis is unreachable or an entry cannot be decoded (an older format),
``get`` misses and ``put`` stores nothing. Failures are logged by exception type only, never a body.
"""

from __future__ import annotations

import logging

import msgspec
from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.relay.cache.base import CachedResponse

DEFAULT_MAX_ENTRY_BYTES = 4 * 1024 * 1024

log = logging.getLogger(__name__)

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(CachedResponse)


class RedisResponseCache:
    """``redis`` is owned by the cache: ``aclose`` closes it."""

    def __init__(self, redis: Redis, *, prefix: str = "ws:", max_entry_bytes: int = DEFAULT_MAX_ENTRY_BYTES) -> None:
        self._r = redis
        self._prefix = f"{prefix}rc:"
        self.max_entry_bytes = max_entry_bytes

    async def get(self, key: str) -> CachedResponse | None:
        name = self._prefix + key
        try:
            raw = await self._r.get(name)
        except (RedisError, OSError) as exc:
            log.warning("response cache read failed: %s", type(exc).__name__)
            return None
        if raw is None:
            return None
        try:
            return _decoder.decode(raw)
        except msgspec.DecodeError:
            # Written by another version of the struct: treat as a miss and let it be replaced.
            return None

    async def put(self, key: str, response: CachedResponse, ttl: float) -> None:
        ttl_ms = int(ttl * 1000)
        if ttl_ms <= 0:
            return
        value = _encoder.encode(response)
        if len(value) > self.max_entry_bytes:
            return
        try:
            await self._r.set(self._prefix + key, value, px=ttl_ms)
        except (RedisError, OSError) as exc:
            log.warning("response cache write failed: %s", type(exc).__name__)

    async def aclose(self) -> None:
        await self._r.aclose()
