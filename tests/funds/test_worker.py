"""The arq worker's job, through its real startup: an orphan hold in Redis (its replica died
after reserving) is released once expired, and one whose request was settled is applied once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from redis.asyncio import Redis

from app import worker
from app.tenants.funds import RedisFunds
from tests.support.backends import backend_settings
from tests.support.harness import prepare_database
from tests.support.services import POSTGRES_URL, REDIS_URL, require


def test_worker_resolves_orphan_holds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    require("PostgreSQL", POSTGRES_URL)
    require("Redis", REDIS_URL)
    with backend_settings("postgres", tmp_path) as settings:
        prepare_database(settings)
        monkeypatch.setenv("DATABASE_URL", settings.database_url)
        monkeypatch.setenv("REDIS_URL", settings.redis_url or "")
        monkeypatch.setenv("WAYSTATION_REDIS_PREFIX", settings.redis_prefix)
        monkeypatch.setenv("WAYSTATION_SECRET_KEY", settings.secret_key)
        asyncio.run(_scenario(settings.redis_prefix))


async def _scenario(prefix: str) -> None:
    async def no_balance(wallets):  # the dead replica's view: wallet 1 had 1000
        return {w: 1000 for w in wallets}

    async def nothing_settled(rids):
        return {}

    dead = RedisFunds(Redis.from_url(REDIS_URL), no_balance, nothing_settled, prefix=prefix)
    assert await dead.reserve("orphan", [(1, 900)], ttl=0.05) is None
    await dead.aclose()  # the replica dies without settling or releasing
    await asyncio.sleep(0.1)

    ctx: dict = {}
    await worker.startup(ctx)
    try:
        assert await worker.reconcile_holds(ctx) >= 1
        redis = Redis.from_url(REDIS_URL)
        assert await redis.zcard(prefix + "holds") == 0
        held = await redis.hget(prefix + "w:1", "held")
        assert int(held or 0) == 0
        await redis.aclose()
    finally:
        await worker.shutdown(ctx)
