"""Prices: catalog, channel costs, price books, overrides, and the in-memory table the relay reads."""

from app.tenants.pricing.costs import TokenUsage, cost, marked_up, price_chain_costs
from app.tenants.pricing.schemas import (
    CatalogEntryView,
    ChannelPriceView,
    EffectivePrice,
    OverrideView,
    PriceBookView,
    Prices,
    Tokens,
)
from app.tenants.pricing.table import PriceSnapshot, PriceTable

__all__ = [
    "CatalogEntryView", "ChannelPriceView", "EffectivePrice", "OverrideView", "PriceBookView", "PriceSnapshot",
    "PriceTable", "Prices", "TokenUsage", "Tokens", "cost", "marked_up", "price_chain_costs",
]
