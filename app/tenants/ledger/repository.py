"""Queries on the ledger. Inserts only: nothing here updates or deletes a ledger row."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import LedgerEntry, LedgerTransaction
from app.tenants.bulk import chunks, insert_skipping_conflicts

T = LedgerTransaction
E = LedgerEntry


async def insert_transactions(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Insert transaction rows, skipping keys that already exist. Returns key -> id of the rows
    actually inserted (few statements: one per ``CHUNK`` rows)."""
    inserted: dict[str, int] = {}
    base = insert_skipping_conflicts(session, T.__table__, "idempotency_key")
    for part in chunks(rows):
        stmt = base.values(list(part)).returning(T.__table__.c.id, T.__table__.c.idempotency_key)
        for row in await session.execute(stmt):
            inserted[row.idempotency_key] = row.id
    return inserted


async def insert_entries(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    for part in chunks(rows):
        await session.execute(E.__table__.insert().values(list(part)))


async def by_key(session: AsyncSession, key: str) -> LedgerTransaction | None:
    return (await session.execute(select(T).where(T.idempotency_key == key))).scalar()


async def entries_of(session: AsyncSession, transaction_id: int) -> Sequence[LedgerEntry]:
    return (await session.execute(select(E).where(E.transaction_id == transaction_id).order_by(E.id))).scalars().all()


async def wallet_balances(session: AsyncSession, account_ids: Sequence[int]) -> dict[int, int]:
    out: dict[int, int] = {}
    for part in chunks(list(account_ids)):
        stmt = (select(E.account_id, func.sum(E.amount)).where(E.account_id.in_(part), E.book == "wallet")
                .group_by(E.account_id))
        out.update({account_id: int(total) for account_id, total in await session.execute(stmt)})
    return out


def _period(start: datetime, end: datetime) -> Any:
    return and_(T.created_at >= start, T.created_at < end)


async def trading(session: AsyncSession, account_id: int, start: datetime, end: datetime) -> tuple[int, int, int]:
    """(revenue, cost_of_sales, own_usage) of one account over [start, end), from usage postings.

    Spend is the account's wallet debits, or for the root the upstream cost; it is cost of sales
    on requests where the account also earned revenue (its subtree's requests) and own usage
    on the others.
    """
    earning = (select(T.request_id).join(E, E.transaction_id == T.id)
               .where(T.kind == "usage", E.account_id == account_id, E.book == "revenue", _period(start, end)))
    revenue_stmt = (select(func.coalesce(func.sum(E.amount), 0)).join(T, T.id == E.transaction_id)
                    .where(T.kind == "usage", E.account_id == account_id, E.book == "revenue", _period(start, end)))
    spend = case((E.book == "wallet", -E.amount), else_=E.amount)
    resold = T.request_id.in_(earning)
    spend_stmt = (select(func.coalesce(func.sum(case((resold, spend), else_=0)), 0),
                         func.coalesce(func.sum(case((resold, 0), else_=spend)), 0))
                  .select_from(E).join(T, T.id == E.transaction_id)
                  .where(T.kind == "usage", E.account_id == account_id, E.book.in_(("wallet", "upstream_cost")),
                         _period(start, end)))
    revenue = int((await session.execute(revenue_stmt)).scalar_one())
    cost_of_sales, own = (int(v) for v in (await session.execute(spend_stmt)).one())
    return revenue, cost_of_sales, own


async def statement(session: AsyncSession, account_id: int, start: datetime, end: datetime) -> Sequence[Any]:
    """An account's entries (every book) over [start, end), with their transactions, in posting order."""
    stmt = (select(T.id, T.created_at, T.kind, T.idempotency_key, T.request_id, T.memo, E.book, E.amount)
            .join(E, E.transaction_id == T.id)
            .where(E.account_id == account_id, _period(start, end)).order_by(T.id, E.id))
    return (await session.execute(stmt)).all()
