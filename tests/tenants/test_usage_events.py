"""Usage events: batch inserts that skip retried rows, metadata only, and the subtree CSV export."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models import UsageEvent
from app.tenants import ledger, usage
from app.tenants.usage import USAGE_CSV_HEADER, UsageEventRow
from tests.tenants.conftest import build_tree

WHEN = datetime(2002, 3, 4, 5, 6, 7, tzinfo=UTC)


def event(account_id: int, chain: tuple[int, ...], costs: list[int], **kw: object) -> UsageEventRow:
    fields: dict = dict(request_id=f"req_{uuid.uuid4().hex}", created_at=WHEN, account_id=account_id, key_id=7,
                        chain=list(chain), protocol="openai", op="chat", model_requested="gpt-x", model_served="gpt-x",
                        channel_id=3, stream=True, status=200, input_tokens=120, output_tokens=138,
                        cache_read_tokens=1024, cache_write_tokens=0, reasoning_tokens=128, costs=costs,
                        upstream_cost=90, latency_ms=812, ttfb_ms=95)
    fields.update(kw)
    return UsageEventRow(**fields)


def test_usage_events_hold_no_text() -> None:
    columns = set(UsageEvent.__table__.columns.keys())
    assert not columns & {"prompt", "completion", "messages", "content", "text", "body", "response"}


async def test_insert_batch_skips_request_ids_already_stored(session: AsyncSession) -> None:
    t = await build_tree(session, {"C": (None, "customer")})
    rows = [event(t["C"].id, t["C"].chain, [100]) for _ in range(3)]
    assert await usage.insert_batch(session, rows) == 3
    assert await usage.insert_batch(session, rows + [event(t["C"].id, t["C"].chain, [5])]) == 1
    assert await usage.insert_batch(session, []) == 0
    twice = event(t["C"].id, t["C"].chain, [7])
    assert await usage.insert_batch(session, [twice, rows[0], twice]) == 1


async def test_overlapping_event_batches_written_concurrently_store_each_event_once(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session:
        t = await build_tree(session, {"C": (None, "customer")})
        await session.commit()
    rows = [event(t["C"].id, t["C"].chain, [i]) for i in range(30)]
    batches = [random.sample(rows, 20) for _ in range(6)]  # different orders: must not deadlock

    async def write(batch: list[UsageEventRow]) -> int:
        async with sessions() as s:
            inserted = await usage.insert_batch(s, batch)
            await s.commit()
            return inserted

    written = {row.request_id for batch in batches for row in batch}
    assert sum(await asyncio.gather(*(write(batch) for batch in batches))) == len(written)
    async with sessions() as s:
        stored = await s.execute(select(UsageEvent.request_id, UsageEvent.costs)
                                 .where(UsageEvent.request_id.in_(written)))
        assert sorted(tuple(row) for row in stored) == sorted((r.request_id, r.costs) for r in rows
                                                              if r.request_id in written)


async def test_a_value_too_long_for_its_column_is_refused_on_postgresql_not_cut_short(
        sessions: async_sessionmaker[AsyncSession], backend: str) -> None:
    if backend != "postgres":
        pytest.skip("SQLite does not enforce VARCHAR lengths")
    async with sessions() as session:
        t = await build_tree(session, {"C": (None, "customer")})
        await session.commit()
    long_id = f"req_{uuid.uuid4().hex}{'x' * 64}"
    with pytest.raises(DBAPIError, match="value too long"):
        async with sessions() as s:
            await usage.insert_batch(s, [event(t["C"].id, t["C"].chain, [1], request_id=long_id)])
    with pytest.raises(DBAPIError, match="value too long"):
        async with sessions() as s:
            await ledger.post_usage(s, long_id, t["C"].chain, [1])


async def test_usage_export_covers_the_subtree_from_each_accounts_side(session: AsyncSession) -> None:
    t = await build_tree(session, {"R": (None, "reseller"), "C": ("R", "customer"), "X": (None, "customer")})
    chain = t["C"].chain
    mine = event(t["C"].id, chain, [1287, 1544])
    own = event(t["R"].id, chain[:2], [1287], created_at=WHEN + timedelta(seconds=1))
    late = event(t["C"].id, chain, [1, 2], created_at=WHEN + timedelta(days=2))
    other = event(t["X"].id, t["X"].chain, [9])
    await usage.insert_batch(session, [mine, own, late, other])
    start, end = WHEN, WHEN + timedelta(days=1)

    rows = [dict(zip(USAGE_CSV_HEADER, r, strict=True)) for r in await usage.usage_rows(session, t["R"].id, start, end)]
    assert [r["request_id"] for r in rows] == [mine.request_id, own.request_id]  # not X's, not after the period
    # The reseller paid 1287 on both and earned 1544 from its customer's request.
    assert [(r["spend_micro"], r["revenue_micro"]) for r in rows] == [(1287, 1544), (1287, 0)]
    assert rows[0]["spend_usd"] == "0.001287" and rows[0]["reasoning_tokens"] == 128

    rows = [dict(zip(USAGE_CSV_HEADER, r, strict=True)) for r in await usage.usage_rows(session, t["C"].id, start, end)]
    assert [(r["request_id"], r["spend_micro"], r["revenue_micro"]) for r in rows] == [(mine.request_id, 1544, 0)]

    root = chain[0]
    rows = [dict(zip(USAGE_CSV_HEADER, r, strict=True)) for r in await usage.usage_rows(session, root, start, end)]
    by_id = {r["request_id"]: r for r in rows}
    assert (by_id[mine.request_id]["spend_micro"], by_id[mine.request_id]["revenue_micro"]) == (90, 1287)
