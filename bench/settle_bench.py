"""Micro-benchmark of the settlement writer's batch: ``post_usage_batch`` + usage ``insert_batch`` +
COMMIT, as ``app.relay.billing.post_settlements`` and the group-commit writer run them.

Each backend gets a throwaway database (SQLite in a temporary directory; PostgreSQL: a database
``settle_bench_<random>`` next to ``BENCH_POSTGRES_URL``, dropped after), migrated to head, with a
4-level chain root -> reseller -> sub-reseller -> customer. A request posts what a real one does:
4 ledger transactions (3 payer levels + the root's upstream cost), 8 entries, 1 usage event.

Two implementations run interleaved, round by round, on the same database: ``before`` (the
multi-row ``insert().values([...])`` built and compiled per batch, kept below as it was) and
``after`` (the app's code as it is now). Times are per batch, from opening the session: wall clock
to the last INSERT (write) and to COMMIT done (total), and this process's CPU time (which includes
SQLite's own work, in-process, but not PostgreSQL's). The run ends with ``ledger verify`` and exact
row counts, so a faster but wrong variant fails loudly.

    .venv/bin/python -m bench.settle_bench                       # both backends, sizes 1, 10, 100
    .venv/bin/python -m bench.settle_bench --backends sqlite --sizes 1,10 --requests 1000 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgspec
from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql.dml import Insert

from app import migrations
from app.config import Settings
from app.db import create_engine, create_sessionmaker
from app.lib.clock import utcnow
from app.models import LedgerEntry, LedgerTransaction, UsageEvent
from app.tenants.accounts import create_account, ensure_root_account
from app.tenants.bulk import chunks
from app.tenants.ledger import UsagePosting, grant_credit, post_usage_batch, usage_drafts, verify
from app.tenants.ledger.posting import MAX_MEMO, check_draft
from app.tenants.ledger.schemas import Draft
from app.tenants.usage import UsageEventRow, insert_batch
from bench.servers import POSTGRES_URL, pg_admin

SECRET = "settle-bench-secret"

Post = Callable[[AsyncSession, Sequence[UsagePosting], Sequence[UsageEventRow]], Awaitable[None]]


# --- before: the per-batch multi-row INSERTs, as they were ---------------------------------------

def insert_skipping_conflicts(session: AsyncSession, table: Any, unique_column: str) -> Insert:
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=[unique_column])
    return sqlite.insert(table).on_conflict_do_nothing(index_elements=[unique_column])


async def _legacy_insert_transactions(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    table = LedgerTransaction.__table__
    inserted: dict[str, int] = {}
    base = insert_skipping_conflicts(session, table, "idempotency_key")
    for part in chunks(rows):
        stmt = base.values(list(part)).returning(table.c.id, table.c.idempotency_key)
        for row in await session.execute(stmt):
            inserted[row.idempotency_key] = row.id
    return inserted


async def _legacy_post_drafts(session: AsyncSession, drafts: Sequence[Draft]) -> dict[str, int]:
    unique: dict[str, Draft] = {}
    for draft in drafts:
        check_draft(draft)
        unique.setdefault(draft.idempotency_key, draft)
    if not unique:
        return {}
    now = utcnow()
    rows = [{"idempotency_key": d.idempotency_key, "kind": d.kind, "account_id": d.account_id,
             "memo": d.memo[:MAX_MEMO], "request_id": d.request_id, "created_at": d.created_at or now}
            for _key, d in sorted(unique.items())]
    posted = await _legacy_insert_transactions(session, rows)
    entries: list[dict[str, Any]] = []
    for key, transaction_id in posted.items():
        draft = unique[key]
        when = draft.created_at or now
        entries.extend({"transaction_id": transaction_id, "account_id": account_id, "book": book,
                        "amount": amount, "created_at": when} for account_id, book, amount in draft.entries)
    for part in chunks(entries):
        await session.execute(LedgerEntry.__table__.insert().values(list(part)))
    return posted


async def _legacy_insert_events(session: AsyncSession, rows: Sequence[UsageEventRow]) -> int:
    if not rows:
        return 0
    table = UsageEvent.__table__
    base = insert_skipping_conflicts(session, table, "request_id")
    values = [msgspec.structs.asdict(row) for row in sorted(rows, key=lambda r: r.request_id)]
    inserted = 0
    for part in chunks(values):
        inserted += len((await session.execute(base.values(list(part)).returning(table.c.id))).all())
    return inserted


async def before(session: AsyncSession, postings: Sequence[UsagePosting], events: Sequence[UsageEventRow]) -> None:
    await _legacy_post_drafts(session, [d for item in postings for d in usage_drafts(item)])
    await _legacy_insert_events(session, events)


# --- after: the app as it is ---------------------------------------------------------------------

async def after(session: AsyncSession, postings: Sequence[UsagePosting], events: Sequence[UsageEventRow]) -> None:
    await post_usage_batch(session, postings)
    await insert_batch(session, events)


VARIANTS: dict[str, Post] = {"before": before, "after": after}


# --- databases -------------------------------------------------------------------------------------

@contextmanager
def database(backend: str) -> Iterator[Settings]:
    """A migrated throwaway database; removed on exit."""
    with tempfile.TemporaryDirectory(prefix="settle-bench-") as tmp:
        if backend == "sqlite":
            settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp}/bench.db", secret_key=SECRET,
                                data_dir=Path(tmp), probes=False)
            migrations.upgrade(settings)
            yield settings
            return
        name = f"settle_bench_{secrets.token_hex(5)}"
        asyncio.run(pg_admin(f'CREATE DATABASE "{name}"'))
        try:
            url = f"postgresql+asyncpg://{POSTGRES_URL.split('://', 1)[1].rsplit('/', 1)[0]}/{name}"
            settings = Settings(database_url=url, secret_key=SECRET, data_dir=Path(tmp), probes=False)
            migrations.upgrade(settings)
            yield settings
        finally:
            asyncio.run(pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def four_levels(sessions: async_sessionmaker[AsyncSession]) -> tuple[int, ...]:
    """root -> reseller -> sub-reseller -> customer, funded; returns the customer's chain."""
    async with sessions() as session:
        await ensure_root_account(session)
        reseller = await create_account(session, None, "bench-reseller", "reseller")
        sub = await create_account(session, reseller.id, "bench-sub", "reseller")
        customer = await create_account(session, sub.id, "bench-customer", "customer")
        for account in (reseller, sub, customer):  # enough that no wallet goes negative
            await grant_credit(session, account.id, 10**15, "bench credit")
        await session.commit()
    return tuple(customer.chain)


def requests(chain: tuple[int, ...], n: int) -> tuple[list[UsagePosting], list[UsageEventRow]]:
    """``n`` requests' bills and events, filled the way ``Billing.settle`` fills them."""
    postings: list[UsagePosting] = []
    events: list[UsageEventRow] = []
    for _ in range(n):
        request_id = f"req_{uuid.uuid4().hex}"
        costs = [1287, 1544, 1697]
        postings.append(UsagePosting(request_id=request_id, chain=chain, level_costs=tuple(costs),
                                     upstream=(1, 1159), model="gpt-bench"))
        events.append(UsageEventRow(
            request_id=request_id, created_at=utcnow(), account_id=chain[-1], key_id=1, chain=list(chain),
            protocol="openai", op="chat", model_requested="gpt-bench", model_served="gpt-bench-0613", channel_id=1,
            stream=False, status=200, input_tokens=1234, output_tokens=567, cache_read_tokens=8901,
            cache_write_tokens=23, reasoning_tokens=0, costs=costs, upstream_cost=1159, latency_ms=812, ttfb_ms=95))
    return postings, events


# --- timing ----------------------------------------------------------------------------------------

async def one_batch(sessions: async_sessionmaker[AsyncSession], post: Post, chain: tuple[int, ...],
                    size: int) -> tuple[float, float, float]:
    """(write, write + COMMIT, process CPU) seconds of one batch of ``size`` new requests."""
    postings, events = requests(chain, size)
    cpu = time.process_time()
    start = time.perf_counter()
    async with sessions() as session:
        await post(session, postings, events)
        written = time.perf_counter()
        await session.commit()
    done = time.perf_counter()
    return written - start, done - start, time.process_time() - cpu


def summary(size: int, variant: str, samples: list[tuple[float, float, float]]) -> dict[str, Any]:
    write, total, cpu = ([s[i] * 1e3 for s in samples] for i in range(3))
    return {"size": size, "variant": variant, "batches": len(samples),
            "write_mean_ms": statistics.fmean(write), "write_p50_ms": statistics.median(write),
            "mean_ms": statistics.fmean(total), "p50_ms": statistics.median(total),
            "cpu_mean_ms": statistics.fmean(cpu)}


async def run_backend(settings: Settings, sizes: Sequence[int], total: int, rounds: int) -> list[dict[str, Any]]:
    engine = create_engine(settings)
    sessions = create_sessionmaker(engine)
    results: list[dict[str, Any]] = []
    try:
        chain = await four_levels(sessions)
        posted = 0
        for size in sizes:
            batches = max(10, total // size // rounds)
            times: dict[str, list[tuple[float, float, float]]] = {name: [] for name in VARIANTS}
            for variant in VARIANTS.values():  # warm-up: statement caches, connection pool
                for _ in range(5):
                    await one_batch(sessions, variant, chain, size)
                    posted += size
            for r in range(rounds):  # interleaved, so both see the same machine load and table sizes
                order = list(VARIANTS.items()) if r % 2 == 0 else list(reversed(VARIANTS.items()))
                for name, variant in order:
                    for _ in range(batches):
                        times[name].append(await one_batch(sessions, variant, chain, size))
                        posted += size
            results.extend(summary(size, name, samples) for name, samples in times.items())
        async with sessions() as session:
            report = await verify(session)
            counts = [(await session.execute(select(func.count()).select_from(m))).scalar_one()
                      for m in (LedgerTransaction, LedgerEntry, UsageEvent)]
        expected = [4 * posted + 3, 8 * posted + 6, posted]  # + the three grants
        if not report.ok or counts != expected:
            raise SystemExit(f"ledger check failed: verify ok={report.ok} {report.violations[:3]}; "
                             f"(transactions, entries, events) = {counts}, expected {expected}")
    finally:
        await engine.dispose()
    return results


def print_table(backend: str, results: list[dict[str, Any]]) -> None:
    print(f"\n{backend}: ms per batch (write: before COMMIT; total: with COMMIT; cpu: this process's), "
          "us per request (total)")
    print(f"{'size':>5} {'variant':>8} {'batches':>7} {'write mean':>10} {'write p50':>9} {'total mean':>10} "
          f"{'total p50':>9} {'cpu mean':>8} {'us/req mean':>11} {'us/req p50':>10}")
    for r in results:
        size = r["size"]
        print(f"{size:>5} {r['variant']:>8} {r['batches']:>7} {r['write_mean_ms']:>10.3f} {r['write_p50_ms']:>9.3f} "
              f"{r['mean_ms']:>10.3f} {r['p50_ms']:>9.3f} {r['cpu_mean_ms']:>8.3f} "
              f"{r['mean_ms'] * 1e3 / size:>11.1f} {r['p50_ms'] * 1e3 / size:>10.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="sqlite,postgres", help="comma-separated: sqlite, postgres")
    parser.add_argument("--sizes", default="1,10,100", help="requests per batch, comma-separated")
    parser.add_argument("--requests", type=int, default=3000, help="requests per variant and batch size")
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds per batch size")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    for backend in args.backends.split(","):
        with database(backend) as settings:
            results = asyncio.run(run_backend(settings, sizes, args.requests, args.rounds))
        print_table(backend, results)


if __name__ == "__main__":
    main()
