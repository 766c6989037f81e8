"""Background work that runs inside each web process (and, in production, also in the arq worker):
resolving expired holds and re-syncing wallet mirrors with the ledger."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from app.tenants.funds import FundsStore

log = logging.getLogger("waystation.jobs")

#: Seconds between reconciliation rounds.
RECONCILE_EVERY = 5.0


async def reconcile_funds(funds: FundsStore) -> int:
    """One round: resolve expired holds against the ledger, then refresh balance mirrors."""
    expired = await funds.expire()
    await funds.resync()
    return expired


async def run_periodically(funds: FundsStore, every: float = RECONCILE_EVERY) -> None:
    while True:
        await asyncio.sleep(every)
        try:
            expired = await reconcile_funds(funds)
            if expired:
                log.info("resolved expired holds", extra={"count": expired})
        except Exception:  # noqa: BLE001 - keep reconciling; a failed round is retried next time
            log.exception("funds reconciliation failed")


@contextlib.asynccontextmanager
async def periodic_reconciler(funds: FundsStore, every: float = RECONCILE_EVERY):  # type: ignore[no-untyped-def]
    task = asyncio.create_task(run_periodically(funds, every), name="funds-reconciler")
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
