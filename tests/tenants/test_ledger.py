"""The ledger: balanced, append-only, idempotent postings; one transaction per level of a request's
chain; balances and margins that are sums of entries."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.errors import Conflict, InvalidInput
from app.models import Channel, LedgerTransaction
from app.tenants import ledger
from app.tenants.ledger import Draft, UsagePosting, usage_key
from app.tenants.pricing import Prices, PriceSnapshot, Tokens, cost
from app.tenants.pricing import service as pricing
from tests.tenants.conftest import build_tree, model_name

BASE = Prices(input=333_333, output=1_000_003, cache_read=33_333, cache_write=416_667)
UPSTREAM = Prices(input=300_000, output=900_000, cache_read=30_000, cache_write=375_000)
USAGE = Tokens(input_tokens=1234, output_tokens=567, cache_read_tokens=8901, cache_write_tokens=23)


async def three_levels(session: AsyncSession) -> tuple[dict, str, int]:
    """root -> R (+20 %) -> S (+10 %) -> C, each funded with 10 USD; a catalog model and a channel cost."""
    t = await build_tree(session, {"R": (None, "reseller"), "S": ("R", "reseller"), "C": ("S", "customer")})
    model = model_name()
    await pricing.set_catalog_price(session, model, BASE)
    await pricing.set_markup(session, t["R"].id, 2000)
    await pricing.set_markup(session, t["S"].id, 1000)
    channel = Channel(name=f"ch-{uuid.uuid4().hex[:8]}", type="openai", base_url="https://up.example/v1",
                      models=[model], model_map={})
    session.add(channel)
    await session.flush()
    await pricing.set_channel_price(session, channel.id, model, UPSTREAM)
    for label in ("R", "S", "C"):
        await ledger.grant_credit(session, t[label].id, 10_000_000, "welcome")
    return t, model, channel.id


def rid() -> str:
    return f"req_{uuid.uuid4().hex}"


async def test_grants_are_idempotent_by_key(session: AsyncSession) -> None:
    t = await build_tree(session, {"R": (None, "reseller"), "C": ("R", "customer")})
    key = f"grant:{uuid.uuid4().hex}"
    first = await ledger.grant_credit(session, t["C"].id, 2_500_000, "test credit", key)
    again = await ledger.grant_credit(session, t["C"].id, 2_500_000, "test credit", key)
    assert again.id == first.id
    assert sorted((e.account_id, e.book, e.amount) for e in first.entries) == sorted(
        [(t["C"].id, "wallet", 2_500_000), (t["R"].id, "grants", -2_500_000)])
    assert await ledger.balance(session, t["C"].id) == 2_500_000
    with pytest.raises(Conflict):
        await ledger.grant_credit(session, t["C"].id, 1, "same key, other amount", key)
    with pytest.raises(InvalidInput):
        await ledger.grant_credit(session, t["C"].id, 0, "nothing")
    with pytest.raises(InvalidInput):
        await ledger.grant_credit(session, t["R"].parent_id, 5, "the root has no wallet")  # type: ignore[arg-type]
    assert await ledger.balances(session, [t["R"].id, t["C"].id]) == {t["R"].id: 0, t["C"].id: 2_500_000}


async def test_three_level_usage_posts_one_balanced_transaction_per_level(session: AsyncSession) -> None:
    t, model, channel_id = await three_levels(session)
    chain = t["C"].chain
    snapshot = await PriceSnapshot.load(session)
    costs = snapshot.chain_costs(chain, model, USAGE)
    assert costs == [1287, 1544, 1697]  # worked out by hand in test_pricing_math
    upstream = cost(snapshot.upstream_prices(channel_id, model), USAGE)  # type: ignore[arg-type]
    # 1234*0.3 = 370.2 -> 371; 567*0.9 = 510.3 -> 511; 8901*0.03 = 267.03 -> 268; 23*0.375 = 8.625 -> 9
    assert upstream == 1159
    when = datetime(2001, 1, 1, tzinfo=UTC) + timedelta(seconds=random.randrange(10**8))
    request = rid()
    posted = await ledger.post_usage(session, request, chain, costs, (channel_id, upstream), model=model,
                                     created_at=when)
    assert posted == 4
    root, r, s, c = chain
    expected = {
        0: [(root, "upstream_cost", 1159), (root, "upstream_payable", -1159)],
        1: [(r, "wallet", -1287), (root, "revenue", 1287)],
        2: [(s, "wallet", -1544), (r, "revenue", 1544)],
        3: [(c, "wallet", -1697), (s, "revenue", 1697)],
    }
    for level, entries in expected.items():
        txn = await ledger.get_transaction(session, usage_key(request, level))
        assert txn is not None and txn.kind == "usage" and txn.request_id == request
        assert sorted((e.account_id, e.book, e.amount) for e in txn.entries) == sorted(entries)
        assert sum(e.amount for e in txn.entries) == 0
    assert await ledger.balances(session, [r, s, c]) == {r: 10_000_000 - 1287, s: 10_000_000 - 1544,
                                                         c: 10_000_000 - 1697}
    # Posting the same request again posts nothing.
    assert await ledger.post_usage(session, request, chain, costs, (channel_id, upstream), model=model) == 0
    assert await ledger.balance(session, c) == 10_000_000 - 1697
    # Each level's margin is its price minus its parent's.
    period = (when, when + timedelta(seconds=1))
    margins = {label: await ledger.margin(session, acc, *period) for label, acc in zip("0RSC", chain, strict=True)}
    assert (margins["0"].revenue, margins["0"].cost_of_sales, margins["0"].margin) == (1287, 1159, 128)
    assert (margins["R"].revenue, margins["R"].cost_of_sales, margins["R"].margin) == (1544, 1287, 257)
    assert (margins["S"].revenue, margins["S"].cost_of_sales, margins["S"].margin) == (1697, 1544, 153)
    assert (margins["C"].revenue, margins["C"].margin, margins["C"].own_usage) == (0, 0, 1697)
    # A reseller's own requests are its own usage, not cost of sales.
    await ledger.post_usage(session, rid(), chain[:2], costs[:1], model=model, created_at=when)
    assert (await ledger.margin(session, r, *period)).own_usage == 1287
    assert (await ledger.margin(session, r, *period)).margin == 257


async def test_usage_postings_are_validated(session: AsyncSession) -> None:
    t = await build_tree(session, {"C": (None, "customer")})
    with pytest.raises(InvalidInput):
        await ledger.post_usage(session, rid(), t["C"].chain, [1, 2])  # one level, two costs
    with pytest.raises(InvalidInput):
        await ledger.post_usage(session, rid(), t["C"].chain, [-1])


async def test_batches_post_with_few_statements_and_skip_posted_levels(session: AsyncSession, backend: str) -> None:
    t, model, channel_id = await three_levels(session)
    items = [UsagePosting(request_id=rid(), chain=t["C"].chain, level_costs=(3, 4, 5), upstream=(channel_id, 2),
                          model=model) for _ in range(200)]
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", count)
    try:
        assert await ledger.post_usage_batch(session, items) == 800
    finally:
        event.remove(engine, "before_cursor_execute", count)
    # 800 transactions and 1,600 entries: one statement on PostgreSQL; on SQLite the transactions
    # 500 rows per INSERT ... RETURNING, then one executemany of the entries.
    assert len(statements) == (1 if backend == "postgres" else 3)
    more = [UsagePosting(request_id=rid(), chain=t["C"].chain, level_costs=(3, 4, 5), model=model)
            for _ in range(3)]
    assert await ledger.post_usage_batch(session, items[:50] + more + more) == 9  # only the new ones, once
    assert await ledger.balance(session, t["C"].id) == 10_000_000 - 5 * 203
    assert await ledger.balance(session, t["R"].id) == 10_000_000 - 3 * 203


async def test_a_batch_posts_only_new_keys_and_gives_each_its_own_id_and_entries(session: AsyncSession) -> None:
    t = await build_tree(session, {"R": (None, "reseller"), "C": ("R", "customer")})
    c, r = t["C"].id, t["R"].id
    tag = uuid.uuid4().hex
    when = datetime(2003, 4, 5, 6, 7, 8, 901234, tzinfo=timezone(timedelta(hours=2)))

    def grant(label: str, amount: int) -> Draft:
        return Draft(idempotency_key=f"grant:{tag}:{label}", kind="grant", account_id=c, memo=label,
                     entries=((c, "wallet", amount), (r, "grants", -amount)), created_at=when)

    earlier = await ledger.post_drafts(session, [grant("b", 2), grant("d", 4)])
    # In key order the keys already posted sit between new ones, and "c" comes twice (the first wins).
    posted = await ledger.post_drafts(session, [grant("e", 5), grant("d", 40), grant("c", 3), grant("a", 1),
                                                grant("b", 20), grant("c", 30)])
    assert sorted(posted) == [f"grant:{tag}:{label}" for label in "ace"]
    ids = earlier | posted
    for label, amount in {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5}.items():
        txn = await ledger.get_transaction(session, f"grant:{tag}:{label}")
        assert txn is not None and txn.id == ids[txn.idempotency_key]
        assert (txn.memo, txn.created_at) == (label, when)
        assert sorted((e.account_id, e.book, e.amount) for e in txn.entries) == [(r, "grants", -amount),
                                                                                (c, "wallet", amount)]
    assert await ledger.balances(session, [r, c]) == {r: 0, c: 1 + 2 + 3 + 4 + 5}
    assert await ledger.post_drafts(session, [grant("a", 1), grant("e", 5)]) == {}


async def test_concurrent_duplicates_post_once(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session:
        t, model, _channel = await three_levels(session)
        await session.commit()
    key = f"grant:{uuid.uuid4().hex}"
    items = [UsagePosting(request_id=rid(), chain=t["C"].chain, level_costs=(1, 2, 3), model=model)
             for _ in range(20)]

    async def grant() -> int:
        async with sessions() as s:
            txn = await ledger.grant_credit(s, t["C"].id, 1_000_000, "racing", key)
            await s.commit()
            return txn.id

    async def settle() -> int:
        async with sessions() as s:  # overlapping batches in different orders must not deadlock
            posted = await ledger.post_usage_batch(s, random.sample(items, len(items)))
            await s.commit()
            return posted

    ids = await asyncio.gather(*(grant() for _ in range(6)))
    assert len(set(ids)) == 1
    assert sum(await asyncio.gather(*(settle() for _ in range(4)))) == 60
    async with sessions() as s:
        stmt = select(func.count()).select_from(LedgerTransaction).where(LedgerTransaction.idempotency_key == key)
        assert (await s.execute(stmt)).scalar_one() == 1
        assert await ledger.balance(s, t["C"].id) == 10_000_000 + 1_000_000 - 3 * 20
