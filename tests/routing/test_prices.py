from __future__ import annotations

from app.relay.protocols import ir
from app.relay.routing import order, upstream_cost_of
from app.tenants.pricing.schemas import Prices
from app.tenants.pricing.table import PriceSnapshot
from tests.routing.factory import constant, ids, route


def test_cost_strategy_uses_each_channels_upstream_price() -> None:
    snapshot = PriceSnapshot(catalog={}, books={}, overrides={}, upstream={
        (1, "gpt-4o"): Prices(input=2_500_000, output=10_000_000),
        (2, "azure-gpt-4o"): Prices(input=2_000_000, output=8_000_000),  # by the channel's own model name
    })
    usage = ir.Usage(input_tokens=1_000, output_tokens=500)
    price_of = upstream_cost_of(snapshot, "gpt-4o", usage)
    routes = [route(1), route(2, model_map={"gpt-4o": "azure-gpt-4o"}), route(3, priority=9)]
    assert [price_of(r) for r in routes] == [7_500, 6_000, None]
    assert ids(order("cost", routes, rand=constant(0.5), price_of=price_of)) == [2, 1, 3]
