"""What the funds stores read from the ledger: balances, and which requests were settled."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models.ledger import LedgerEntry, LedgerTransaction
from app.tenants.funds.base import BalanceLoader, SettledLookup
from app.tenants.ledger import balances


def balance_loader(sessionmaker: async_sessionmaker[AsyncSession]) -> BalanceLoader:
    async def load(wallet_ids: Sequence[int]) -> dict[int, int]:
        async with sessionmaker() as session:
            found = await balances(session, list(wallet_ids))
        return {w: found.get(w, 0) for w in wallet_ids}

    return load


def settled_lookup(sessionmaker: async_sessionmaker[AsyncSession]) -> SettledLookup:
    async def lookup(request_ids: Sequence[str]) -> dict[str, dict[int, int]]:
        """For each request with usage postings: what each wallet paid (its wallet debits)."""
        stmt = (select(LedgerTransaction.request_id, LedgerEntry.account_id, LedgerEntry.amount)
                .join(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
                .where(LedgerTransaction.kind == "usage", LedgerTransaction.request_id.in_(list(request_ids)))
                .where(LedgerEntry.book == "wallet"))
        async with sessionmaker() as session:
            rows = (await session.execute(stmt)).all()
        settled: dict[str, dict[int, int]] = {}
        for request_id, account_id, amount in rows:
            debits = settled.setdefault(request_id, {})
            debits[account_id] = debits.get(account_id, 0) - amount
        # A request settled by its root key alone has no wallet entries but is still settled.
        stmt0 = select(LedgerTransaction.request_id).where(
            LedgerTransaction.kind == "usage", LedgerTransaction.request_id.in_(list(request_ids)))
        async with sessionmaker() as session:
            for (request_id,) in (await session.execute(stmt0)).all():
                settled.setdefault(request_id, {})
        return settled

    return lookup
