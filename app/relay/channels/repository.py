"""Queries on channels."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.models import Channel


async def all_with_keys(session: AsyncSession) -> Sequence[Channel]:
    stmt = select(Channel).options(selectinload(Channel.keys)).order_by(Channel.id)
    return (await session.execute(stmt)).scalars().all()


async def get_with_keys(session: AsyncSession, channel_id: int) -> Channel | None:
    stmt = select(Channel).options(selectinload(Channel.keys)).where(Channel.id == channel_id)
    return (await session.execute(stmt)).scalar()


async def by_name(session: AsyncSession, name: str) -> Channel | None:
    return (await session.execute(select(Channel).where(Channel.name == name))).scalar()
