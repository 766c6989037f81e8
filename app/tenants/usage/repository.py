"""Usage events: written in batches by the relay, read by reports and exports."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from operator import attrgetter
from typing import cast

import msgspec
from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Account, UsageEvent
from app.tenants import bulk
from app.tenants.usage.schemas import UsageEventRow

EVENTS = cast(Table, UsageEvent.__table__)
#: The columns an event fills, in ``UsageEventRow`` field order (the names are the table's).
COLUMNS: tuple[str, ...] = UsageEventRow.__struct_fields__


async def insert_batch(session: AsyncSession, rows: Sequence[UsageEventRow]) -> int:
    """Insert events in one statement (one executemany on SQLite); a request id already stored,
    or repeated in ``rows``, is skipped, so a retried batch is harmless. Returns how many rows were
    inserted. Does not commit."""
    # Sorted, so concurrent writers of overlapping batches cannot deadlock on the unique index.
    values = [msgspec.structs.astuple(row) for row in sorted(rows, key=attrgetter("request_id"))]
    return await bulk.insert_rows(session, EVENTS, COLUMNS, values, conflict="request_id")


async def for_subtree(session: AsyncSession, path: str, start: datetime, end: datetime) -> Sequence[UsageEvent]:
    """Events of every account at or below ``path`` over [start, end), oldest first."""
    stmt = (select(UsageEvent).join(Account, Account.id == UsageEvent.account_id)
            .where(Account.path.startswith(path, autoescape=True), UsageEvent.created_at >= start,
                   UsageEvent.created_at < end)
            .order_by(UsageEvent.created_at, UsageEvent.id))
    return (await session.execute(stmt)).scalars().all()
