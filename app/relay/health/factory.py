"""The health book for the configuration: Redis when configured, else in-process."""

from __future__ import annotations

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.relay.health.base import HealthBook
from app.relay.health.local import LocalHealth
from app.relay.health.policy import HealthPolicy
from app.relay.health.redis_book import RedisHealth


def create_health(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession] | None,
                  policy: HealthPolicy | None = None) -> HealthBook:
    if settings.redis_url:
        return RedisHealth(Redis.from_url(settings.redis_url), sessionmaker, policy=policy,
                           prefix=settings.redis_prefix)
    return LocalHealth(sessionmaker, policy=policy)
