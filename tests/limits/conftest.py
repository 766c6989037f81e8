from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from tests.support.services import REDIS_URL, reachable


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    """A key prefix of its own per test (one deployment), its keys deleted afterwards."""
    prefix = f"wst:{uuid.uuid4().hex[:8]}:"
    yield prefix
    if reachable(REDIS_URL):
        r = Redis.from_url(REDIS_URL)
        keys = [k async for k in r.scan_iter(match=prefix + "*", count=1000)]
        if keys:
            await r.delete(*keys)
        await r.aclose()
