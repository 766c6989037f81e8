"""Ledger records as the rest of the app sees them."""

from __future__ import annotations

from datetime import datetime

import msgspec


class EntryView(msgspec.Struct):
    account_id: int
    book: str
    #: Signed micro-units.
    amount: int


class TransactionView(msgspec.Struct):
    id: int
    idempotency_key: str
    kind: str
    account_id: int
    memo: str
    request_id: str | None
    created_at: datetime
    entries: list[EntryView]


class Draft(msgspec.Struct, frozen=True):
    """A transaction about to be posted: ``entries`` are (account_id, book, amount) and sum to zero."""

    idempotency_key: str
    kind: str
    account_id: int
    entries: tuple[tuple[int, str, int], ...]
    memo: str = ""
    request_id: str | None = None
    created_at: datetime | None = None


class UsagePosting(msgspec.Struct, frozen=True):
    """One request's bill, to post as one ledger transaction per level."""

    request_id: str
    #: Account ids root..requesting account.
    chain: tuple[int, ...]
    #: Micro-units each payer pays its parent, root's direct child first (len(chain) - 1 items).
    level_costs: tuple[int, ...]
    #: (channel_id, micro-units the provider charges the root), when the channel's price is known.
    upstream: tuple[int, int] | None = None
    model: str = ""
    #: When the request happened (default: now).
    created_at: datetime | None = None


class MarginReport(msgspec.Struct):
    """One account's trading over [start, end): what its children paid it for their usage, what
    that usage cost it (its parent's price, or the upstream cost for the root), and its own usage."""

    account_id: int
    start: datetime
    end: datetime
    revenue: int
    cost_of_sales: int
    margin: int
    own_usage: int


class Violation(msgspec.Struct):
    kind: str
    message: str
    transaction_id: int | None = None
    account_id: int | None = None
    request_id: str | None = None


class VerifyReport(msgspec.Struct):
    ok: bool
    transactions: int
    entries: int
    violations: list[Violation]
