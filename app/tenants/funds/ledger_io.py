"""What the funds stores read from the ledger: balances, and which requests were settled."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models import UsageEvent
from app.models.ledger import LedgerEntry, LedgerTransaction
from app.tenants.funds.base import BalanceLoader, SettledLookup, WalletId
from app.tenants.funds.caps import parse_cap_wallet
from app.tenants.ledger import balances


async def _key_spent(session: AsyncSession, key_id: int, start: datetime | None, end: datetime | None) -> int:
    """What a key's requests cost its own account in [start, end): the account's wallet debits of
    the usage transactions of requests made with that key."""
    stmt = (select(func.coalesce(func.sum(-LedgerEntry.amount), 0))
            .select_from(LedgerEntry)
            .join(LedgerTransaction, LedgerEntry.transaction_id == LedgerTransaction.id)
            .join(UsageEvent, UsageEvent.request_id == LedgerTransaction.request_id)
            .where(UsageEvent.key_id == key_id, LedgerTransaction.kind == "usage", LedgerEntry.book == "wallet",
                   LedgerEntry.account_id == UsageEvent.account_id))
    if start is not None:
        stmt = stmt.where(LedgerTransaction.created_at >= start)
    if end is not None:
        stmt = stmt.where(LedgerTransaction.created_at < end)
    return int((await session.execute(stmt)).scalar_one())


def balance_loader(sessionmaker: async_sessionmaker[AsyncSession]) -> BalanceLoader:
    async def load(wallet_ids: Sequence[WalletId]) -> dict[WalletId, int]:
        accounts = [w for w in wallet_ids if isinstance(w, int)]
        out: dict[WalletId, int] = {}
        async with sessionmaker() as session:
            found = await balances(session, accounts) if accounts else {}
            out.update({w: found.get(w, 0) for w in accounts})
            for wallet in wallet_ids:
                cap = parse_cap_wallet(wallet)
                if cap is not None:
                    out[wallet] = -await _key_spent(session, *cap)  # the mirror of a cap is minus the spend
        return out

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
