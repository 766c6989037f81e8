"""The double-entry ledger: balanced, append-only, idempotent postings, and the reports over them."""

from app.tenants.ledger.posting import post_drafts, post_usage, post_usage_batch, usage_drafts, usage_key
from app.tenants.ledger.schemas import (
    Draft,
    EntryView,
    MarginReport,
    TransactionView,
    UsagePosting,
    VerifyReport,
    Violation,
)
from app.tenants.ledger.service import (
    LEDGER_CSV_HEADER,
    balance,
    balances,
    get_transaction,
    grant_credit,
    margin,
    statement_rows,
)
from app.tenants.ledger.verify import verify

__all__ = [
    "LEDGER_CSV_HEADER", "Draft", "EntryView", "MarginReport", "TransactionView", "UsagePosting", "VerifyReport",
    "Violation", "balance", "balances", "get_transaction", "grant_credit", "margin", "post_drafts", "post_usage",
    "post_usage_batch", "statement_rows", "usage_drafts", "usage_key", "verify",
]
