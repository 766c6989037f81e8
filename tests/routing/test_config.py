from __future__ import annotations

import msgspec
import pytest

from app.relay.routing import AutoPolicy, RoutingConfig

# --------------------------------------------------------------------------- strategy precedence

CONFIG = RoutingConfig(default_strategy="cost", model_strategy={"gpt-4o": "latency"})


def test_default_strategy_applies_to_models_without_their_own() -> None:
    assert CONFIG.strategy_for("claude-sonnet-4") == "cost"
    assert RoutingConfig().strategy_for("anything") == "priority"


def test_model_strategy_beats_the_default() -> None:
    assert CONFIG.strategy_for("gpt-4o") == "latency"


def test_account_strategy_beats_model_and_default() -> None:
    assert CONFIG.strategy_for("gpt-4o", "balanced") == "balanced"
    assert CONFIG.strategy_for("claude-sonnet-4", "priority") == "priority"


def test_unknown_account_strategy_is_refused() -> None:
    with pytest.raises(ValueError, match="account strategy: unknown routing strategy 'cheapest'"):
        CONFIG.strategy_for("gpt-4o", "cheapest")


def test_config_decodes_from_settings_and_refuses_unknown_strategies() -> None:
    doc = {"default_strategy": "balanced", "model_strategy": {"a": "cost"}, "aliases": {"gpt4": "gpt-4o"},
           "splits": {"mine": [["model-a", 90], ["model-b", 10]]},
           "auto": {"cheap": "c", "strong": "s", "long": "l", "context_windows": {"s": 64000}}}
    config = msgspec.convert(doc, RoutingConfig)
    assert config.splits == {"mine": [("model-a", 90), ("model-b", 10)]}
    assert config.auto == AutoPolicy(cheap="c", strong="s", long="l", context_windows={"s": 64000})
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"model_strategy": {"a": "fastest"}}, RoutingConfig)
    with pytest.raises(ValueError, match="default_strategy: unknown routing strategy"):
        RoutingConfig(default_strategy="fastest")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- aliases and splits


@pytest.mark.parametrize(("aliases", "message"), [
    ({"a": "b", "b": "a"}, "aliases: cycle a -> b -> a"),
    ({"a": "a"}, "aliases: cycle a -> a"),
    ({"x": "a", "a": "b", "b": "c", "c": "a"}, "aliases: cycle a -> b -> c -> a"),
    ({"gpt4": "gpt-4o", "gpt-4o": "gpt-4o-2024-08-06"},
     "aliases: 'gpt4' points at alias 'gpt-4o'; aliases resolve one level only, point 'gpt4' at "
     "'gpt-4o-2024-08-06' instead"),
    ({"auto": "gpt-4o"}, "'auto' is reserved"),
])
def test_alias_cycles_and_chains_are_refused(aliases: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError) as caught:
        RoutingConfig(aliases=aliases)
    assert message in str(caught.value)


def test_alias_cycle_in_decoded_settings_is_a_validation_error() -> None:
    with pytest.raises(msgspec.ValidationError, match="cycle a -> b -> a"):
        msgspec.convert({"aliases": {"a": "b", "b": "a"}}, RoutingConfig)


@pytest.mark.parametrize(("config", "message"), [
    ({"splits": {"s": []}}, "needs at least one"),
    ({"splits": {"s": [("a", 0), ("b", 0)]}}, "add up to zero"),
    ({"splits": {"s": [("a", -1), ("b", 5)]}}, "negative"),
    ({"splits": {"s": [("t", 1)], "t": [("a", 1)]}}, "must be a concrete model"),
    ({"splits": {"s": [("gpt4", 1)]}, "aliases": {"gpt4": "gpt-4o"}}, "must be a concrete model"),
    ({"splits": {"s": [("a", 1)]}, "aliases": {"s": "b"}}, "also a split"),
    ({"auto": AutoPolicy(cheap="gpt4", strong="s", long="l"), "aliases": {"gpt4": "gpt-4o"}},
     "auto tier 'gpt4' must be a concrete model"),
])
def test_malformed_splits_and_tiers_are_refused(config: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RoutingConfig(**config)  # type: ignore[arg-type]


def test_auto_thresholds_are_checked() -> None:
    with pytest.raises(ValueError, match="short_threshold <= long_threshold"):
        AutoPolicy(cheap="c", strong="s", long="l", short_threshold=200_000)
