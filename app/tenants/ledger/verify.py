"""Checking the whole ledger: the invariants every posting is meant to keep.

- every transaction's entries sum to zero, and it has entries;
- entries and transactions reference existing accounts and transactions;
- only known books and kinds; no wallet on the root; no wallet below zero;
- idempotency keys are unique (a database that lost the constraint would show duplicates);
- every billed request's levels are complete: levels 1..d for a requester at depth d, each
  level's payer is the child of the previous level's payer, and each seller's revenue entry
  equals its child's wallet debit.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import BOOKS, TRANSACTION_KINDS, Account, LedgerEntry, LedgerTransaction, UsageEvent
from app.tenants.accounts import repository as accounts
from app.tenants.ledger.posting import usage_key
from app.tenants.ledger.schemas import VerifyReport, Violation

T, E, A = LedgerTransaction, LedgerEntry, Account
#: Rows reported per kind of violation (the first ones are enough to start digging).
LIMIT = 1000
#: Requests checked per query.
PAGE = 2000
Shape = dict[int, tuple[int | None, int, str]]


async def _rows(session: AsyncSession, stmt: Any) -> list[Any]:
    return list((await session.execute(stmt.limit(LIMIT))).all())


async def _structural(session: AsyncSession) -> list[Violation]:
    out: list[Violation] = []
    total = func.sum(E.amount)
    for r in await _rows(session, select(E.transaction_id, total).group_by(E.transaction_id).having(total != 0)):
        out.append(Violation("unbalanced", f"transaction {r[0]} sums to {r[1]}, not 0", transaction_id=r[0]))
    empty = select(T.id).outerjoin(E, E.transaction_id == T.id).where(E.id.is_(None))
    for r in await _rows(session, empty):
        out.append(Violation("empty_transaction", f"transaction {r.id} has no entries", transaction_id=r.id))
    orphan = (select(E.id, E.transaction_id).outerjoin(T, T.id == E.transaction_id).where(T.id.is_(None)))
    for r in await _rows(session, orphan):
        out.append(Violation("orphan_entry", f"entry {r.id} references missing transaction {r.transaction_id}"))
    for r in await _rows(session, select(E.id, E.transaction_id, E.account_id).outerjoin(A, A.id == E.account_id)
                         .where(A.id.is_(None))):
        out.append(Violation("unknown_account", f"entry {r.id} references missing account {r.account_id}",
                             transaction_id=r.transaction_id, account_id=r.account_id))
    for r in await _rows(session, select(T.id, T.account_id).outerjoin(A, A.id == T.account_id)
                         .where(A.id.is_(None))):
        out.append(Violation("unknown_account", f"transaction {r.id} concerns missing account {r.account_id}",
                             transaction_id=r.id, account_id=r.account_id))
    for r in await _rows(session, select(E.transaction_id, E.book).where(E.book.not_in(BOOKS))):
        out.append(Violation("unknown_book", f"book {r.book!r}", transaction_id=r.transaction_id))
    for r in await _rows(session, select(T.id, T.kind).where(T.kind.not_in(TRANSACTION_KINDS))):
        out.append(Violation("unknown_kind", f"kind {r.kind!r}", transaction_id=r.id))
    count = func.count(T.id)
    for r in await _rows(session, select(T.idempotency_key, count).group_by(T.idempotency_key).having(count > 1)):
        out.append(Violation("duplicate_key", f"idempotency key {r[0]!r} is used {r[1]} times"))
    wallets = func.sum(E.amount)
    for r in await _rows(session, select(E.account_id, wallets).where(E.book == "wallet")
                         .group_by(E.account_id).having(wallets < 0)):
        out.append(Violation("negative_wallet", f"account {r[0]} wallet balance is {r[1]}", account_id=r[0]))
    root_wallets = (select(E.transaction_id, E.account_id).join(A, A.id == E.account_id)
                    .where(E.book == "wallet", A.parent_id.is_(None)))
    for r in await _rows(session, root_wallets):
        out.append(Violation("root_wallet", "the root has no wallet", transaction_id=r[0], account_id=r[1]))
    return out


def _level(key: str, request_id: str) -> int | None:
    prefix = f"usage:{request_id}:"
    tail = key[len(prefix):] if key.startswith(prefix) else ""
    return int(tail) if tail.isdigit() and usage_key(request_id, int(tail)) == key else None


Level = tuple[int, int, list[tuple[int, str, int]]]  # (transaction id, payer, entries)


def _pair(entries: list[tuple[int, str, int]], debit: tuple[int | None, str], credit: tuple[int | None, str]) -> bool:
    """Exactly two entries: ``debit`` and ``credit`` (account, book), of opposite amounts."""
    out = [amt for a, b, amt in entries if (a, b) == debit]
    back = [amt for a, b, amt in entries if (a, b) == credit]
    return len(entries) == 2 and len(out) == 1 and len(back) == 1 and out[0] == -back[0]


def _check_request(request_id: str, requester: int | None, levels: dict[int, Level],
                   shape: Shape) -> Iterator[Violation]:
    """One request's usage postings, by level (0 = upstream, k = the payer at depth k)."""
    for level, (txn, payer, entries) in sorted(levels.items()):
        parent, depth, _kind = shape.get(payer, (None, -1, ""))
        where = {"transaction_id": txn, "account_id": payer, "request_id": request_id}
        if level == 0:
            if depth != 0 or not _pair(entries, (payer, "upstream_cost"), (payer, "upstream_payable")):
                yield Violation("usage_level", "the upstream level must be (root, upstream_cost, +c), "
                                "(root, upstream_payable, -c)", **where)
            continue
        if depth != level:
            yield Violation("usage_level", f"level {level} is paid by account {payer} at depth {depth}", **where)
        elif not _pair(entries, (payer, "wallet"), (parent, "revenue")):
            yield Violation("usage_level", f"level {level}: the seller's revenue entry does not equal account "
                            f"{payer}'s wallet debit", **where)
        above = levels.get(level - 1)
        if level > 1 and above is not None and above[1] != parent:
            yield Violation("usage_chain", f"level {level} payer {payer} is not a child of level {level - 1} "
                            f"payer {above[1]}", **where)
    paid = sorted(k for k in levels if k > 0)
    if not paid:
        return
    deepest = shape.get(requester, (None, paid[-1], ""))[1] if requester is not None else paid[-1]
    missing = [k for k in range(1, deepest + 1) if k not in levels]
    if missing:
        yield Violation("usage_incomplete", f"levels {missing} of request {request_id} are not posted",
                        request_id=request_id)
    elif requester is not None and (paid[-1] != deepest or levels[deepest][1] != requester):
        yield Violation("usage_chain", f"request {request_id} was made by account {requester} but billed down to "
                        f"account {levels[paid[-1]][1]}", request_id=request_id)


async def _usage(session: AsyncSession, shape: Shape) -> list[Violation]:
    """Check billed requests a page of request ids at a time (bounded memory, no open cursors)."""
    out: list[Violation] = []
    for r in await _rows(session, select(T.id).where(T.kind == "usage", T.request_id.is_(None))):
        out.append(Violation("usage_key", f"usage transaction {r.id} has no request id", transaction_id=r.id))
    last = ""
    while len(out) < LIMIT:
        page = list((await session.execute(
            select(T.request_id).where(T.kind == "usage", T.request_id > last).group_by(T.request_id)
            .order_by(T.request_id).limit(PAGE))).scalars())
        if not page:
            break
        last = page[-1]
        stmt = (select(T.request_id, T.id, T.idempotency_key, T.account_id, E.account_id, E.book, E.amount,
                       UsageEvent.account_id)
                .join(E, E.transaction_id == T.id).outerjoin(UsageEvent, UsageEvent.request_id == T.request_id)
                .where(T.kind == "usage", T.request_id >= page[0], T.request_id <= last)
                .order_by(T.request_id, T.id, E.id))
        requests: dict[str, tuple[int | None, dict[int, Level]]] = {}
        for request_id, txn, key, payer, account, book, amount, requester in await session.execute(stmt):
            levels = requests.setdefault(request_id, (requester, {}))[1]
            level = _level(key, request_id)
            if level is None:
                out.append(Violation("usage_key", f"usage transaction {txn} has key {key!r}", transaction_id=txn,
                                     request_id=request_id))
                continue
            levels.setdefault(level, (txn, payer, []))[2].append((account, book, amount))
        for request_id, (requester, levels) in requests.items():
            out.extend(_check_request(request_id, requester, levels, shape))
    return out[:LIMIT]


async def verify(session: AsyncSession) -> VerifyReport:
    """Check every ledger invariant; an empty ``violations`` list means the ledger is sound."""
    violations = await _structural(session)
    violations += await _usage(session, await accounts.all_shapes(session))
    transactions = (await session.execute(select(func.count(T.id)))).scalar_one()
    entries = (await session.execute(select(func.count(E.id)))).scalar_one()
    return VerifyReport(ok=not violations, transactions=transactions, entries=entries, violations=violations)
