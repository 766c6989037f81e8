"""The double-entry ledger: append-only transactions whose entries sum to zero.

Books (per account):
  wallet            the account's prepaid balance held at its parent (root has none)
  revenue           what the account earned from its children's usage
  grants            credit the account gave its children (negative)
  cash              money received from outside (top-ups)
  upstream_cost     what the root owes providers for usage (positive) ...
  upstream_payable  ... and its balancing liability (negative)
  adjustments       manual corrections
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from sqlalchemy import BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, BigId, created_at_column

TransactionKind = Literal["usage", "grant", "topup", "redemption", "transfer", "refund", "adjustment"]
TRANSACTION_KINDS: tuple[str, ...] = ("usage", "grant", "topup", "redemption", "transfer", "refund", "adjustment")
Book = Literal["wallet", "revenue", "grants", "cash", "upstream_cost", "upstream_payable", "adjustments"]
BOOKS: tuple[str, ...] = ("wallet", "revenue", "grants", "cash", "upstream_cost", "upstream_payable", "adjustments")


class LedgerTransaction(Base):
    __tablename__ = "ledger_transactions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    #: Posting the same key twice posts once: "usage:<request id>:<level>", "grant:<...>", ...
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    #: The account the transaction is about (the payer of a usage level, the grantee, ...).
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    memo: Mapped[str] = mapped_column(String(500), default="")
    request_id: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    created_at: Mapped[datetime] = created_at_column(index=True)


class LedgerEntry(Base):
    __tablename__ = "ledger_entries"
    __table_args__ = (Index("ix_ledger_entries_account_id_book", "account_id", "book"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    transaction_id: Mapped[int] = mapped_column(ForeignKey("ledger_transactions.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    book: Mapped[str] = mapped_column(String(24))
    #: Signed micro-units.
    amount: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = created_at_column()
