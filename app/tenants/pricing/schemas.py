"""Prices and what the pricing API returns."""

from __future__ import annotations

from datetime import datetime

import msgspec


class Prices(msgspec.Struct, frozen=True):
    """Integer micro-units per 1,000,000 tokens of each class (reasoning tokens are output)."""

    input: int
    output: int
    cache_read: int = 0
    cache_write: int = 0


class Tokens(msgspec.Struct, frozen=True):
    """A request's token counts by billing class (the shape ``cost()`` reads)."""

    input_tokens: int = 0  # excludes cache reads and writes
    output_tokens: int = 0  # includes reasoning
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0


class CatalogEntryView(msgspec.Struct):
    model: str
    prices: Prices
    max_output_tokens: int
    enabled: bool
    created_at: datetime


class PriceBookView(msgspec.Struct):
    account_id: int
    markup_bps: int
    #: None: everything the seller's parent offers it.
    offered_models: list[str] | None


class OverrideView(msgspec.Struct):
    account_id: int
    model: str
    prices: Prices


class ChannelPriceView(msgspec.Struct):
    channel_id: int
    model: str
    prices: Prices


class EffectivePrice(msgspec.Struct):
    """What an account pays its parent for one model."""

    model: str
    prices: Prices
    max_output_tokens: int
