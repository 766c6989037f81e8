"""Routing policy: which model a request means (aliases, splits, ``auto``, fallbacks) and in
which order to try the channels that serve it (priority, cost, latency, balanced).

Everything here is pure and synchronous; the caller supplies the config, the randomness and the
per-channel facts (prices, time to first byte, circuit state) as values and callables.
"""

from app.relay.routing.auto import AutoChoice, AutoReason, choose, request_text
from app.relay.routing.config import AUTO_MODEL, STRATEGIES, AutoPolicy, RoutingConfig, Strategy
from app.relay.routing.prices import UpstreamPrices, upstream_cost_of
from app.relay.routing.resolution import (
    FALLBACKS_FIELD,
    MAX_FALLBACKS,
    InvalidFallbacks,
    ModelPlan,
    Via,
    fallback_models,
    pick_split,
    resolve,
)
from app.relay.routing.strategies import (
    EXPLORE_RATE,
    Available,
    PriceOf,
    Rand,
    TtfbOf,
    balanced,
    by_cost,
    by_latency,
    by_priority,
    order,
)

__all__ = [
    "AUTO_MODEL",
    "EXPLORE_RATE",
    "FALLBACKS_FIELD",
    "MAX_FALLBACKS",
    "STRATEGIES",
    "AutoChoice",
    "AutoPolicy",
    "AutoReason",
    "Available",
    "InvalidFallbacks",
    "ModelPlan",
    "PriceOf",
    "Rand",
    "RoutingConfig",
    "Strategy",
    "TtfbOf",
    "UpstreamPrices",
    "Via",
    "balanced",
    "by_cost",
    "by_latency",
    "by_priority",
    "choose",
    "fallback_models",
    "order",
    "pick_split",
    "request_text",
    "resolve",
    "upstream_cost_of",
]
