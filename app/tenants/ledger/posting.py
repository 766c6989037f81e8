"""Posting to the ledger: balanced, append-only, idempotent by key, batched.

Every transaction's entries sum to zero. Posting a key that already exists posts nothing (a
duplicate in the same batch, an earlier post, or a concurrent writer racing on the same key).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import InvalidInput
from app.lib.clock import utcnow
from app.models import BOOKS, TRANSACTION_KINDS
from app.tenants.ledger import repository
from app.tenants.ledger.schemas import Draft, UsagePosting

MAX_MEMO = 500


def check_draft(draft: Draft) -> None:
    """Refuse a transaction that would break the ledger's rules (raises InvalidInput)."""
    if draft.kind not in TRANSACTION_KINDS:
        raise InvalidInput(f"unknown transaction kind {draft.kind!r}")
    if not draft.idempotency_key or len(draft.idempotency_key) > 255:
        raise InvalidInput("an idempotency key must be 1 to 255 characters")
    if not draft.entries:
        raise InvalidInput("a transaction needs entries")
    for _account, book, amount in draft.entries:
        if book not in BOOKS:
            raise InvalidInput(f"unknown ledger book {book!r}")
        if not isinstance(amount, int) or isinstance(amount, bool):
            raise InvalidInput("ledger amounts are integer micro-units")
    if sum(amount for _a, _b, amount in draft.entries) != 0:
        raise InvalidInput(f"transaction {draft.idempotency_key} does not balance")


async def post_drafts(session: AsyncSession, drafts: Sequence[Draft]) -> dict[str, int]:
    """Post transactions in a few statements, skipping keys already in the ledger (and repeats
    within ``drafts``: the first wins). Returns key -> id of what was actually posted. Does not commit."""
    unique: dict[str, Draft] = {}
    for draft in drafts:
        check_draft(draft)
        unique.setdefault(draft.idempotency_key, draft)
    if not unique:
        return {}
    now = utcnow()
    transactions: list[repository.NewTransaction] = []
    entries: list[repository.NewEntry] = []
    # Keys in one global order: two writers racing on overlapping batches then wait on each other
    # instead of deadlocking.
    for key, d in sorted(unique.items()):
        transactions.append((key, d.kind, d.account_id, d.memo[:MAX_MEMO], d.request_id, d.created_at or now))
        entries.extend((key, account_id, book, amount) for account_id, book, amount in d.entries)
    return await repository.insert_postings(session, transactions, entries)


def usage_key(request_id: str, level: int) -> str:
    """Idempotency key of one level of a request's bill (level = the payer's depth; 0 = upstream)."""
    return f"usage:{request_id}:{level}"


def usage_drafts(item: UsagePosting) -> list[Draft]:
    """One balanced transaction per level of ``item``'s chain.

    Level k >= 1: the payer chain[k] pays its parent chain[k-1]: (payer, wallet, -cost),
    (parent, revenue, +cost). Level 0, when the upstream cost is known: the root owes the
    provider: (root, upstream_cost, +c), (root, upstream_payable, -c).
    """
    chain, costs = item.chain, item.level_costs
    if not chain:
        raise InvalidInput("a usage posting needs the account chain")
    if len(costs) != len(chain) - 1:
        raise InvalidInput(f"{len(chain) - 1} level costs expected for a chain of {len(chain)}, got {len(costs)}")
    if any(c < 0 for c in costs) or (item.upstream is not None and item.upstream[1] < 0):
        raise InvalidInput("usage costs must not be negative")
    label = item.model or "usage"
    drafts: list[Draft] = []
    if item.upstream is not None:
        channel_id, upstream_cost = item.upstream
        drafts.append(Draft(
            idempotency_key=usage_key(item.request_id, 0), kind="usage", account_id=chain[0],
            entries=((chain[0], "upstream_cost", upstream_cost), (chain[0], "upstream_payable", -upstream_cost)),
            memo=f"{label} via channel {channel_id}", request_id=item.request_id, created_at=item.created_at,
        ))
    for level in range(1, len(chain)):
        payer, seller, amount = chain[level], chain[level - 1], costs[level - 1]
        drafts.append(Draft(
            idempotency_key=usage_key(item.request_id, level), kind="usage", account_id=payer,
            entries=((payer, "wallet", -amount), (seller, "revenue", amount)),
            memo=label, request_id=item.request_id, created_at=item.created_at,
        ))
    return drafts


async def post_usage(session: AsyncSession, request_id: str, chain: Sequence[int], level_costs: Sequence[int],
                     upstream: tuple[int, int] | None = None, *, model: str = "",
                     created_at: datetime | None = None) -> int:
    """Post one request's bill: one balanced transaction per level, keys ``usage:<request>:<level>``.
    Returns how many transactions were posted (0 when it was already posted). Does not commit."""
    item = UsagePosting(request_id=request_id, chain=tuple(chain), level_costs=tuple(level_costs),
                        upstream=upstream, model=model, created_at=created_at)
    return len(await post_drafts(session, usage_drafts(item)))


async def post_usage_batch(session: AsyncSession, items: Sequence[UsagePosting]) -> int:
    """Post many requests' bills in a few statements whatever their number (one on PostgreSQL),
    skipping levels already posted. Returns how many transactions were posted. Does not commit."""
    drafts = [draft for item in items for draft in usage_drafts(item)]
    return len(await post_drafts(session, drafts))
