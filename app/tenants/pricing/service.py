"""Setting prices: the catalog (root list prices), channel costs, seller markups, offers and overrides.

Semantics (read by ``PriceSnapshot.level_prices``): the root sells to its direct children at
catalog prices (its own overrides win); a reseller sells at its override when it has one, else at
its own cost marked up by its ``markup_bps`` (rounded up per class). A model is usable by an
account only if it is in the catalog, enabled, and offered by every seller above the account.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import InvalidInput, NotFound
from app.models import CatalogModel, ChannelPrice, PriceBook, PriceOverride
from app.models.pricing import PriceColumns
from app.tenants.accounts import get_account
from app.tenants.accounts.schemas import AccountView
from app.tenants.accounts.service import SELLER_KINDS
from app.tenants.pricing import repository
from app.tenants.pricing.schemas import (
    CatalogEntryView,
    ChannelPriceView,
    EffectivePrice,
    OverrideView,
    PriceBookView,
    Prices,
)
from app.tenants.pricing.table import PriceSnapshot, prices_of

#: 100x: a markup beyond this is a typo, not a price.
MAX_MARKUP_BPS = 1_000_000


def _check_model(model: str) -> str:
    model = model.strip()
    if not model or len(model) > 200:
        raise InvalidInput("a model name must be 1 to 200 characters")
    return model


def _check_prices(prices: Prices) -> None:
    for name in ("input", "output", "cache_read", "cache_write"):
        if getattr(prices, name) < 0:
            raise InvalidInput(f"the {name} price must not be negative")


def _write(row: PriceColumns, prices: Prices) -> None:
    row.input_price, row.output_price = prices.input, prices.output
    row.cache_read_price, row.cache_write_price = prices.cache_read, prices.cache_write


def _catalog_view(row: CatalogModel) -> CatalogEntryView:
    return CatalogEntryView(model=row.name, prices=prices_of(row), max_output_tokens=row.max_output_tokens,
                            enabled=row.enabled, created_at=row.created_at)


def _book_view(account_id: int, row: PriceBook | None) -> PriceBookView:
    if row is None:
        return PriceBookView(account_id=account_id, markup_bps=0, offered_models=None)
    return PriceBookView(account_id=account_id, markup_bps=row.markup_bps, offered_models=row.offered_models)


async def _seller(session: AsyncSession, account_id: int) -> AccountView:
    account = await get_account(session, account_id)
    if account.kind not in SELLER_KINDS:
        raise InvalidInput(f"account {account_id} is a {account.kind}: only the root and resellers sell")
    return account


async def set_catalog_price(session: AsyncSession, model: str, prices: Prices, *,
                            max_output_tokens: int | None = None, enabled: bool | None = None) -> CatalogEntryView:
    """Add a model to the catalog or change its base price (and, when given, its output cap and
    whether it is enabled). Does not commit."""
    model = _check_model(model)
    _check_prices(prices)
    if max_output_tokens is not None and max_output_tokens < 1:
        raise InvalidInput("max_output_tokens must be at least 1")
    row = await repository.catalog_entry(session, model)
    if row is None:
        row = CatalogModel(name=model)
        session.add(row)
    _write(row, prices)
    if max_output_tokens is not None:
        row.max_output_tokens = max_output_tokens
    if enabled is not None:
        row.enabled = enabled
    await session.flush()
    return _catalog_view(row)


async def list_catalog(session: AsyncSession) -> list[CatalogEntryView]:
    """Every catalog model with its base prices."""
    return [_catalog_view(row) for row in await repository.catalog(session)]


async def set_price_override(session: AsyncSession, account_id: int, model: str, prices: Prices) -> OverrideView:
    """Set what seller ``account_id`` charges its children for ``model`` (instead of its markup).
    The model must be in the catalog. Does not commit."""
    await _seller(session, account_id)
    model = _check_model(model)
    _check_prices(prices)
    if await repository.catalog_entry(session, model) is None:
        raise NotFound(f"model {model!r} is not in the catalog: set its base price first")
    row = await repository.override(session, account_id, model)
    if row is None:
        row = PriceOverride(account_id=account_id, model=model)
        session.add(row)
    _write(row, prices)
    await session.flush()
    return OverrideView(account_id=account_id, model=model, prices=prices)


async def _book(session: AsyncSession, account_id: int) -> PriceBook:
    row = await repository.price_book(session, account_id)
    if row is None:
        row = PriceBook(account_id=account_id, markup_bps=0, offered_models=None)
        session.add(row)
    return row


async def set_markup(session: AsyncSession, account_id: int, markup_bps: int) -> PriceBookView:
    """Set a reseller's markup on its own cost, in basis points (1,000 = +10 %). Does not commit."""
    await _seller(session, account_id)
    if not 0 <= markup_bps <= MAX_MARKUP_BPS:
        raise InvalidInput(f"markup must be between 0 and {MAX_MARKUP_BPS} basis points")
    row = await _book(session, account_id)
    row.markup_bps = markup_bps
    await session.flush()
    return _book_view(account_id, row)


async def set_offered_models(session: AsyncSession, account_id: int,
                             models: Sequence[str] | None) -> PriceBookView:
    """Limit what a seller offers its children (None: everything its parent offers it). Does not commit."""
    await _seller(session, account_id)
    row = await _book(session, account_id)
    row.offered_models = sorted({_check_model(m) for m in models}) if models is not None else None
    await session.flush()
    return _book_view(account_id, row)


async def get_price_book(session: AsyncSession, account_id: int) -> PriceBookView:
    """A seller's markup and offer (defaults when it never set them)."""
    await get_account(session, account_id)
    return _book_view(account_id, await repository.price_book(session, account_id))


async def set_channel_price(session: AsyncSession, channel_id: int, model: str, prices: Prices) -> ChannelPriceView:
    """Record what a channel's provider charges for ``model`` (the upstream cost). Does not commit."""
    if not await repository.channel_exists(session, channel_id):
        raise NotFound(f"channel {channel_id} does not exist")
    model = _check_model(model)
    _check_prices(prices)
    row = await repository.channel_price(session, channel_id, model)
    if row is None:
        row = ChannelPrice(channel_id=channel_id, model=model)
        session.add(row)
    _write(row, prices)
    await session.flush()
    return ChannelPriceView(channel_id=channel_id, model=model, prices=prices)


async def effective_prices(session: AsyncSession, account_id: int) -> list[EffectivePrice]:
    """Every model ``account_id`` may use, with what it pays its parent (nothing for the root)."""
    account = await get_account(session, account_id)
    snapshot = await PriceSnapshot.load(session)
    out: list[EffectivePrice] = []
    for model in snapshot.usable_models(account.chain):
        levels = snapshot.level_prices(account.chain, model) or []
        if levels:
            out.append(EffectivePrice(model=model, prices=levels[-1], max_output_tokens=snapshot.max_output(model)))
    return out
