"""ledger.verify() on a database of its own: clean, then tampered with in every way it must catch."""

from __future__ import annotations

import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.lib.clock import utcnow
from app.tenants import ledger, usage
from app.tenants.ledger import usage_key
from app.tenants.usage import UsageEventRow
from tests.tenants.conftest import build_tree


async def _raw_transaction(session: AsyncSession, key: str, kind: str, account_id: int, request_id: str | None,
                           entries: list[tuple[int, str, int]]) -> int:
    """Write straight to the tables, bypassing every check of the posting service."""
    txn_id = (await session.execute(text(
        "INSERT INTO ledger_transactions (idempotency_key, kind, account_id, memo, request_id, created_at) "
        "VALUES (:key, :kind, :account, 'raw', :rid, CURRENT_TIMESTAMP) RETURNING id"),
        {"key": key, "kind": kind, "account": account_id, "rid": request_id})).scalar_one()
    for account, book, amount in entries:
        await session.execute(text(
            "INSERT INTO ledger_entries (transaction_id, account_id, book, amount, created_at) "
            "VALUES (:txn, :account, :book, :amount, CURRENT_TIMESTAMP)"),
            {"txn": txn_id, "account": account, "book": book, "amount": amount})
    return txn_id


def kinds(report: ledger.VerifyReport) -> set[str]:
    return {v.kind for v in report.violations}


async def test_verify_passes_a_clean_ledger_and_catches_tampering(
        fresh_sessions: async_sessionmaker[AsyncSession], backend: str) -> None:
    async with fresh_sessions() as session:
        t = await build_tree(session, {"R": (None, "reseller"), "C": ("R", "customer")})
        root, r, c = t["C"].chain
        await ledger.grant_credit(session, r, 1_000, "credit")
        await ledger.grant_credit(session, c, 1_000, "credit")
        await ledger.post_usage(session, "req_ok", t["C"].chain, [100, 150], (1, 80))
        await session.commit()
        report = await ledger.verify(session)
        assert report.ok and report.violations == [] and report.transactions == 5 and report.entries == 10

        # An unbalanced transaction slipped in with raw SQL.
        bad = await _raw_transaction(session, "adjustment:raw", "adjustment", c, None, [(c, "wallet", 5)])
        await session.commit()
        report = await ledger.verify(session)
        assert not report.ok and kinds(report) == {"unbalanced"}
        assert report.violations[0].transaction_id == bad

        # Usage beyond the wallet: the customer ends below zero.
        await ledger.post_usage(session, "req_big", t["C"].chain, [100, 2_000])
        # A request billed at level 2 only, and one whose seller earned more than the child paid.
        await _raw_transaction(session, usage_key("req_half", 2), "usage", c, "req_half",
                               [(c, "wallet", -10), (r, "revenue", 10)])
        await _raw_transaction(session, usage_key("req_skew", 1), "usage", r, "req_skew",
                               [(r, "wallet", -10), (root, "revenue", 7), (root, "adjustments", 3)])
        await session.commit()
        report = await ledger.verify(session)
        assert kinds(report) == {"unbalanced", "negative_wallet", "usage_incomplete", "usage_level"}
        negative = [v for v in report.violations if v.kind == "negative_wallet"]
        # 1000 granted - 150 (req_ok) + 5 (the unbalanced entry) - 2000 (req_big) - 10 (req_half)
        assert [(v.account_id, v.message) for v in negative] == [(c, f"account {c} wallet balance is -1155")]
        assert {v.request_id for v in report.violations if v.kind.startswith("usage")} == {"req_half", "req_skew"}

        # The relay's usage event says C made this request, but the ledger billed R only.
        await usage.insert_batch(session, [UsageEventRow(
            request_id="req_short", created_at=utcnow(), account_id=c, key_id=None, chain=[root, r, c],
            protocol="openai", op="chat", model_requested="m", costs=[100, 150])])
        await ledger.post_usage(session, "req_short", (root, r), [100])
        await session.commit()
        short = [v for v in (await ledger.verify(session)).violations if v.request_id == "req_short"]
        assert [v.kind for v in short] == ["usage_incomplete"]

        if backend == "postgres":  # a database that lost the unique constraint shows its duplicates
            await session.execute(text("ALTER TABLE ledger_transactions "
                                       "DROP CONSTRAINT uq_ledger_transactions_idempotency_key"))
            dup = f"grant:{uuid.uuid4().hex}"
            for _ in range(2):
                await _raw_transaction(session, dup, "grant", c, None, [(c, "wallet", 1), (r, "grants", -1)])
            await session.commit()
            report = await ledger.verify(session)
            assert "duplicate_key" in kinds(report)
