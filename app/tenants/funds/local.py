"""In-process funds store (embedded mode: one process, no Redis).

Reservation is atomic because the check and the update run without an ``await`` in between:
nothing else on the event loop can interleave.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from app.tenants.funds.base import BalanceLoader, SettledLookup, Shortfall, WalletId


@dataclass(slots=True)
class _Hold:
    amounts: tuple[tuple[WalletId, int], ...]
    expires_at: float


class LocalFunds:
    def __init__(self, load_balances: BalanceLoader, settled: SettledLookup) -> None:
        self._load_balances = load_balances
        self._settled = settled
        self._now = time.monotonic
        self._balance: dict[WalletId, int] = {}
        self._held: dict[WalletId, int] = {}
        self._gen: dict[WalletId, int] = {}
        self._pending: dict[WalletId, int] = {}
        self._holds: dict[str, _Hold] = {}
        #: Requests whose expired hold was released unbilled (the ledger did not show them yet):
        #: a commit arriving later must still debit. Rare, kept a day. Every other request is
        #: debited by the commit that finds its hold, so nothing per request outlives its hold.
        self._released: dict[str, float] = {}
        self._load_lock = asyncio.Lock()

    # ---------------------------------------------------------------- balances

    async def _ensure_loaded(self, wallets: Sequence[WalletId]) -> None:
        missing = [w for w in wallets if w not in self._balance]
        if not missing:
            return
        async with self._load_lock:
            missing = [w for w in missing if w not in self._balance]
            while missing:
                gens = {w: self._gen.get(w, 0) for w in missing}
                loaded = await self._load_balances(missing)
                for w in missing:
                    if self._installable(w, gens[w]) and w not in self._balance:
                        self._balance[w] = loaded.get(w, 0)
                missing = [w for w in missing if w not in self._balance]
                if missing:
                    await asyncio.sleep(0.001)  # a settlement is in flight: let it land

    def available(self, wallet_id: WalletId) -> int | None:
        """Balance minus holds, if the wallet is loaded (for tests and diagnostics)."""
        if wallet_id not in self._balance:
            return None
        return self._balance[wallet_id] - self._held.get(wallet_id, 0)

    def _installable(self, wallet_id: WalletId, gen_before_read: int) -> bool:
        return self._gen.get(wallet_id, 0) == gen_before_read and not self._pending.get(wallet_id)

    def _apply(self, wallet_id: WalletId, delta: int) -> None:
        self._gen[wallet_id] = self._gen.get(wallet_id, 0) + 1
        if wallet_id in self._balance:
            self._balance[wallet_id] += delta

    # ---------------------------------------------------------------- holds

    async def reserve(self, request_id: str, amounts: Sequence[tuple[WalletId, int]], ttl: float,
                      floors: Mapping[WalletId, int] | None = None) -> Shortfall | None:
        await self._ensure_loaded([w for w, _ in amounts])
        # From here to the end: no await, so no other coroutine can interleave.
        for i, (wallet, amount) in enumerate(amounts):
            floor = floors.get(wallet, 0) if floors else 0
            if self._balance[wallet] - self._held.get(wallet, 0) - amount < -floor:
                return Shortfall(i)
        for wallet, amount in amounts:
            self._held[wallet] = self._held.get(wallet, 0) + amount
        self._holds[request_id] = _Hold(tuple(amounts), self._now() + ttl)
        return None

    def _drop_hold(self, request_id: str) -> None:
        hold = self._holds.pop(request_id, None)
        if hold is not None:
            for wallet, amount in hold.amounts:
                self._held[wallet] -= amount

    async def commit(self, request_id: str, debits: Mapping[WalletId, int], *, touched: bool = False) -> None:
        self._commit(request_id, debits, touched)

    async def commit_many(self, items: Sequence[tuple[str, Mapping[WalletId, int]]], *,
                          touched: bool = False) -> None:
        for request_id, debits in items:
            self._commit(request_id, debits, touched)

    def _commit(self, request_id: str, debits: Mapping[WalletId, int], touched: bool) -> None:
        """Debit exactly once: the first commit finds the hold (or the mark of its unbilled
        release) and consumes it; a repeated commit finds neither. A commit that never had a hold
        here (a journal replayed at start-up) leaves the mirrors to load from the ledger."""
        if touched:
            self._untouch(debits)
        if request_id in self._holds or self._released.pop(request_id, None) is not None:
            for wallet, amount in debits.items():
                self._apply(wallet, -amount)
        self._drop_hold(request_id)

    async def release(self, request_id: str) -> None:
        self._drop_hold(request_id)

    async def touch(self, wallet_ids: Sequence[WalletId]) -> None:
        for w in wallet_ids:
            self._gen[w] = self._gen.get(w, 0) + 1
            self._pending[w] = self._pending.get(w, 0) + 1

    async def untouch(self, wallet_ids: Sequence[WalletId]) -> None:
        self._untouch(wallet_ids)

    def _untouch(self, wallet_ids: Iterable[WalletId]) -> None:
        for w in wallet_ids:
            left = self._pending.get(w, 0) - 1
            if left > 0:
                self._pending[w] = left
            else:
                self._pending.pop(w, None)

    async def refresh(self, wallet_ids: Sequence[WalletId]) -> None:
        wallets = [w for w in wallet_ids if w in self._balance]
        if not wallets:
            return  # not mirrored yet: the first reservation loads it from the ledger
        gens = {w: self._gen.get(w, 0) for w in wallets}
        loaded = await self._load_balances(wallets)
        for w in wallets:
            if self._installable(w, gens[w]):
                self._balance[w] = loaded.get(w, 0)

    async def expire(self) -> int:
        now = self._now()
        expired = [rid for rid, h in self._holds.items() if h.expires_at <= now]
        if expired:
            settled = await self._settled(expired)
            for rid in expired:
                if rid in settled:
                    self._commit(rid, settled[rid], False)
                else:
                    self._drop_hold(rid)
                    self._released[rid] = now
        # Forget unbilled releases long after their settlement could still arrive.
        horizon = now - 24 * 3600
        for rid in [r for r, t in self._released.items() if t < horizon]:
            del self._released[rid]
        return len(expired)

    async def resync(self) -> None:
        await self.refresh(list(self._balance))

    async def aclose(self) -> None:
        return None
