"""Bulk inserts shared by the append-only tables (ledger, usage events)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import Insert

#: Rows per multi-VALUES INSERT: well under both backends' bound-parameter limits.
CHUNK = 500
Row = TypeVar("Row")


def insert_skipping_conflicts(session: AsyncSession, table: Table | Any, unique_column: str) -> Insert:
    """INSERT ... ON CONFLICT (unique_column) DO NOTHING for the session's backend.

    This is how duplicates are skipped, concurrent ones included: PostgreSQL makes the second
    writer wait for the first to commit, then skips its row, and RETURNING names the rows that
    were really inserted. (Catching the unique violation and rolling back to a SAVEPOINT is not
    safe on SQLite: its driver commits the whole transaction at RELEASE of an outermost SAVEPOINT.)
    """
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=[unique_column])
    if dialect == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing(index_elements=[unique_column])
    raise NotImplementedError(f"no conflict-skipping insert for {dialect}")


def chunks(rows: Sequence[Row], size: int = CHUNK) -> Iterable[Sequence[Row]]:
    for start in range(0, len(rows), size):
        yield rows[start:start + size]
