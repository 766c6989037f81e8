"""Credit, balances and reports over the ledger.

A wallet balance is the sum of that account's ``wallet`` entries: what it has prepaid to its
parent and not yet spent. Nothing here updates or deletes a ledger row.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Conflict, InvalidInput, NotFound
from app.lib.money import format_usd
from app.models import LedgerTransaction
from app.tenants.accounts import get_account
from app.tenants.ledger import repository
from app.tenants.ledger.posting import post_drafts
from app.tenants.ledger.schemas import Draft, EntryView, MarginReport, TransactionView

LEDGER_CSV_HEADER = ("transaction_id", "created_at", "kind", "idempotency_key", "request_id", "book",
                     "amount_micro", "amount_usd", "memo")


async def _view(session: AsyncSession, row: LedgerTransaction) -> TransactionView:
    entries = [EntryView(account_id=e.account_id, book=e.book, amount=e.amount)
               for e in await repository.entries_of(session, row.id)]
    return TransactionView(id=row.id, idempotency_key=row.idempotency_key, kind=row.kind, account_id=row.account_id,
                           memo=row.memo, request_id=row.request_id, created_at=row.created_at, entries=entries)


async def get_transaction(session: AsyncSession, idempotency_key: str) -> TransactionView | None:
    """The transaction posted under ``idempotency_key``, with its entries."""
    row = await repository.by_key(session, idempotency_key)
    return await _view(session, row) if row is not None else None


async def grant_credit(session: AsyncSession, account_id: int, amount: int, reason: str,
                       idempotency_key: str | None = None) -> TransactionView:
    """The parent of ``account_id`` gives it ``amount`` micro-units of credit:
    (account, wallet, +amount), (parent, grants, -amount).

    Posting an existing key returns the transaction already posted and posts nothing; a key
    already used for a different grant is a Conflict. Does not commit.
    """
    if amount <= 0:
        raise InvalidInput("a credit grant must be a positive amount")
    account = await get_account(session, account_id)
    if account.parent_id is None:
        raise InvalidInput("the root account has no wallet: it cannot receive credit")
    key = idempotency_key or f"grant:{uuid.uuid4().hex}"
    reason = reason.strip() or "credit grant"
    await post_drafts(session, [Draft(
        idempotency_key=key, kind="grant", account_id=account_id, memo=reason,
        entries=((account_id, "wallet", amount), (account.parent_id, "grants", -amount)),
    )])
    view = await get_transaction(session, key)
    if view is None:  # pragma: no cover - the insert or the conflicting row must exist
        raise NotFound(f"transaction {key} vanished")
    credited = sum(e.amount for e in view.entries if e.account_id == account_id and e.book == "wallet")
    if view.kind != "grant" or view.account_id != account_id or credited != amount:
        raise Conflict(f"idempotency key {key!r} was already used for a different transaction")
    return view


async def balance(session: AsyncSession, account_id: int) -> int:
    """The wallet balance of ``account_id`` in micro-units (0 for the root, which has no wallet)."""
    return (await repository.wallet_balances(session, [account_id])).get(account_id, 0)


async def balances(session: AsyncSession, account_ids: Sequence[int]) -> dict[int, int]:
    """Wallet balances of several accounts (every id present, 0 when it has no entries)."""
    found = await repository.wallet_balances(session, account_ids)
    return {account_id: found.get(account_id, 0) for account_id in account_ids}


async def margin(session: AsyncSession, account_id: int, start: datetime, end: datetime) -> MarginReport:
    """What ``account_id`` earned from its children's usage over [start, end), minus what that
    usage cost it; its own direct usage is reported apart."""
    await get_account(session, account_id)
    revenue, cost_of_sales, own = await repository.trading(session, account_id, start, end)
    return MarginReport(account_id=account_id, start=start, end=end, revenue=revenue, cost_of_sales=cost_of_sales,
                        margin=revenue - cost_of_sales, own_usage=own)


async def statement_rows(session: AsyncSession, account_id: int, start: datetime,
                         end: datetime) -> list[tuple[object, ...]]:
    """An account's ledger entries over [start, end) as CSV rows (see ``LEDGER_CSV_HEADER``)."""
    await get_account(session, account_id)
    return [(r.id, r.created_at.isoformat(), r.kind, r.idempotency_key, r.request_id or "", r.book, r.amount,
             format_usd(r.amount), r.memo) for r in await repository.statement(session, account_id, start, end)]
