from __future__ import annotations

import random
from collections import Counter

import pytest

from app.relay.channels import Route
from app.relay.channels.directory import ChannelDirectory, _Snapshot
from app.relay.routing import EXPLORE_RATE, order
from tests.routing.factory import constant, draws, ids, route

# --------------------------------------------------------------------------- priority


def test_priority_puts_higher_priority_first_and_weights_order_within_it() -> None:
    routes = [route(1, priority=5), route(2, priority=10, weight=1), route(3, priority=10, weight=4)]
    # keys: u ** (1/w): r1 0.9 (p5), r2 0.5, r3 0.2 ** 0.25 = 0.67 -> r3 before r2 despite the lower draw
    assert ids(order("priority", routes, rand=draws(0.9, 0.5, 0.2))) == [3, 2, 1]
    assert ids(order("priority", routes, rand=draws(0.9, 0.5, 0.01))) == [2, 3, 1]


def test_priority_first_pick_follows_weights() -> None:
    rng = random.Random(1)
    routes = [route(1, weight=1), route(2, weight=3), route(3, priority=-1, weight=100)]
    firsts = Counter(order("priority", routes, rand=rng.random)[0].id for _ in range(20_000))
    assert firsts[3] == 0
    assert firsts[2] / 20_000 == pytest.approx(0.75, abs=0.015)


def test_priority_puts_zero_weight_last_within_its_priority() -> None:
    routes = [route(1, weight=0), route(2, weight=1), route(3, priority=-1)]
    assert ids(order("priority", routes, rand=constant(0.0))) == [2, 1, 3]


async def test_priority_matches_channel_directory_candidates() -> None:
    routes = [route(i, priority=i % 3, weight=1 + i % 4) for i in range(12)]
    directory = ChannelDirectory(sessionmaker=None, box=None, ttl=1e9,  # type: ignore[arg-type]
                                 rand=random.Random(5).random)
    directory._snapshot = _Snapshot(routes=routes, by_model={"m": routes}, loaded_at=1e18)
    mine = random.Random(5).random
    for _ in range(50):
        assert ids(order("priority", routes, rand=mine)) == ids(await directory.candidates("m"))


# --------------------------------------------------------------------------- cost


def test_cost_orders_cheapest_first_and_unknown_prices_last() -> None:
    prices: dict[int, int | None] = {1: 300, 2: 100, 3: None, 4: 100, 5: None}
    routes = [route(1), route(2), route(3, priority=1), route(4, priority=9), route(5, priority=5)]
    ordered = order("cost", routes, rand=constant(0.5), price_of=lambda r: prices[r.id])
    # equal prices (2 and 4) and the unknown ones (3 and 5) fall back to priority order
    assert ids(ordered) == [4, 2, 1, 5, 3]


def test_cost_without_prices_is_priority_order() -> None:
    routes = [route(1), route(2, priority=3)]
    assert ids(order("cost", routes, rand=constant(0.5))) == [2, 1]


# --------------------------------------------------------------------------- latency


LATENCY_ROUTES = [route(1), route(2), route(3), route(4, priority=2)]
TTFB: dict[int, float | None] = {1: 0.5, 2: 0.2, 3: None, 4: None}


def test_latency_orders_fastest_first_then_untried_by_priority() -> None:
    ordered = order("latency", LATENCY_ROUTES, rand=constant(0.5), ttfb_of=lambda r: TTFB[r.id])
    assert ids(ordered) == [2, 1, 4, 3]


def test_latency_sometimes_tries_an_untried_channel_first() -> None:
    ordered = order("latency", LATENCY_ROUTES, rand=constant(0.01), ttfb_of=lambda r: TTFB[r.id])
    assert ids(ordered) == [4, 2, 1, 3]


def test_latency_explores_at_the_configured_rate() -> None:
    rng = random.Random(3)
    runs = 20_000
    explored = sum(order("latency", LATENCY_ROUTES, rand=rng.random, ttfb_of=lambda r: TTFB[r.id])[0].id == 4
                   for _ in range(runs))
    assert explored / runs == pytest.approx(EXPLORE_RATE, abs=0.006)


def test_latency_with_no_statistics_is_priority_order() -> None:
    routes = [route(1), route(2, priority=1)]
    assert ids(order("latency", routes, rand=constant(0.01), ttfb_of=lambda r: None)) == [2, 1]


def test_latency_with_all_statistics_never_explores() -> None:
    routes = [route(1), route(2)]
    speeds = {1: 0.9, 2: 0.1}
    assert ids(order("latency", routes, rand=constant(0.0), ttfb_of=lambda r: speeds[r.id])) == [2, 1]


# --------------------------------------------------------------------------- balanced


def test_balanced_orders_by_weight_over_one_plus_ttfb_ignoring_priority() -> None:
    # effective weights: 1: 4/(1+3)=1, 2: 2/(1+0)=2, 3: 3/(1+0.2)=2.5 -> with equal draws, larger first
    routes = [route(1, priority=9, weight=4), route(2, weight=2), route(3, weight=3)]
    ttfb = {1: 3.0, 2: 0.0, 3: 0.2}
    assert ids(order("balanced", routes, rand=constant(0.5), ttfb_of=lambda r: ttfb[r.id])) == [3, 2, 1]


def test_balanced_shares_follow_effective_weights() -> None:
    rng = random.Random(11)
    routes = [route(1), route(2)]
    ttfb = {1: 0.0, 2: 1.0}  # effective weights 1 and 0.5
    firsts = Counter(order("balanced", routes, rand=rng.random, ttfb_of=lambda r: ttfb[r.id])[0].id
                     for _ in range(20_000))
    assert firsts[1] / 20_000 == pytest.approx(2 / 3, abs=0.015)


def test_balanced_treats_unknown_ttfb_as_the_mean_of_known_ones() -> None:
    routes = [route(1), route(2), route(3)]
    ttfb: dict[int, float | None] = {1: 0.0, 2: 2.0, 3: None}  # 3 counts as 1.0 s
    assert ids(order("balanced", routes, rand=constant(0.5), ttfb_of=lambda r: ttfb[r.id])) == [1, 3, 2]


# --------------------------------------------------------------------------- availability


@pytest.mark.parametrize("strategy", ["priority", "cost", "latency", "balanced"])
def test_open_circuits_are_left_out(strategy: str) -> None:
    routes = [route(1, priority=5), route(2), route(3)]
    ordered = order(strategy, routes, rand=constant(0.5), available=lambda r: r.id != 1)
    assert sorted(ids(ordered)) == [2, 3]


@pytest.mark.parametrize("strategy", ["priority", "cost", "latency", "balanced"])
def test_when_no_channel_is_available_all_are_returned_in_strategy_order(strategy: str) -> None:
    routes = [route(1), route(2, priority=5, weight=9)]
    everything = order(strategy, routes, rand=constant(0.5))
    assert order(strategy, routes, rand=constant(0.5), available=lambda r: False) == everything
    assert sorted(ids(everything)) == [1, 2]


def test_unknown_strategy_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown routing strategy 'fastest'"):
        order("fastest", [route(1)], rand=constant(0.5))


def test_no_routes_gives_an_empty_order() -> None:
    empty: list[Route] = []
    assert order("latency", empty, rand=constant(0.5), available=lambda r: False) == []
