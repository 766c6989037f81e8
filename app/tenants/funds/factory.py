"""The funds store for the configuration: Redis when configured, else in-process."""

from __future__ import annotations

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.tenants.funds.base import FundsStore
from app.tenants.funds.ledger_io import balance_loader, settled_lookup
from app.tenants.funds.local import LocalFunds
from app.tenants.funds.redis_store import RedisFunds


def create_funds(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]) -> FundsStore:
    load, settled = balance_loader(sessionmaker), settled_lookup(sessionmaker)
    if settings.redis_url:
        return RedisFunds(Redis.from_url(settings.redis_url), load, settled, prefix=settings.redis_prefix)
    return LocalFunds(load, settled)
