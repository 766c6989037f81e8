"""Queries on users and memberships."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Membership, User


async def by_email(session: AsyncSession, email: str) -> User | None:
    return (await session.execute(select(User).where(User.email == email))).scalar()


async def get(session: AsyncSession, user_id: int) -> User | None:
    return await session.get(User, user_id)


async def membership(session: AsyncSession, user_id: int, account_id: int) -> Membership | None:
    stmt = select(Membership).where(Membership.user_id == user_id, Membership.account_id == account_id)
    return (await session.execute(stmt)).scalar()


async def memberships_of_user(session: AsyncSession, user_id: int) -> Sequence[Membership]:
    stmt = select(Membership).where(Membership.user_id == user_id).order_by(Membership.account_id)
    return (await session.execute(stmt)).scalars().all()


async def members_of_account(session: AsyncSession, account_id: int) -> Sequence[Membership]:
    stmt = select(Membership).where(Membership.account_id == account_id).order_by(Membership.user_id)
    return (await session.execute(stmt)).scalars().all()
