"""``price_of`` for the ``cost`` strategy, built from the price table's upstream (channel) costs."""

from __future__ import annotations

from typing import Protocol

from app.relay.channels import Route
from app.relay.routing.strategies import PriceOf
from app.tenants.pricing.costs import TokenUsage, cost
from app.tenants.pricing.schemas import Prices


class UpstreamPrices(Protocol):
    """What ``PriceSnapshot`` (and ``PriceTable``) offer: a channel's cost for a model."""

    def upstream_prices(self, channel_id: int, model: str) -> Prices | None: ...


def upstream_cost_of(prices: UpstreamPrices, model: str, usage: TokenUsage) -> PriceOf:
    """``price_of(route)``: micro-units the operator would pay ``route``'s provider for ``usage``
    (typically estimated input + expected output) of public ``model``, or None when the channel
    has no price. The channel's upstream model name is looked up first, then the public name,
    the same way billing records the upstream cost."""
    def price_of(route: Route) -> int | None:
        upstream = route.upstream_model(model)
        found = prices.upstream_prices(route.id, upstream)
        if found is None and upstream != model:
            found = prices.upstream_prices(route.id, model)
        return cost(found, usage) if found is not None else None

    return price_of
