"""Pure pricing arithmetic, in integer micro-units (no I/O, no floats).

Cost of one request at one level = sum over token classes of ceil(tokens * price / 1,000,000).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from app.lib.money import ceil_div
from app.tenants.pricing.schemas import Prices

TOKENS_PER_PRICE_UNIT = 1_000_000
BPS = 10_000


class TokenUsage(Protocol):
    """Anything with the four billed token counts (the relay's ``ir.Usage`` has them)."""

    @property
    def input_tokens(self) -> int: ...  # excludes cache reads and writes
    @property
    def output_tokens(self) -> int: ...  # includes reasoning
    @property
    def cache_read_tokens(self) -> int: ...
    @property
    def cache_write_tokens(self) -> int: ...


def cost(prices: Prices, usage: TokenUsage) -> int:
    """Micro-units one level pays for ``usage`` at ``prices``: each class rounded up separately."""
    return (ceil_div(usage.input_tokens * prices.input, TOKENS_PER_PRICE_UNIT)
            + ceil_div(usage.output_tokens * prices.output, TOKENS_PER_PRICE_UNIT)
            + ceil_div(usage.cache_read_tokens * prices.cache_read, TOKENS_PER_PRICE_UNIT)
            + ceil_div(usage.cache_write_tokens * prices.cache_write, TOKENS_PER_PRICE_UNIT))


def marked_up(prices: Prices, markup_bps: int) -> Prices:
    """A seller's price from its own cost: ceil(cost * (10,000 + markup_bps) / 10,000) per class."""
    factor = BPS + markup_bps
    return Prices(input=ceil_div(prices.input * factor, BPS), output=ceil_div(prices.output * factor, BPS),
                  cache_read=ceil_div(prices.cache_read * factor, BPS),
                  cache_write=ceil_div(prices.cache_write * factor, BPS))


def price_chain_costs(level_prices: Sequence[Prices], usage: TokenUsage) -> list[int]:
    """Per-level costs of one request, in the order of ``level_prices`` (root's direct child first,
    the requesting account last). Each level's margin is its children's cost minus its own."""
    return [cost(prices, usage) for prices in level_prices]
