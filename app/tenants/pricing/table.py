"""The price table the hot path reads: catalog, channel costs, price books and overrides held in
memory and reloaded from the database every few seconds (or at once after ``invalidate()``).

``PriceTable.current()`` is the only await; everything after it is pure, synchronous arithmetic
on an immutable ``PriceSnapshot``, so pricing a request costs no I/O.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models import DEFAULT_MAX_OUTPUT_TOKENS
from app.models.pricing import PriceColumns
from app.tenants.pricing import repository
from app.tenants.pricing.costs import TokenUsage, cost, marked_up, price_chain_costs
from app.tenants.pricing.schemas import Prices

#: Memoised (chain, model) results per snapshot, before the memo is cleared.
MEMO_LIMIT = 100_000


class CatalogItem(msgspec.Struct, frozen=True):
    prices: Prices
    max_output_tokens: int
    enabled: bool


class SellerBook(msgspec.Struct, frozen=True):
    markup_bps: int
    #: None: offers everything its own parent offers it.
    offered: frozenset[str] | None


def prices_of(row: PriceColumns) -> Prices:
    """The four price columns of a catalog, channel price or override row."""
    return Prices(input=row.input_price, output=row.output_price, cache_read=row.cache_read_price,
                  cache_write=row.cache_write_price)


class PriceSnapshot:
    """Every price as of one load. Immutable after construction (apart from its memo)."""

    def __init__(self, *, catalog: dict[str, CatalogItem], upstream: dict[tuple[int, str], Prices],
                 books: dict[int, SellerBook], overrides: dict[tuple[int, str], Prices],
                 loaded_at: float = 0.0) -> None:
        self.catalog = catalog
        self.upstream = upstream
        self.books = books
        self.overrides = overrides
        self.loaded_at = loaded_at
        #: The table's generation when this load started (see ``PriceTable.invalidate``).
        self.generation = 0
        self._memo: dict[tuple[tuple[int, ...], str], tuple[Prices, ...] | None] = {}

    @classmethod
    async def load(cls, session: AsyncSession) -> PriceSnapshot:
        catalog = {row.name: CatalogItem(prices=prices_of(row), max_output_tokens=row.max_output_tokens,
                                         enabled=row.enabled) for row in await repository.catalog(session)}
        upstream = {(row.channel_id, row.model): prices_of(row) for row in await repository.channel_prices(session)}
        books = {row.account_id: SellerBook(markup_bps=row.markup_bps, offered=(
            frozenset(row.offered_models) if row.offered_models is not None else None))
            for row in await repository.price_books(session)}
        overrides = {(row.account_id, row.model): prices_of(row) for row in await repository.overrides(session)}
        return cls(catalog=catalog, upstream=upstream, books=books, overrides=overrides, loaded_at=time.monotonic())

    def _offers(self, seller: int, model: str) -> bool:
        book = self.books.get(seller)
        return book is None or book.offered is None or model in book.offered

    def _levels(self, chain: tuple[int, ...], model: str) -> tuple[Prices, ...] | None:
        item = self.catalog.get(model)
        if item is None or not item.enabled or not chain:
            return None
        sellers = chain[:-1]
        if not all(self._offers(seller, model) for seller in sellers):
            return None
        levels: list[Prices] = []
        price = item.prices
        for index, seller in enumerate(sellers):
            override = self.overrides.get((seller, model))
            if override is not None:
                price = override
            elif index > 0:  # the root sells at catalog prices; resellers mark up their own cost
                book = self.books.get(seller)
                if book is not None and book.markup_bps:
                    price = marked_up(price, book.markup_bps)
            levels.append(price)
        return tuple(levels)

    def level_prices(self, chain: Sequence[int], model: str) -> list[Prices] | None:
        """What each payer of ``chain`` (root..account) pays its parent for ``model``: a list from
        the root's direct child down to the account (empty for the root itself), or None when the
        model is not usable by the account (not in the catalog, disabled, or not offered by some
        seller above it)."""
        key = (tuple(chain), model)
        try:
            levels = self._memo[key]
        except KeyError:
            levels = self._levels(key[0], model)
            if len(self._memo) >= MEMO_LIMIT:
                self._memo.clear()
            self._memo[key] = levels
        return list(levels) if levels is not None else None

    def usable(self, chain: Sequence[int], model: str) -> bool:
        return self.level_prices(chain, model) is not None

    def usable_models(self, chain: Sequence[int]) -> list[str]:
        """Every catalog model the account at the end of ``chain`` may use."""
        return [model for model in sorted(self.catalog) if self.usable(chain, model)]

    def upstream_prices(self, channel_id: int, model: str) -> Prices | None:
        """What ``channel_id`` costs the operator for ``model``, if configured."""
        return self.upstream.get((channel_id, model))

    def max_output(self, model: str) -> int:
        """The output cap to reserve for when a request gives no max_tokens."""
        item = self.catalog.get(model)
        return item.max_output_tokens if item is not None else DEFAULT_MAX_OUTPUT_TOKENS

    @staticmethod
    def cost(prices: Prices, usage: TokenUsage) -> int:
        """Micro-units for ``usage`` at ``prices`` (ceil per token class)."""
        return cost(prices, usage)

    def chain_costs(self, chain: Sequence[int], model: str, usage: TokenUsage) -> list[int] | None:
        """Per-level costs of ``usage`` along ``chain``, or None if the model is not usable."""
        levels = self.level_prices(chain, model)
        return price_chain_costs(levels, usage) if levels is not None else None


class PriceTable:
    """The shared, periodically reloaded ``PriceSnapshot`` (one per application)."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], ttl: float = 5.0) -> None:
        self._sessionmaker = sessionmaker
        self._ttl = ttl
        self._snapshot: PriceSnapshot | None = None
        self._generation = 0
        self._lock = asyncio.Lock()

    def invalidate(self) -> None:
        """Reload on the next ``current()`` (after a price change made through this process). The
        old snapshot keeps answering the synchronous methods until then."""
        self._generation += 1

    def _fresh(self, snap: PriceSnapshot | None) -> bool:
        # A snapshot loaded before the last invalidate() is stale even while its replacement is
        # loading: callers then wait for the new one instead of taking the old one for fresh.
        return (snap is not None and snap.generation == self._generation
                and time.monotonic() - snap.loaded_at < self._ttl)

    async def current(self) -> PriceSnapshot:
        """The snapshot, reloaded first when older than the TTL or invalidated."""
        snap = self._snapshot
        if snap is not None and self._fresh(snap):
            return snap
        async with self._lock:  # one reload at a time; the others wait for its result
            snap = self._snapshot
            if snap is None or not self._fresh(snap):
                generation = self._generation  # an invalidate() during the load makes it stale again
                async with self._sessionmaker() as session:
                    snap = await PriceSnapshot.load(session)
                snap.generation = generation
                self._snapshot = snap
        return snap

    @property
    def snapshot(self) -> PriceSnapshot:
        if self._snapshot is None:
            raise RuntimeError("the price table is not loaded yet: await PriceTable.current() first")
        return self._snapshot

    def level_prices(self, chain: Sequence[int], model: str) -> list[Prices] | None:
        return self.snapshot.level_prices(chain, model)

    def upstream_prices(self, channel_id: int, model: str) -> Prices | None:
        return self.snapshot.upstream_prices(channel_id, model)

    def max_output(self, model: str) -> int:
        return self.snapshot.max_output(model)

    @staticmethod
    def cost(prices: Prices, usage: TokenUsage) -> int:
        return cost(prices, usage)
