"""The limiter for the configuration: Redis when configured (limits hold across replicas), else
in-process."""

from __future__ import annotations

from redis.asyncio import Redis

from app.config import Settings
from app.relay.limits.base import Limiter
from app.relay.limits.local import LocalLimiter
from app.relay.limits.redis_store import RedisLimiter


def create_limiter(settings: Settings, *, lease: float = 600.0) -> Limiter:
    """``lease``: seconds a concurrency slot survives a request that never finishes (use the
    longest a request may run)."""
    if settings.redis_url:
        return RedisLimiter(Redis.from_url(settings.redis_url), prefix=settings.redis_prefix, lease=lease)
    return LocalLimiter(lease=lease)
