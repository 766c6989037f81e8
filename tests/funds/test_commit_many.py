"""Committing a batch of settlements at once: ``commit_many`` leaves each store exactly as the same
commits one after another would, is safe to replay, survives a Redis flush, and costs one round
trip to Redis for the whole batch."""

from __future__ import annotations

from collections.abc import Mapping

from redis.asyncio import Redis

from app.tenants.funds import FundsStore, LocalFunds, RedisFunds, Shortfall, WalletId
from tests.funds.conftest import FakeLedger, StoreFactory
from tests.support.round_trips import CountingConnection, counting_redis
from tests.support.services import REDIS_URL

CAP = "k5d20260101"  # a key's daily spend cap: a wallet that may go down to minus the cap
FLOORS = {CAP: 10**9}
BALANCES: dict[WalletId, int] = {1: 10**9, 2: 10**8, CAP: 0}
Items = list[tuple[str, Mapping[WalletId, int]]]


def chain(i: int) -> list[tuple[WalletId, int]]:
    return [(1, 1000 + i), (2, 800), (CAP, 900)]


def debits(i: int) -> dict[WalletId, int]:
    return {1: 700 + i % 7, 2: 500 + i % 3, CAP: 600}


async def contents(store: FundsStore) -> dict[str, object]:
    """Everything the store keeps, apart from times (hold expiries, applied-at)."""
    if isinstance(store, LocalFunds):
        return {"balance": store._balance, "held": store._held, "gen": store._gen, "pending": store._pending,
                "holds": {rid: h.amounts for rid, h in store._holds.items()}, "released": set(store._released)}
    assert isinstance(store, RedisFunds)
    redis = Redis.from_url(REDIS_URL)
    out: dict[str, object] = {}
    try:
        async for raw in redis.scan_iter(match=store._p + "*", count=1000):
            key = raw.decode()[len(store._p):]
            kind = (await redis.type(raw)).decode()
            if kind == "hash":
                out[key] = await redis.hgetall(raw)
            elif kind == "zset":
                out[key] = sorted(await redis.zrange(raw, 0, -1))
            elif key != "epoch":
                out[key] = await redis.get(raw)
    finally:
        await redis.aclose()
    return out


async def available(store: FundsStore, wallet: WalletId) -> int | None:
    value = store.available(wallet)  # type: ignore[attr-defined]
    return await value if isinstance(store, RedisFunds) else value


async def settle_like_the_writer(store: FundsStore, items: Items, *, batch: bool) -> None:
    """What the settlement writer does around one database commit: mark every settlement's
    wallets, then commit them (as one batch, or one by one)."""
    await store.touch([w for _, d in items for w in d])
    if batch:
        await store.commit_many(items, touched=True)
    else:
        for rid, d in items:
            await store.commit(rid, d, touched=True)


async def prepared(make_store: StoreFactory) -> tuple[FundsStore, Items, FakeLedger]:
    """A store with 260 holds on a three-wallet chain, one of them already committed, and a batch
    of 250 settlements (already in the ledger): longer than one script run, with a replay of one
    inside the batch, one committed before, and one whose hold this store never saw."""
    ledger = FakeLedger(BALANCES)
    store = make_store(ledger, apart=True)
    for i in range(260):
        assert await store.reserve(f"r{i}", chain(i), 60, FLOORS) is None
    ledger.settle("r3", debits(3))
    await store.commit("r3", debits(3))
    items: Items = [(f"r{i}", debits(i)) for i in range(247)]
    items += [("r0", debits(0)), ("elsewhere", {1: 11, 2: 22}), ("r9", debits(9))]
    for rid, d in items:
        if rid not in ledger.settled:
            ledger.settle(rid, dict(d))
    return store, items, ledger


async def test_a_batch_commit_leaves_the_store_as_commits_one_by_one_do(make_store: StoreFactory) -> None:
    one_by_one, items, _ = await prepared(make_store)
    batched, _, ledger = await prepared(make_store)
    await settle_like_the_writer(one_by_one, items, batch=False)
    await settle_like_the_writer(batched, items, batch=True)
    assert await contents(batched) == await contents(one_by_one)
    # What is left: the ledger balance minus each request's debit, once, and the 13 open holds.
    spent = {w: sum(debits(i)[w] for i in range(247)) for w in (1, 2, CAP)}
    if make_store.kind == "redis":  # type: ignore[attr-defined]
        # A hold this replica never saw may be another replica's. In-process there is no other
        # replica: a commit without a hold (a journal replayed at start-up) leaves the mirror to
        # the ledger, so per-request state ends with the hold.
        spent[1] += 11
        spent[2] += 22
    held = {w: sum(a for i in range(247, 260) for ww, a in chain(i) if ww == w) for w in (1, 2, CAP)}
    for wallet in (1, 2, CAP):
        assert await available(batched, wallet) == BALANCES[wallet] - spent[wallet] - held[wallet]
    # Every in-flight mark ended: a credit in the ledger is picked up again.
    for wallet in (1, 2):
        ledger.balances[wallet] += 5000
    await batched.refresh([1, 2])
    in_ledger = {1: spent[1] + 11, 2: spent[2] + 22} if make_store.kind == "local" else spent  # type: ignore[attr-defined]
    for wallet in (1, 2):
        assert await available(batched, wallet) == BALANCES[wallet] - in_ledger[wallet] - held[wallet] + 5000


async def test_replaying_a_batch_changes_nothing(make_store: StoreFactory) -> None:
    store, items, _ = await prepared(make_store)
    await store.commit_many(items)
    after_once = await contents(store)
    await store.commit_many(items)
    await store.commit_many(items[:5])
    assert await contents(store) == after_once


async def test_an_empty_batch_is_nothing(make_store: StoreFactory) -> None:
    store = make_store(FakeLedger({1: 100}))
    await store.commit_many([])
    await store.commit_many([], touched=True)
    assert await store.reserve("all", [(1, 100)], 60) is None


async def test_a_batch_commit_after_a_redis_flush(make_store: StoreFactory) -> None:
    """Redis loses everything between the reservations and the batch commit: the committed
    requests are not re-registered by their replica afterwards, the others are, and every balance
    rebuilt from the ledger counts each debit once."""
    if make_store.kind != "redis":  # type: ignore[attr-defined]
        return
    ledger = FakeLedger({8: 10_000})
    store, other = make_store(ledger), make_store(ledger)  # two replicas
    for rid in ("a", "b", "c"):
        assert await store.reserve(rid, [(8, 1000)], 60) is None
    assert isinstance(store, RedisFunds)
    redis = Redis.from_url(REDIS_URL)
    async for key in redis.scan_iter(match=store._p + "*"):  # FLUSHALL, limited to this test's keys
        await redis.delete(key)
    await redis.aclose()
    for rid in ("a", "b"):
        ledger.settle(rid, {8: 400})
    await store.commit_many([("a", {8: 400}), ("b", {8: 400})], touched=True)
    # The next reservation on the other replica starts a new epoch and reloads the wallet from the
    # ledger (10,000 - 800); the holder then re-registers only "c".
    assert await other.reserve("d", [(8, 100)], 60) is None
    assert await store.reserve("e", [(8, 100)], 60) is None
    assert await available(other, 8) == 10_000 - 800 - 1000 - 100 - 100
    await store.commit_many([("a", {8: 400}), ("c", {8: 300})])  # "a" again: still once
    ledger.settle("c", {8: 300})
    assert await available(other, 8) == 10_000 - 1100 - 200
    assert await other.reserve("rest", [(8, 8700)], 60) is None
    assert await other.reserve("over", [(8, 1)], 60) == Shortfall(0)


async def test_a_batch_commit_reloads_its_script_when_redis_lost_it(make_store: StoreFactory) -> None:
    if make_store.kind != "redis":  # type: ignore[attr-defined]
        return
    store, items, _ = await prepared(make_store)
    reference, _, _ = await prepared(make_store)
    assert isinstance(store, RedisFunds)
    store._commit.sha = "0" * 40  # as after a Redis restart: the server knows no such script
    await settle_like_the_writer(store, items, batch=True)
    await settle_like_the_writer(reference, items, batch=True)
    assert await contents(store) == await contents(reference)


async def test_a_batch_commit_is_one_round_trip(make_store: StoreFactory) -> None:
    if make_store.kind != "redis":  # type: ignore[attr-defined]
        return
    store, items, _ = await prepared(make_store)
    counted = make_store(FakeLedger(BALANCES), redis=counting_redis())
    assert isinstance(counted, RedisFunds) and isinstance(store, RedisFunds)
    counted._p = store._p  # the same deployment, through a client that counts
    await counted.commit_many(items[:1])  # connect, load the script
    before = CountingConnection.sent
    await counted.commit_many(items, touched=True)
    assert CountingConnection.sent - before == 1
    before = CountingConnection.sent
    for rid, d in items[:50]:
        await counted.commit(rid, d)
    assert CountingConnection.sent - before == 50
