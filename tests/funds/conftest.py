"""Fixtures for the funds stores: a fake ledger (the truth), both stores (in-process and Redis;
Redis stores made in one test share a namespace, like replicas)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Sequence

import pytest
from redis.asyncio import Redis

from app.tenants.funds import FundsStore, LocalFunds, RedisFunds, WalletId
from tests.support.services import REDIS_URL, require


class FakeLedger:
    """Balances and settled requests, with awaits where a database would have them."""

    def __init__(self, balances: dict[WalletId, int]) -> None:
        self.balances = dict(balances)
        self.settled: dict[str, dict[WalletId, int]] = {}

    async def load(self, wallets: Sequence[WalletId]) -> dict[WalletId, int]:
        await asyncio.sleep(0.001)
        return {w: self.balances.get(w, 0) for w in wallets}

    async def lookup(self, rids: Sequence[str]) -> dict[str, dict[WalletId, int]]:
        await asyncio.sleep(0)
        return {r: self.settled[r] for r in rids if r in self.settled}

    def settle(self, rid: str, debits: dict[WalletId, int]) -> None:
        self.settled[rid] = debits
        for w, a in debits.items():
            self.balances[w] -= a


async def drop_keys(prefix: str) -> None:
    redis = Redis.from_url(REDIS_URL)
    keys = [k async for k in redis.scan_iter(match=prefix + "*", count=1000)]
    if keys:
        await redis.delete(*keys)
    await redis.aclose()


StoreFactory = Callable[..., FundsStore]


@pytest.fixture(params=["local", "redis"])
async def make_store(request: pytest.FixtureRequest) -> AsyncIterator[StoreFactory]:
    """``make_store(ledger, redis=None, apart=False)``: a store of the parametrised kind
    (``make_store.kind``). Redis stores share one namespace (they are replicas of one deployment)
    unless ``apart``: then the store is a deployment of its own."""
    stores: list[FundsStore] = []
    prefixes = [f"wst:{uuid.uuid4().hex[:8]}:"]
    if request.param == "redis":
        require("Redis", REDIS_URL)

    def make(ledger: FakeLedger, redis: Redis | None = None, apart: bool = False) -> FundsStore:
        store: FundsStore
        if request.param == "local":
            store = LocalFunds(ledger.load, ledger.lookup)
        else:
            if apart:
                prefixes.append(f"wst:{uuid.uuid4().hex[:8]}:")
            store = RedisFunds(redis or Redis.from_url(REDIS_URL), ledger.load, ledger.lookup,
                               prefix=prefixes[-1] if apart else prefixes[0])
        stores.append(store)
        return store

    make.kind = request.param  # type: ignore[attr-defined]
    yield make
    for store in stores:
        await store.aclose()
    if request.param == "redis":
        for prefix in prefixes:
            await drop_keys(prefix)
