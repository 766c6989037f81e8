"""Queries on accounts."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Account


async def get_root(session: AsyncSession) -> Account | None:
    return (await session.execute(select(Account).where(Account.parent_id.is_(None)).limit(1))).scalar()


async def get(session: AsyncSession, account_id: int) -> Account | None:
    return await session.get(Account, account_id)


async def children(session: AsyncSession, parent_id: int) -> Sequence[Account]:
    stmt = select(Account).where(Account.parent_id == parent_id).order_by(Account.id)
    return (await session.execute(stmt)).scalars().all()


async def subtree(session: AsyncSession, path: str) -> Sequence[Account]:
    """The account with this path and everything below it, grouped by subtree."""
    stmt = select(Account).where(Account.path.startswith(path, autoescape=True)).order_by(Account.path)
    return (await session.execute(stmt)).scalars().all()


async def all_shapes(session: AsyncSession) -> dict[int, tuple[int | None, int, str]]:
    """Every account's (parent_id, depth, kind): the tree's shape, for checks over the whole ledger."""
    stmt = select(Account.id, Account.parent_id, Account.depth, Account.kind)
    return {row.id: (row.parent_id, row.depth, row.kind) for row in await session.execute(stmt)}
