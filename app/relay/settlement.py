"""Step 6 of the request path: settle, through the journal, with group commit.

Each finished request hands its settlement (ledger postings + usage event) to the writer. With a
journal (app/relay/journal.py, the default), the writer appends it there and the request goes on
at once: its bill is safe from a crash of this process, and the database write happens after the
response's last byte. Without one, the request waits for its database COMMIT.

Either way, the writer takes everything queued, writes it in one transaction, commits, tells the
funds store, and wakes every waiter. When idle, a request commits alone (one short transaction);
under load, hundreds share one commit, so the database sees a few writes per second per replica
instead of one per request, and never an UPDATE of a shared wallet row.

A response's final bytes leave only after its settlement is journaled or committed: a request
that completed before a crash has always been billed, and one that had not completed was not.
At start-up, :meth:`SettlementWriter.replay` writes what dead processes left in the journal.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.relay.journal import Journal, Segment, orphans
from app.tenants.funds import FundsStore, WalletId

log = logging.getLogger("waystation.settlement")

#: Largest batch written in one transaction (preparing one runs on the event loop: a bigger batch
#: saves little and delays every request in flight while it is built).
MAX_BATCH = 100
#: Journaled settlements waiting for the database beyond which requests wait for their COMMIT
#: again (the database is slower than the traffic: memory stays bounded, backpressure returns).
#: Small enough that a request waiting behind it waits for ~20 batches, not for minutes of them
#: (a 10-minute embedded soak at saturation with 20,000 saw 5 s client timeouts).
MAX_BACKLOG = 2_000
#: Backoff between attempts when the database refuses a batch (seconds); then the waiters are released
#: with an error. Journaled settlements stay in the journal for the next start; others are left to
#: expire with their holds (never billed twice, never billed unknowingly).
RETRY_DELAYS = (0.05, 0.2, 0.5, 1.0, 2.0, 4.0)


@dataclass(slots=True)
class Settlement:
    request_id: str
    #: Wallet debits per account id (what each payer in the chain paid its parent).
    debits: Mapping[WalletId, int]
    #: Whatever the posting function needs (ledger rows, usage event row): a msgspec-encodable value.
    payload: Any
    done: asyncio.Future[bool] = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    #: The journal segment holding this settlement until it is in the database.
    segment: Segment | None = None


class _Record(msgspec.Struct, array_like=True):
    request_id: str
    debits: list[tuple[int | str, int]]
    payload: msgspec.Raw


class SettlementCodec:
    """Settlements to journal records and back; ``payload_type`` is what the posting function takes."""

    def __init__(self, payload_type: type) -> None:
        self._payload_type = payload_type
        self._encoder = msgspec.msgpack.Encoder()
        self._decoder = msgspec.msgpack.Decoder(_Record)

    def encode(self, settlement: Settlement) -> bytes:
        return self._encoder.encode(_Record(settlement.request_id, list(settlement.debits.items()),
                                            msgspec.Raw(self._encoder.encode(settlement.payload))))

    def decode(self, data: bytes) -> Settlement:
        record = self._decoder.decode(data)
        payload = msgspec.msgpack.decode(record.payload, type=self._payload_type)
        return Settlement(record.request_id, dict(record.debits), payload)


PostBatch = Callable[[AsyncSession, Sequence[Settlement]], Awaitable[None]]


class SettlementWriter:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], funds: FundsStore, post: PostBatch, *,
                 journal: Journal | None = None, codec: SettlementCodec | None = None) -> None:
        if journal is not None and codec is None:
            raise ValueError("a journal needs a codec for its records")
        self._sessionmaker = sessionmaker
        self._funds = funds
        self._post = post
        self._journal = journal
        self._codec = codec
        self._queue: list[Settlement] = []
        self._writing: list[Settlement] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="settlement-writer")

    async def submit(self, settlement: Settlement) -> bool:
        """Hand over one request's settlement. With a journal, returns True once it is journaled;
        otherwise waits until it is committed (True) or the database could not take it (False,
        logged; the hold then expires unbilled)."""
        if self._journal is not None and self._codec is not None and len(self._queue) < MAX_BACKLOG:
            try:
                settlement.segment = self._journal.append(self._codec.encode(settlement))
            except OSError:
                log.exception("journal write failed; waiting for the database instead",
                              extra={"request_id": settlement.request_id})
            else:
                self._enqueue(settlement)
                return True
        self._enqueue(settlement)
        return await asyncio.shield(settlement.done)

    def _enqueue(self, settlement: Settlement) -> None:
        self._queue.append(settlement)
        self._wake.set()

    async def flush(self) -> None:
        """Wait until everything submitted so far is in the database (or given up on), so that a
        read of the ledger sees this process's settled requests."""
        waiting = [s.done for s in (*self._writing, *self._queue) if not s.done.done()]
        if waiting:
            await asyncio.wait(waiting)

    async def replay(self, directory: Path) -> int:
        """Write what processes that are gone left in the journal at ``directory`` (call before
        serving). Returns how many settlements were replayed; those already in the database are
        skipped by the postings' idempotency keys."""
        if self._codec is None:
            raise ValueError("replaying a journal needs the codec of its records")
        replayed = 0
        for orphan in orphans(directory):
            try:
                settlements = [self._codec.decode(record) for record in orphan.records()]
            except (msgspec.DecodeError, msgspec.ValidationError):
                log.exception("journal file cannot be decoded; kept for inspection", extra={"path": str(orphan.path)})
                orphan.abandon()
                continue
            ok = True
            for start in range(0, len(settlements), MAX_BATCH):
                ok = await self._write(settlements[start:start + MAX_BATCH])
                if not ok:
                    break
            if ok:
                orphan.done()
                replayed += len(settlements)
                log.info("journal replayed", extra={"path": str(orphan.path), "settlements": len(settlements)})
            else:
                orphan.abandon()
        return replayed

    async def aclose(self) -> None:
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
        if self._journal is not None:
            self._journal.close()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
                self._writing = batch
                try:
                    await self._write(batch)
                finally:
                    self._writing = []
            if self._closing:
                return

    async def _write(self, batch: Sequence[Settlement]) -> bool:
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
            log.error("settlement batch given up; journaled bills are kept for the next start",
                      extra={"size": len(batch)})
            for s in batch:
                if not s.done.done():
                    s.done.set_result(False)
            return False
        if self._journal is not None:
            for s in batch:
                if s.segment is not None:
                    self._journal.written(s.segment)
                    s.segment = None
        try:  # one round trip for the whole batch
            await self._funds.commit_many([(s.request_id, s.debits) for s in batch], touched=True)
        except Exception:  # noqa: BLE001 - the ledger is committed; the reconciler will apply it
            log.exception("funds commit failed after the ledger commit", extra={"size": len(batch)})
        for s in batch:
            if not s.done.done():
                s.done.set_result(True)
        return True
