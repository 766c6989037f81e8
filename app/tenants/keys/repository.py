"""Queries on API keys."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Account, ApiKey


async def by_hash_with_path(session: AsyncSession, key_hash: str) -> tuple[ApiKey, str] | None:
    """The key and its account's materialised path, in one query (the authentication hot path)."""
    stmt = (select(ApiKey, Account.path).join(Account, Account.id == ApiKey.account_id)
            .where(ApiKey.key_hash == key_hash))
    row = (await session.execute(stmt)).first()
    return (row[0], row[1]) if row else None


async def for_account(session: AsyncSession, account_id: int) -> Sequence[ApiKey]:
    stmt = select(ApiKey).where(ApiKey.account_id == account_id).order_by(ApiKey.id)
    return (await session.execute(stmt)).scalars().all()
