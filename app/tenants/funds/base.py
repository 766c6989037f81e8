"""Funds: what every wallet can still spend, for the request path.

The database ledger is the truth (a wallet's balance is the sum of its entries). A funds store
keeps, per wallet, a *mirror* of that balance and the sum of its active holds, so that a request
can reserve its worst-case cost on every wallet of its account chain atomically, all or nothing,
without touching the database. Two stores exist: in-process (embedded mode, one process) and
Redis (several replicas). Both can always be rebuilt from the database:

* balances are (re)loaded from the ledger; a per-wallet generation counter, bumped by every
  applied debit or credit, makes a load that raced with one retry instead of installing a stale
  value;
* a hold whose request never settled (crash, lost process) expires; the reconciler asks the ledger
  whether that request was in fact settled and applies its debit exactly once, else just releases.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

#: A wallet: an account id (its prepaid balance), or a spend-cap counter named by a string such as
#: "k12d20261122" (key 12, that UTC day), whose mirror is minus what the key spent in that period.
WalletId = int | str
#: wallet ids -> current ledger balance (micro-units)
BalanceLoader = Callable[[Sequence[WalletId]], Awaitable[dict[WalletId, int]]]
#: request ids -> {wallet id: amount debited} for those that the ledger shows as settled
SettledLookup = Callable[[Sequence[str]], Awaitable[dict[str, dict[WalletId, int]]]]


@dataclass(frozen=True, slots=True)
class Shortfall:
    """The reservation failed: ``index`` is the position (in the amounts given) of the first
    wallet that cannot cover its part."""

    index: int


class FundsStore(Protocol):
    async def reserve(self, request_id: str, amounts: Sequence[tuple[WalletId, int]], ttl: float,
                      floors: Mapping[WalletId, int] | None = None) -> Shortfall | None:
        """Hold ``amount`` on every ``(wallet, amount)``, or nothing at all. A wallet may go down
        to ``-floors[wallet]`` (spend caps: balance -spent, floor = cap), else to zero."""

    async def commit(self, request_id: str, debits: Mapping[WalletId, int], *, touched: bool = False) -> None:
        """The request's ledger transactions are committed: debit the mirrors (exactly once per
        request) and drop its hold. ``touched``: the caller marked these wallets with ``touch``
        before its database commit, and this ends that mark."""

    async def commit_many(self, items: Sequence[tuple[str, Mapping[WalletId, int]]], *,
                          touched: bool = False) -> None:
        """``commit(request_id, debits, touched=touched)`` for each ``(request_id, debits)``, in
        order, in one round trip to the store (the settlement writer commits a whole batch at
        once). If it raises, some of the items may have been applied and others not: each item's
        debit is still applied at most once (a replay, or the reconciler, applies the rest), but a
        ``touched`` mark ended by a replay is ended twice (floored at zero)."""

    async def release(self, request_id: str) -> None:
        """Drop a hold without any charge (the request failed before using anything)."""

    async def touch(self, wallet_ids: Sequence[WalletId]) -> None:
        """A settlement of these wallets is about to be committed: until ``commit(touched=True)``
        or ``untouch``, no balance read from the ledger is installed for them (it could already
        include a debit the mirror has not applied yet). One mark per id given (repeat ids)."""

    async def untouch(self, wallet_ids: Sequence[WalletId]) -> None:
        """The database commit announced by ``touch`` failed."""

    async def refresh(self, wallet_ids: Sequence[WalletId]) -> None:
        """Re-read these wallets from the ledger (after a credit, a top-up...), where no change is
        in flight; a skipped wallet is picked up by the next ``resync``."""

    async def expire(self) -> int:
        """Resolve holds past their expiry; returns how many."""

    async def resync(self) -> None:
        """Re-read known wallets' balances from the ledger where no change raced the read."""

    async def aclose(self) -> None: ...
