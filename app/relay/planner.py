"""Step 4 of the request path: which model a request means and in which order to try the
channels serving it, from the routing configuration (app/relay/routing) and live channel facts
(prices, circuit state, time to first byte)."""

from __future__ import annotations

import random
from collections.abc import Callable

import msgspec

from app.relay.channels import ChannelDirectory, Route
from app.relay.inbound import Inbound
from app.relay.protocols import ProtocolError, ir
from app.relay.routing import (
    FALLBACKS_FIELD,
    InvalidFallbacks,
    ModelPlan,
    RoutingConfig,
    fallback_models,
    order,
    resolve,
    upstream_cost_of,
)
from app.tenants.pricing import PriceTable


def load_routing_config(raw: str | None) -> RoutingConfig:
    """The operator's routing configuration (JSON, see README), or the defaults."""
    return msgspec.json.decode(raw, type=RoutingConfig) if raw else RoutingConfig()


class Planner:
    def __init__(self, config: RoutingConfig, directory: ChannelDirectory, prices: PriceTable,
                 available: Callable[[Route], bool] | None = None,
                 ttfb_of: Callable[[Route], float | None] | None = None,
                 rand: Callable[[], float] = random.random) -> None:
        self.config = config
        self.directory = directory
        self.prices = prices
        self.available = available
        self.ttfb_of = ttfb_of
        self.rand = rand

    def plan(self, inbound: Inbound, input_estimate: Callable[[], int]) -> ModelPlan:
        """Resolve aliases, A/B splits and ``auto``; read a request-level fallback list (the
        OpenAI-style extra field ``"models": [...]``). Raises ProtocolError on a bad list."""
        fallbacks: list[str] = []
        if inbound.protocol == "openai" and b'"' + FALLBACKS_FIELD.encode() + b'"' in inbound.body:
            try:
                fallbacks = fallback_models(msgspec.json.decode(inbound.body))
            except InvalidFallbacks as exc:
                raise ProtocolError(str(exc), param=FALLBACKS_FIELD) from None
        # Only the "auto" policy looks at the size of the input.
        tokens = input_estimate() if self.config.auto is not None else None
        return resolve(inbound.model, inbound.request, self.config, rand=self.rand, fallbacks=fallbacks,
                       input_tokens=tokens)

    async def order(self, model: str, routes: list[Route], input_estimate: Callable[[], int], output_estimate: int,
                    account_strategy: str | None = None) -> list[Route]:
        """The channels in the order to try them, by the account's or the model's strategy; open
        circuits last."""
        strategy = self.config.strategy_for(model, account_strategy)
        if strategy == "priority" and self.available is None:
            return routes  # the directory's order already is priority then weight
        price_of = None
        if strategy == "cost":
            price_of = upstream_cost_of(await self.prices.current(), model,
                                        ir.Usage(input_tokens=input_estimate(), output_tokens=output_estimate))
        return order(strategy, routes, rand=self.rand, price_of=price_of, ttfb_of=self.ttfb_of,
                     available=self.available)
