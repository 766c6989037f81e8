"""The funds stores (in-process and Redis) under concurrency, crashes and a Redis flush, against
a ledger that is the truth."""

from __future__ import annotations

import asyncio
import uuid

from redis.asyncio import Redis

from app.tenants.funds import LocalFunds, RedisFunds, Shortfall
from tests.funds.conftest import FakeLedger
from tests.support.services import REDIS_URL, require


async def test_500_concurrent_reservations_on_a_wallet_that_affords_50(make_store) -> None:
    ledger = FakeLedger({7: 50 * 1000})
    store = make_store(ledger)
    results = await asyncio.gather(*(store.reserve(f"r{i}", [(7, 1000)], 60) for i in range(500)))
    assert sum(r is None for r in results) == 50
    assert all(r == Shortfall(0) for r in results if r is not None)


async def test_a_chain_reserves_all_or_nothing(make_store) -> None:
    ledger = FakeLedger({1: 10_000, 2: 500})  # the reseller (2) cannot cover its part
    store = make_store(ledger)
    assert await store.reserve("a", [(1, 1000), (2, 900)], 60) == Shortfall(1)
    # Nothing was held on wallet 1: the whole of it is still available.
    assert await store.reserve("b", [(1, 10_000)], 60) is None


async def test_commit_debits_once_and_frees_the_hold(make_store) -> None:
    ledger = FakeLedger({3: 5000})
    store = make_store(ledger)
    assert await store.reserve("x", [(3, 4000)], 60) is None
    assert await store.reserve("y", [(3, 2000)], 60) == Shortfall(0)
    ledger.settle("x", {3: 1500})
    await store.commit("x", {3: 1500})
    await store.commit("x", {3: 1500})  # a retry must not debit twice
    assert await store.reserve("y", [(3, 3500)], 60) is None  # 5000 - 1500 = 3500 left
    assert await store.reserve("z", [(3, 1)], 60) == Shortfall(0)


async def test_expired_holds_are_resolved_from_the_ledger(make_store) -> None:
    ledger = FakeLedger({4: 1000})
    store = make_store(ledger)
    assert await store.reserve("settled", [(4, 600)], 0.01) is None
    ledger.settle("settled", {4: 250})  # committed in the ledger, but the process died before telling the store
    await asyncio.sleep(0.03)
    assert await store.expire() == 1
    await store.commit("settled", {4: 250})  # a late commit after the reconciler: still applied once
    assert await store.reserve("next", [(4, 750)], 60) is None
    assert await store.reserve("more", [(4, 1)], 60) == Shortfall(0)

    ledger2 = FakeLedger({5: 1000})
    store2 = make_store(ledger2)
    assert await store2.reserve("lost", [(5, 900)], 0.01) is None  # never settled anywhere
    await asyncio.sleep(0.03)
    assert await store2.expire() == 1
    assert await store2.reserve("again", [(5, 1000)], 60) is None


async def test_credits_and_resync_follow_the_ledger(make_store) -> None:
    ledger = FakeLedger({6: 100})
    store = make_store(ledger)
    assert await store.reserve("a", [(6, 100)], 60) is None
    ledger.balances[6] += 400  # a grant committed through the operator API
    await store.refresh([6])
    assert await store.reserve("b", [(6, 400)], 60) is None
    ledger.balances[6] += 1000  # changed by another process: only a resync sees it
    await store.resync()
    assert await store.reserve("c", [(6, 1000)], 60) is None
    assert await store.reserve("d", [(6, 1)], 60) == Shortfall(0)


async def test_redis_flush_keeps_in_flight_holds() -> None:
    require("Redis", REDIS_URL)
    ledger = FakeLedger({8: 1000})
    redis = Redis.from_url(REDIS_URL)
    prefix = f"wst:{uuid.uuid4().hex[:8]}:"
    store = RedisFunds(redis, ledger.load, ledger.lookup, prefix=prefix)
    other = RedisFunds(Redis.from_url(REDIS_URL), ledger.load, ledger.lookup, prefix=prefix)  # a second replica
    try:
        assert await store.reserve("in-flight", [(8, 700)], 60) is None
        async for key in redis.scan_iter(match=prefix + "*"):  # FLUSHALL, limited to this test's keys
            await redis.delete(key)
        # The next reservation on any replica notices the lost epoch; the holder re-registers its hold.
        assert await other.reserve("probe", [(8, 1)], 60) is None
        assert await store.reserve("probe2", [(8, 1)], 60) is None
        assert await other.reserve("too-much", [(8, 299)], 60) == Shortfall(0)
        ledger.settle("in-flight", {8: 500})
        await store.commit("in-flight", {8: 500})
        assert await other.reserve("after", [(8, 498)], 60) is None
    finally:
        await store.aclose()
        await other.aclose()


async def test_a_resync_during_an_in_flight_settlement_never_counts_its_debit_twice(make_store) -> None:
    ledger = FakeLedger({9: 1000})
    store = make_store(ledger)
    assert await store.reserve("s", [(9, 600)], 60) is None
    # The writer marks the wallet, commits the ledger, and a resync reads the ledger before the
    # writer has told the store: the resync must not install that balance.
    await store.touch([9])
    ledger.settle("s", {9: 600})
    await store.resync()
    await store.commit("s", {9: 600}, touched=True)
    await store.resync()
    assert await store.reserve("rest", [(9, 400)], 60) is None  # exactly 1000 - 600 left
    assert await store.reserve("over", [(9, 1)], 60) == Shortfall(0)


async def test_the_in_process_store_keeps_nothing_per_request_once_committed() -> None:
    # A soak at 1,400 req/s grew by ~10 MB a minute while every committed request left a marker
    # for a day; each debit is now consumed with its hold.
    ledger = FakeLedger({6: 10**9})
    store = LocalFunds(ledger.load, ledger.lookup)
    for i in range(1000):
        assert await store.reserve(f"r{i}", [(6, 10)], 60) is None
        ledger.settle(f"r{i}", {6: 7})
        await store.commit(f"r{i}", {6: 7})
        await store.commit(f"r{i}", {6: 7})  # repeated: not debited again
    assert store.available(6) == 10**9 - 7000
    assert not store._holds and not store._released
    # A commit with no hold here (a journal replayed at start-up) leaves the mirror to the ledger.
    await store.commit("replayed", {6: 5})
    assert store.available(6) == 10**9 - 7000


async def test_a_settlement_arriving_after_its_hold_was_released_unbilled_is_still_debited() -> None:
    ledger = FakeLedger({7: 1000})
    store = LocalFunds(ledger.load, ledger.lookup)
    assert await store.reserve("slow", [(7, 600)], 0.01) is None
    await asyncio.sleep(0.03)
    assert await store.expire() == 1  # the ledger does not show it yet: released unbilled
    ledger.settle("slow", {7: 400})  # the database write lands late
    await store.commit("slow", {7: 400})
    await store.commit("slow", {7: 400})
    assert store.available(7) == 600
