"""Step 6 of the request path: settle, with group commit.

Each finished request hands its settlement (ledger postings + usage event) to the writer and waits
for it to be durable. The writer takes everything queued, writes it in one transaction, commits,
tells the funds store, and wakes every waiter. When idle, a request commits alone (one short
transaction); under load, hundreds share one commit, so the database sees a few writes per second
per replica instead of one per request, and never an UPDATE of a shared wallet row.

The relay releases a response's final bytes only after its settlement is durable: a request that
completed before a crash has always been billed, and one that had not completed was not.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.tenants.funds import FundsStore, WalletId

log = logging.getLogger("waystation.settlement")

#: Largest batch written in one transaction.
MAX_BATCH = 500
#: Backoff between attempts when the database refuses a batch (seconds); then the waiters are released
#: with an error and the holds are left to expire (never billed twice, never billed unknowingly).
RETRY_DELAYS = (0.05, 0.2, 0.5, 1.0, 2.0, 4.0)


@dataclass(slots=True)
class Settlement:
    request_id: str
    #: Wallet debits per account id (what each payer in the chain paid its parent).
    debits: Mapping[WalletId, int]
    #: Whatever the posting function needs (ledger rows, usage event row).
    payload: Any
    done: asyncio.Future[bool] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


PostBatch = Callable[[AsyncSession, Sequence[Settlement]], Awaitable[None]]


class SettlementWriter:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], funds: FundsStore, post: PostBatch) -> None:
        self._sessionmaker = sessionmaker
        self._funds = funds
        self._post = post
        self._queue: list[Settlement] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="settlement-writer")

    async def submit(self, settlement: Settlement) -> bool:
        """Queue and wait until durable. True when committed; False when the database could not
        take it (logged; the hold then expires unbilled)."""
        self._queue.append(settlement)
        self._wake.set()
        return await asyncio.shield(settlement.done)

    async def aclose(self) -> None:
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
                await self._write(batch)
            if self._closing:
                return

    async def _write(self, batch: list[Settlement]) -> None:
        # One in-flight mark per (settlement, wallet): each settlement's commit ends its own marks.
        marks = [w for s in batch for w in s.debits]
        for attempt, delay in enumerate((0.0, *RETRY_DELAYS)):
            if delay:
                await asyncio.sleep(delay)
            await self._funds.touch(marks)
            try:
                async with self._sessionmaker() as session:
                    await self._post(session, batch)
                    await session.commit()
                break
            except Exception:  # noqa: BLE001 - any database failure: retry, then give up loudly
                await self._funds.untouch(marks)
                log.exception("settlement batch failed", extra={"attempt": attempt + 1, "size": len(batch)})
        else:
            for s in batch:
                if not s.done.done():
                    s.done.set_result(False)
            return
        for s in batch:
            try:
                await self._funds.commit(s.request_id, s.debits, touched=True)
            except Exception:  # noqa: BLE001 - the ledger is committed; the reconciler will apply it
                log.exception("funds commit failed after the ledger commit", extra={"request_id": s.request_id})
            if not s.done.done():
                s.done.set_result(True)
