"""Strategies that order the candidate channels (``Route``\\ s) of one model for one request.

``order()`` is pure and synchronous: everything it needs about the world comes in as callables
(``price_of``, ``ttfb_of``, ``available``) and all randomness comes from ``rand``, so a test can
replay any ordering exactly.

=========== ==============================================================================
strategy    order
=========== ==============================================================================
priority    Higher ``priority`` first; within one priority a weighted random order by
            ``weight`` (the same order ``ChannelDirectory.candidates`` gives).
cost        Cheapest ``price_of(route)`` (estimated micro-units of this request) first;
            ties, then unknown prices (``None``), in ``priority`` order after the priced ones.
latency     Lowest ``ttfb_of(route)`` (moving-average seconds to first byte) first; ties in
            ``priority`` order. Routes without statistics follow in ``priority`` order, except
            that with probability ``explore_rate`` (5 %) the first of them is tried first, so
            new or recovered channels acquire statistics. All unknown: ``priority`` order.
balanced    One weighted random order over all routes (priority ignored) with effective
            weight ``weight / (1 + ttfb_seconds)``: a channel twice as slow to first byte gets
            roughly half the share. An unknown TTFB counts as the mean of the known ones (no
            penalty, no bonus); with none known, plain ``weight``.
=========== ==============================================================================

Availability: routes for which ``available(route)`` is false (open circuit) are left out. If that
would leave nothing, every route is returned in the strategy's order instead: a request is still
tried (and may find the channel recovered) rather than failing without a single attempt.

Weighted random orders use Efraimidis–Spirakis: each route draws ``u = rand()`` and routes are
sorted by ``u ** (1 / weight)`` descending, which is a weighted random permutation (the first
element is route *i* with probability ``weight_i / sum(weights)``) and still visits every route
once for failover. A route with weight ≤ 0 sorts after every positive weight.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from app.relay.channels import Route
from app.relay.routing.config import check_strategy

#: Probability that ``latency`` tries a channel without TTFB statistics first.
EXPLORE_RATE = 0.05

Rand = Callable[[], float]
PriceOf = Callable[[Route], int | None]
TtfbOf = Callable[[Route], float | None]
Available = Callable[[Route], bool]


def order(strategy: str, routes: Sequence[Route], *, rand: Rand, price_of: PriceOf | None = None,
          ttfb_of: TtfbOf | None = None, available: Available | None = None,
          explore_rate: float = EXPLORE_RATE) -> list[Route]:
    """The routes in the order to try them under ``strategy`` (see the module docstring).

    ``rand`` returns floats in [0, 1). Missing ``price_of`` / ``ttfb_of`` mean "unknown for every
    route", which degrades ``cost`` and ``latency`` to ``priority`` and ``balanced`` to plain
    weights. Raises ``ValueError`` for an unknown strategy name.
    """
    check_strategy(strategy, "order")
    pool = list(routes)
    if available is not None:
        pool = [route for route in pool if available(route)] or pool
    if strategy == "cost":
        return by_cost(pool, rand=rand, price_of=price_of or _unknown)
    if strategy == "latency":
        return by_latency(pool, rand=rand, ttfb_of=ttfb_of or _unknown, explore_rate=explore_rate)
    if strategy == "balanced":
        return balanced(pool, rand=rand, ttfb_of=ttfb_of or _unknown)
    return by_priority(pool, rand=rand)


def _unknown(route: Route) -> None:
    return None


def _weighted_key(weight: float, rand: Rand) -> float:
    """Efraimidis–Spirakis key (larger sorts first); weight ≤ 0 sorts after everything."""
    u = rand()
    return u ** (1.0 / weight) if weight > 0 else -1.0


def by_priority(routes: Sequence[Route], *, rand: Rand) -> list[Route]:
    """Higher priority first; weighted random order within one priority. Draws ``rand`` once
    per route, in input order."""
    return sorted(routes, key=lambda r: (-r.priority, -_weighted_key(r.weight, rand)))


def by_cost(routes: Sequence[Route], *, rand: Rand, price_of: PriceOf) -> list[Route]:
    """Cheapest estimated cost first; equal prices, then unknown prices, in priority order."""
    def key(r: Route) -> tuple[bool, int, int, float]:
        price = price_of(r)
        return (price is None, price or 0, -r.priority, -_weighted_key(r.weight, rand))

    return sorted(routes, key=key)


def by_latency(routes: Sequence[Route], *, rand: Rand, ttfb_of: TtfbOf,
               explore_rate: float = EXPLORE_RATE) -> list[Route]:
    """Lowest moving-average TTFB first; channels without statistics after them in priority
    order, except that with probability ``explore_rate`` the first of those leads the list.
    Draws ``rand`` once for the exploration decision (only when both kinds exist), then once per
    route."""
    timed = [(route, ttfb_of(route)) for route in routes]
    unknown = [route for route, ttfb in timed if ttfb is None]
    known = [(route, ttfb) for route, ttfb in timed if ttfb is not None]
    explore = bool(unknown) and bool(known) and rand() < explore_rate
    fastest = [route for route, _ in sorted(
        known, key=lambda item: (item[1], -item[0].priority, -_weighted_key(item[0].weight, rand)))]
    untried = by_priority(unknown, rand=rand)
    if explore:
        return untried[:1] + fastest + untried[1:]
    return fastest + untried


def balanced(routes: Sequence[Route], *, rand: Rand, ttfb_of: TtfbOf) -> list[Route]:
    """One weighted random order over all routes with weight ``weight / (1 + ttfb_seconds)``;
    an unknown TTFB counts as the mean of the known ones. Draws ``rand`` once per route."""
    timed = [(route, ttfb_of(route)) for route in routes]
    known = [ttfb for _, ttfb in timed if ttfb is not None]
    neutral = sum(known) / len(known) if known else 0.0

    def key(item: tuple[Route, float | None]) -> float:
        route, ttfb = item
        seconds = max(neutral if ttfb is None else ttfb, 0.0)
        return -_weighted_key(route.weight / (1.0 + seconds), rand)

    return [route for route, _ in sorted(timed, key=key)]
