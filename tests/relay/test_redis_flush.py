"""Acceptance: a Redis flush during traffic changes no balance. Redis only coordinates holds; the
ledger in PostgreSQL is the money, so every wallet ends at its grants minus exactly what its
successful responses reported, and the mirrors rebuild from the ledger."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import pytest
from redis import Redis

from tests.fakes import ProviderServer, Stall
from tests.support.harness import Relay
from tests.support.money import balance, create_account, grant, key_for, set_catalog_price, verify
from tests.support.upstreams import add_upstream_channel

GRANT = 5_000_000


async def _traffic(relay: Relay, keys: list[str], model: str, n: int) -> list[tuple[int, httpx.Response]]:
    async with httpx.AsyncClient(base_url=relay.base_url, timeout=60, limits=httpx.Limits(max_connections=n)) as c:
        async def one(i: int) -> tuple[int, httpx.Response]:
            await asyncio.sleep(0.005 * i)  # spread over ~1 s, so the flush lands mid-traffic
            r = await c.post("/v1/chat/completions", headers={"authorization": f"Bearer {keys[i % len(keys)]}"},
                             json={"model": model, "messages": [{"role": "user", "content": f"request number {i}"}]})
            return i % len(keys), r
        return await asyncio.gather(*(one(i) for i in range(n)))


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)  # embedded mode has no Redis to flush
def test_redis_flush_during_traffic_changes_no_balance(relay: Relay, upstreams: dict[str, ProviderServer]) -> None:
    assert relay.settings.redis_url
    model = "flush-model"
    add_upstream_channel(relay, "openai", upstreams["openai"], [model])
    set_catalog_price(relay, model, input=1_000_000, output=1_000_000)  # 1 micro-unit per token
    customers = [create_account(relay, "customer") for _ in range(4)]
    for c in customers:
        grant(relay, c, GRANT)
    keys = [key_for(relay, c) for c in customers]
    upstreams["openai"].provider.script(*[Stall(0.05) for _ in range(200)])

    redis = Redis.from_url(relay.settings.redis_url)
    flusher = threading.Timer(0.5, redis.flushdb)
    flusher.start()
    results = asyncio.run(_traffic(relay, keys, model, 200))
    flusher.join()

    spent = dict.fromkeys(range(len(keys)), 0)
    for who, r in results:
        assert r.status_code == 200, r.text
        usage = r.json()["usage"]
        spent[who] += usage["prompt_tokens"] + usage["completion_tokens"]
    for who, c in enumerate(customers):
        assert balance(relay, c) == GRANT - spent[who]
    report = verify(relay)
    assert report["ok"], report["violations"]

    # The mirrors come back from the ledger: no hold is left and each wallet's mirror equals its balance.
    deadline = time.monotonic() + 10
    while redis.zcard(relay.settings.redis_prefix + "holds") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert redis.zcard(relay.settings.redis_prefix + "holds") == 0
