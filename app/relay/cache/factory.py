"""The response cache for the configuration: Redis when configured, else in-process."""

from __future__ import annotations

from redis.asyncio import Redis

from app.config import Settings
from app.relay.cache.base import ResponseCache
from app.relay.cache.local import DEFAULT_MAX_BYTES, DEFAULT_MAX_ENTRY_BYTES, LocalResponseCache
from app.relay.cache.redis_store import RedisResponseCache


def create_response_cache(settings: Settings, *, max_bytes: int = DEFAULT_MAX_BYTES,
                          max_entry_bytes: int = DEFAULT_MAX_ENTRY_BYTES) -> ResponseCache:
    """``max_bytes`` bounds the in-process cache only (Redis is bounded by its ``maxmemory``)."""
    if settings.redis_url:
        return RedisResponseCache(Redis.from_url(settings.redis_url), prefix=settings.redis_prefix,
                                  max_entry_bytes=max_entry_bytes)
    return LocalResponseCache(max_bytes=max_bytes, max_entry_bytes=max_entry_bytes)
