from __future__ import annotations

import random
from collections import Counter

import pytest

from app.relay.routing import AutoPolicy, InvalidFallbacks, ModelPlan, RoutingConfig, fallback_models, resolve
from tests.routing.factory import constant, draws, user_request

CONFIG = RoutingConfig(
    aliases={"gpt4": "gpt-4o", "mine-latest": "my-model", "smart": "auto"},
    splits={"my-model": [("model-a", 90), ("model-b", 10)], "never-b": [("a", 1), ("b", 0)]},
    auto=AutoPolicy(cheap="cheap-model", strong="strong-model", long="long-model"),
)


def test_unknown_names_are_used_as_asked() -> None:
    plan = resolve("claude-sonnet-4", None, CONFIG, rand=draws())
    assert plan == ModelPlan(model="claude-sonnet-4", reason=None, via=None, fallbacks=[],
                             requested="claude-sonnet-4")


def test_alias_resolves_one_level() -> None:
    plan = resolve("gpt4", None, CONFIG, rand=draws())
    assert (plan.model, plan.via, plan.requested) == ("gpt-4o", "alias", "gpt4")


def test_alias_to_a_split_reports_the_split_arm() -> None:
    plan = resolve("mine-latest", None, CONFIG, rand=constant(0.95))
    assert (plan.model, plan.via) == ("model-b", "split")


def test_alias_to_auto_runs_the_auto_policy() -> None:
    plan = resolve("smart", user_request("Translate 'hi' into French."), CONFIG, rand=draws())
    assert (plan.model, plan.via, plan.reason) == ("cheap-model", "auto", "short_plain")


def test_auto_without_an_auto_policy_is_an_ordinary_model_name() -> None:
    plan = resolve("auto", user_request("hi"), RoutingConfig(), rand=draws())
    assert (plan.model, plan.via, plan.reason) == ("auto", None, None)


@pytest.mark.parametrize(("draw", "model"), [(0.0, "model-a"), (0.899, "model-a"), (0.9, "model-b"),
                                             (0.999999, "model-b")])
def test_split_picks_by_cumulative_weight(draw: float, model: str) -> None:
    plan = resolve("my-model", None, CONFIG, rand=draws(draw))
    assert (plan.model, plan.via, plan.reason) == (model, "split", None)


def test_split_shares_match_weights_over_many_draws() -> None:
    rng = random.Random(42)
    runs = 20_000
    counts = Counter(resolve("my-model", None, CONFIG, rand=rng.random).model for _ in range(runs))
    assert set(counts) == {"model-a", "model-b"}
    assert counts["model-b"] / runs == pytest.approx(0.10, abs=0.01)


def test_zero_weight_arm_is_never_chosen() -> None:
    assert {resolve("never-b", None, CONFIG, rand=constant(x / 100)).model for x in range(100)} == {"a"}


# --------------------------------------------------------------------------- fallbacks


def test_fallbacks_are_resolved_in_order_without_repeats() -> None:
    plan = resolve("gpt-4o", None, CONFIG, rand=draws(0.95),
                   fallbacks=["gpt4", "claude-sonnet-4", "my-model", "claude-sonnet-4"])
    assert plan.fallbacks == ["claude-sonnet-4", "model-b"]
    assert plan.models == ["gpt-4o", "claude-sonnet-4", "model-b"]


def test_fallback_list_is_read_from_the_body() -> None:
    assert fallback_models({"model": "a", "models": ["b", "c"]}) == ["b", "c"]
    assert fallback_models({"model": "a"}) == []
    assert fallback_models({"model": "a", "models": None}) == []
    assert fallback_models({"models": ["1", "2", "3", "4", "5"]}) == ["1", "2", "3", "4", "5"]


@pytest.mark.parametrize(("value", "message"), [
    ("gpt-4o", "'models' must be a list of model names, got str"),
    ({"a": 1}, "'models' must be a list of model names, got dict"),
    (["a", "b", "c", "d", "e", "f"], "'models' may list at most 5 models, got 6"),
    (["a", ""], "'models[1]' must be a non-empty model name, got ''"),
    (["  "], "'models[0]' must be a non-empty model name"),
    (["a", 3], "'models[1]' must be a non-empty model name, got 3"),
    ([None], "'models[0]' must be a non-empty model name, got None"),
])
def test_malformed_fallback_lists_are_refused_naming_the_field(value: object, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        fallback_models({"model": "a", "models": value})
    assert isinstance(caught.value, InvalidFallbacks)
    assert caught.value.param == "models"
    assert message in str(caught.value)
