"""Queries on the ledger. Inserts only: nothing here updates or deletes a ledger row."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, and_, case, func, select
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import LedgerEntry, LedgerTransaction
from app.tenants import bulk

T = LedgerTransaction
E = LedgerEntry
TRANSACTIONS = cast(Table, T.__table__)
ENTRIES = cast(Table, E.__table__)


#: A transaction to insert, values in ``TRANSACTION_COLUMNS`` order.
NewTransaction = tuple[str, str, int, str, str | None, datetime]
TRANSACTION_COLUMNS = ("idempotency_key", "kind", "account_id", "memo", "request_id", "created_at")
#: One of its entries: (its transaction's idempotency key, account_id, book, amount).
NewEntry = tuple[str, int, str, int]
ENTRY_COLUMNS = ("transaction_id", "account_id", "book", "amount", "created_at")


@functools.lru_cache(maxsize=8)
def _postings_sql_pg(dialect: Dialect) -> str:
    """The transactions whose key is new, then the entries of exactly those (joined on the keys
    RETURNING gave back), stamped with their transaction's id and time: one statement, one round
    trip. (A data-modifying WITH runs to completion whether or not the main query reads it.)"""
    transactions = bulk.insert_sql(dialect, TRANSACTIONS, TRANSACTION_COLUMNS, "idempotency_key",
                                   ("id", "idempotency_key", "created_at"))
    first = len(TRANSACTION_COLUMNS) + 1
    entries = (f"{bulk.pg_arrays(dialect, TRANSACTIONS, ('idempotency_key',), first)}, "
               f"{bulk.pg_arrays(dialect, ENTRIES, ('account_id', 'book', 'amount'), first + 1)}")
    # ORDER BY the entries' input order: their ids come out as a row-by-row insert would give them.
    return (f"WITH t AS ({transactions}), "
            f"e AS (INSERT INTO ledger_entries ({', '.join(ENTRY_COLUMNS)}) "
            f"SELECT t.id, x.account_id, x.book, x.amount, t.created_at "
            f"FROM unnest({entries}) WITH ORDINALITY AS x(idempotency_key, account_id, book, amount, n) "
            f"JOIN t USING (idempotency_key) ORDER BY x.n) "
            f"SELECT id, idempotency_key FROM t")


async def insert_postings(session: AsyncSession, transactions: Sequence[NewTransaction],
                          entries: Sequence[NewEntry]) -> dict[str, int]:
    """Insert the transactions whose key is not in the ledger yet and the entries of exactly those,
    with their transaction's id and time. ``transactions`` have distinct keys, sorted (see
    ``app.tenants.bulk``). Returns key -> id of the transactions inserted. One statement on
    PostgreSQL, three on SQLite."""
    if not transactions:
        return {}
    conn = await bulk.connection(session)
    if conn.dialect.name == "postgresql":
        processors = bulk.bind_processors(conn.dialect, TRANSACTIONS, TRANSACTION_COLUMNS)
        entry_arrays = [list(c) for c in zip(*entries, strict=True)] if entries else [[], [], [], []]
        params = (*bulk.processed_arrays(transactions, processors), *entry_arrays)
        return {key: id_ for id_, key in await conn.exec_driver_sql(_postings_sql_pg(conn.dialect), params)}
    # ON CONFLICT rows return nothing: ids are matched to keys, never to positions.
    rows = await bulk.insert_rows_returning(session, TRANSACTIONS, TRANSACTION_COLUMNS, transactions,
                                            "idempotency_key", ("id", "idempotency_key"))
    posted: dict[str, int] = {key: id_ for id_, key in rows}
    when = {key: created_at for key, *_fields, created_at in transactions}
    await bulk.insert_rows(session, ENTRIES, ENTRY_COLUMNS,
                           [(posted[key], account_id, book, amount, when[key])
                            for key, account_id, book, amount in entries if key in posted])
    return posted


async def by_key(session: AsyncSession, key: str) -> LedgerTransaction | None:
    return (await session.execute(select(T).where(T.idempotency_key == key))).scalar()


async def entries_of(session: AsyncSession, transaction_id: int) -> Sequence[LedgerEntry]:
    return (await session.execute(select(E).where(E.transaction_id == transaction_id).order_by(E.id))).scalars().all()


async def wallet_balances(session: AsyncSession, account_ids: Sequence[int]) -> dict[int, int]:
    out: dict[int, int] = {}
    for part in bulk.chunks(list(account_ids)):
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
