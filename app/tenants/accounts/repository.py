"""Queries on accounts."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Account


async def get_root(session: AsyncSession) -> Account | None:
    return (await session.execute(select(Account).where(Account.parent_id.is_(None)).limit(1))).scalar()


async def get(session: AsyncSession, account_id: int) -> Account | None:
    return await session.get(Account, account_id)
