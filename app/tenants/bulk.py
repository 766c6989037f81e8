"""Bulk inserts shared by the append-only tables (ledger, usage events).

The settlement writer sends every relayed request's bill through these, so they are on the hot
path. Each insert's SQL is built once per table and backend from the table's metadata and handed
to the driver as text (``exec_driver_sql``): SQLAlchemy neither rebuilds nor recompiles a
statement per batch, and the driver's own statement cache (asyncpg's prepared statements,
sqlite3's) sees the same few texts again and again. Values go through the bind processors SQLAlchemy would
have applied (UTC timestamps, SQLite's datetime format, JSON), so rows are stored as before.

- PostgreSQL: one statement per batch whatever its size; each column travels as one array
  parameter: ``INSERT ... SELECT * FROM unnest($1::VARCHAR[], ...)``.
- SQLite (in-process, no round trips to save): ``executemany``, or a multi-row ``VALUES`` per
  ``CHUNK`` rows where the inserted rows must be returned (sqlite3's executemany returns none).

Duplicates are skipped with ``ON CONFLICT (unique column) DO NOTHING``, concurrent ones included:
PostgreSQL makes the second writer wait for the first to commit, then skips its row, and
RETURNING names the rows really inserted. (Catching the unique violation and rolling back to a
SAVEPOINT is not safe on SQLite: its driver commits the whole transaction at RELEASE of an
outermost SAVEPOINT.) Rows are inserted in the order given; callers sort them by the unique key,
so two writers of overlapping batches wait on each other instead of deadlocking.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Sequence
from itertools import chain
from typing import Any, TypeVar

from sqlalchemy import Table
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

#: Rows per multi-VALUES INSERT on SQLite: well under its bound-parameter limit.
CHUNK = 500
Row = TypeVar("Row")
Processor = Callable[[Any], Any]
Processors = tuple[Processor | None, ...]

BACKENDS = ("postgresql", "sqlite")
_UNSET = object()
_MODIFIERS = re.compile(r"\s*\([^)]*\)")


def chunks(rows: Sequence[Row], size: int = CHUNK) -> Iterable[Sequence[Row]]:
    for start in range(0, len(rows), size):
        yield rows[start:start + size]


async def connection(session: AsyncSession) -> AsyncConnection:
    """The session's connection (in its transaction), for driver-level statements."""
    conn = await session.connection()
    if conn.dialect.name not in BACKENDS:
        raise NotImplementedError(f"no bulk inserts for {conn.dialect.name}")
    return conn


@functools.lru_cache(maxsize=64)
def bind_processors(dialect: Dialect, table: Table, columns: tuple[str, ...]) -> Processors:
    """What SQLAlchemy does to each column's Python value before the driver sees it (None: nothing)."""
    return tuple(table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in columns)


def _processed(process: Processor, values: Iterable[Any]) -> list[Any]:
    # Bind processors are pure, and rows often repeat the very same value one after another (a
    # batch's timestamp): process each run of one object once.
    out: list[Any] = []
    last: Any = _UNSET
    done: Any = None
    for value in values:
        if value is not last:
            last, done = value, process(value)
        out.append(done)
    return out


def processed_arrays(rows: Sequence[Sequence[Any]], processors: Processors) -> list[list[Any]]:
    """``rows`` as one list of driver parameters per column (PostgreSQL's unnest arrays)."""
    if not rows:
        return [[] for _ in processors]
    return [list(column) if process is None else _processed(process, column)
            for column, process in zip(zip(*rows, strict=True), processors, strict=True)]


def processed_rows(rows: Sequence[Sequence[Any]], processors: Processors) -> list[tuple[Any, ...]]:
    """``rows`` as driver parameters, row by row (SQLite's executemany, multi-row VALUES)."""
    if all(process is None for process in processors):
        return [tuple(row) for row in rows]
    return list(zip(*processed_arrays(rows, processors), strict=True))


def _quoted(dialect: Dialect, names: Iterable[str]) -> str:
    return ", ".join(dialect.identifier_preparer.quote(name) for name in names)


@functools.lru_cache(maxsize=64)
def pg_arrays(dialect: Dialect, table: Table, columns: tuple[str, ...], first: int = 1) -> str:
    """``$1::VARCHAR[], $2::INTEGER[], ...``: one array parameter per column, typed from the table.

    Without length or precision: an explicit cast to VARCHAR(64) would silently truncate a value
    that is too long, where the INSERT's own assignment to the column refuses it."""
    return ", ".join(f"${i}::{_MODIFIERS.sub('', table.c[name].type.compile(dialect=dialect))}[]"
                     for i, name in enumerate(columns, first))


@functools.lru_cache(maxsize=64)
def insert_sql(dialect: Dialect, table: Table, columns: tuple[str, ...], conflict: str | None = None,
               returning: tuple[str, ...] = (), rows: int = 1) -> str:
    """INSERT [ON CONFLICT (conflict) DO NOTHING] [RETURNING ...] of ``columns`` for ``dialect``:
    from unnest arrays on PostgreSQL (any number of rows), else ``rows`` rows of ``?`` placeholders."""
    into = f"INSERT INTO {dialect.identifier_preparer.format_table(table)} ({_quoted(dialect, columns)})"
    if dialect.name == "postgresql":
        source = f"SELECT * FROM unnest({pg_arrays(dialect, table, columns)})"
    else:
        one = "(" + ", ".join("?" * len(columns)) + ")"
        source = "VALUES " + ", ".join([one] * rows)
    sql = f"{into} {source}"
    if conflict is not None:
        sql += f" ON CONFLICT ({_quoted(dialect, [conflict])}) DO NOTHING"
    if returning:
        sql += f" RETURNING {_quoted(dialect, returning)}"
    return sql


async def insert_rows(session: AsyncSession, table: Table, columns: tuple[str, ...],
                      rows: Sequence[Sequence[Any]], conflict: str | None = None) -> int:
    """Insert ``rows`` (values in ``columns`` order), skipping those whose ``conflict`` column is
    already stored when given. One statement on PostgreSQL, one executemany on SQLite. Returns
    how many rows were inserted."""
    if not rows:
        return 0
    conn = await connection(session)
    processors = bind_processors(conn.dialect, table, columns)
    sql = insert_sql(conn.dialect, table, columns, conflict)
    if conn.dialect.name == "postgresql":
        result = await conn.exec_driver_sql(sql, tuple(processed_arrays(rows, processors)))
    else:
        result = await conn.exec_driver_sql(sql, processed_rows(rows, processors))
    return result.rowcount


async def insert_rows_returning(session: AsyncSession, table: Table, columns: tuple[str, ...],
                                rows: Sequence[Sequence[Any]], conflict: str,
                                returning: tuple[str, ...]) -> list[tuple[Any, ...]]:
    """Insert ``rows`` skipping stored ``conflict`` values; the ``returning`` columns of the rows
    actually inserted, in no particular order (match them on a unique column, not by position)."""
    if not rows:
        return []
    conn = await connection(session)
    processors = bind_processors(conn.dialect, table, columns)
    if conn.dialect.name == "postgresql":
        sql = insert_sql(conn.dialect, table, columns, conflict, returning)
        return [tuple(r) for r in await conn.exec_driver_sql(sql, tuple(processed_arrays(rows, processors)))]
    out: list[tuple[Any, ...]] = []
    for part in chunks(processed_rows(rows, processors)):
        sql = insert_sql(conn.dialect, table, columns, conflict, returning, len(part))
        out.extend(tuple(r) for r in await conn.exec_driver_sql(sql, tuple(chain.from_iterable(part))))
    return out
