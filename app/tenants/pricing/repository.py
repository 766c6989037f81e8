"""Queries on the catalog, channel prices, price books and overrides."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import CatalogModel, Channel, ChannelPrice, PriceBook, PriceOverride


async def catalog(session: AsyncSession) -> Sequence[CatalogModel]:
    return (await session.execute(select(CatalogModel).order_by(CatalogModel.name))).scalars().all()


async def catalog_entry(session: AsyncSession, model: str) -> CatalogModel | None:
    return (await session.execute(select(CatalogModel).where(CatalogModel.name == model))).scalar()


async def channel_prices(session: AsyncSession) -> Sequence[ChannelPrice]:
    return (await session.execute(select(ChannelPrice))).scalars().all()


async def channel_price(session: AsyncSession, channel_id: int, model: str) -> ChannelPrice | None:
    stmt = select(ChannelPrice).where(ChannelPrice.channel_id == channel_id, ChannelPrice.model == model)
    return (await session.execute(stmt)).scalar()


async def price_books(session: AsyncSession) -> Sequence[PriceBook]:
    return (await session.execute(select(PriceBook))).scalars().all()


async def price_book(session: AsyncSession, account_id: int) -> PriceBook | None:
    return (await session.execute(select(PriceBook).where(PriceBook.account_id == account_id))).scalar()


async def overrides(session: AsyncSession) -> Sequence[PriceOverride]:
    return (await session.execute(select(PriceOverride))).scalars().all()


async def override(session: AsyncSession, account_id: int, model: str) -> PriceOverride | None:
    stmt = select(PriceOverride).where(PriceOverride.account_id == account_id, PriceOverride.model == model)
    return (await session.execute(stmt)).scalar()


async def channel_exists(session: AsyncSession, channel_id: int) -> bool:
    return await session.get(Channel, channel_id) is not None
