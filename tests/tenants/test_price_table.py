"""The in-memory price table: loaded from the database, reloaded after its TTL or invalidate()."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.errors import InvalidInput, NotFound
from app.tenants.pricing import Prices, PriceTable, Tokens
from app.tenants.pricing import service as pricing
from tests.tenants.conftest import build_tree, model_name


async def test_price_table_reads_the_database_and_reloads_on_invalidate(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    model, hidden = model_name(), model_name()
    async with sessions() as session:
        t = await build_tree(session, {"R": (None, "reseller"), "C": ("R", "customer")})
        await pricing.set_catalog_price(session, model, Prices(input=1_000_000, output=2_000_000),
                                        max_output_tokens=1000)
        await pricing.set_catalog_price(session, hidden, Prices(input=1, output=1))
        await pricing.set_markup(session, t["R"].id, 500)
        await pricing.set_offered_models(session, t["R"].id, [model])
        await session.commit()
    table = PriceTable(sessions, ttl=3600)
    with pytest.raises(RuntimeError):
        table.level_prices(t["C"].chain, model)
    await table.current()
    chain = t["C"].chain
    assert table.level_prices(chain, model) == [Prices(input=1_000_000, output=2_000_000),
                                                Prices(input=1_050_000, output=2_100_000)]
    assert table.level_prices(chain, hidden) is None and table.level_prices(chain[:2], hidden) is not None
    assert table.max_output(model) == 1000
    assert table.cost(Prices(input=1_050_000, output=2_100_000), Tokens(input_tokens=10, output_tokens=3)) == 11 + 7

    async with sessions() as session:
        await pricing.set_price_override(session, t["R"].id, model, Prices(input=5, output=6))
        await session.commit()
    await table.current()
    assert table.level_prices(chain, model)[-1] == Prices(input=1_050_000, output=2_100_000)  # type: ignore[index]
    table.invalidate()
    assert table.level_prices(chain, model)[-1] == Prices(input=1_050_000, output=2_100_000)  # type: ignore[index]
    await table.current()
    assert table.level_prices(chain, model)[-1] == Prices(input=5, output=6)  # type: ignore[index]


async def test_no_caller_gets_the_old_prices_while_the_new_ones_load(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    table = PriceTable(sessions, ttl=3600)
    await table.current()
    model = model_name()
    async with sessions() as session:
        await pricing.set_catalog_price(session, model, Prices(input=1, output=1))
        await session.commit()
    table.invalidate()
    snapshots = await asyncio.gather(*(table.current() for _ in range(20)))
    assert all(snap.level_prices((1, 2), model) is not None for snap in snapshots)
    assert len({id(snap) for snap in snapshots}) == 1  # one reload served everyone


async def test_price_changes_are_validated(session: AsyncSession) -> None:
    t = await build_tree(session, {"C": (None, "customer")})
    model = model_name()
    with pytest.raises(InvalidInput):
        await pricing.set_catalog_price(session, model, Prices(input=-1, output=0))
    with pytest.raises(NotFound):  # overrides need a catalog price first
        await pricing.set_price_override(session, t["C"].parent_id, model, Prices(input=1, output=1))  # type: ignore[arg-type]
    await pricing.set_catalog_price(session, model, Prices(input=1, output=1))
    with pytest.raises(InvalidInput):  # customers do not sell
        await pricing.set_markup(session, t["C"].id, 100)
    with pytest.raises(InvalidInput):
        await pricing.set_markup(session, t["C"].parent_id, -5)  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        await pricing.set_channel_price(session, 10**9, model, Prices(input=1, output=1))
    prices = await pricing.effective_prices(session, t["C"].id)
    assert any(p.model == model and p.prices == Prices(input=1, output=1) for p in prices)
