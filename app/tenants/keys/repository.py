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


async def chain_limits(session: AsyncSession, account_ids: Sequence[int]) -> tuple[
        tuple[int, int | None, int | None, int | None], ...]:
    """(account id, rpm, tpm, max_concurrency) of those accounts that set any rate limit."""
    if not account_ids:
        return ()
    stmt = (select(Account.id, Account.rpm, Account.tpm, Account.max_concurrency)
            .where(Account.id.in_(list(account_ids)))
            .where((Account.rpm.is_not(None)) | (Account.tpm.is_not(None)) | (Account.max_concurrency.is_not(None))))
    return tuple((a, r, t, c) for a, r, t, c in (await session.execute(stmt)).all())


async def routing_strategy(session: AsyncSession, account_id: int) -> str | None:
    return (await session.execute(select(Account.routing_strategy).where(Account.id == account_id))).scalar()
