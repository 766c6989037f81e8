"""Usage events: written in batches by the relay, read by reports and exports."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Account, UsageEvent
from app.tenants.bulk import chunks, insert_skipping_conflicts
from app.tenants.usage.schemas import UsageEventRow


async def insert_batch(session: AsyncSession, rows: Sequence[UsageEventRow]) -> int:
    """Insert events with a few multi-row INSERTs; a request id already stored is skipped, so a
    retried batch is harmless. Returns how many rows were inserted. Does not commit."""
    if not rows:
        return 0
    table = UsageEvent.__table__
    base = insert_skipping_conflicts(session, table, "request_id")
    # Sorted, so concurrent writers of overlapping batches cannot deadlock on the unique index.
    values: list[dict[str, Any]] = [msgspec.structs.asdict(row) for row in sorted(rows, key=lambda r: r.request_id)]
    inserted = 0
    for part in chunks(values):
        result = await session.execute(base.values(list(part)).returning(table.c.id))
        inserted += len(result.all())
    return inserted


async def for_subtree(session: AsyncSession, path: str, start: datetime, end: datetime) -> Sequence[UsageEvent]:
    """Events of every account at or below ``path`` over [start, end), oldest first."""
    stmt = (select(UsageEvent).join(Account, Account.id == UsageEvent.account_id)
            .where(Account.path.startswith(path, autoescape=True), UsageEvent.created_at >= start,
                   UsageEvent.created_at < end)
            .order_by(UsageEvent.created_at, UsageEvent.id))
    return (await session.execute(stmt)).scalars().all()
