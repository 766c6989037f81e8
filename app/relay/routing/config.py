"""Routing configuration: strategies, aliases, weighted splits and the ``auto`` policy's tiers.

One immutable ``RoutingConfig`` is loaded from settings (later: the database) and passed to the
pure functions of this package. Every rule that can be checked without traffic is checked when the
config is built (or decoded with msgspec), so a bad config fails at load time, never mid-request.
"""

from __future__ import annotations

from typing import Literal, get_args

import msgspec

Strategy = Literal["priority", "cost", "latency", "balanced"]

#: Every strategy name ``order()`` understands.
STRATEGIES: frozenset[str] = frozenset(get_args(Strategy))

#: The model name that asks the ``auto`` policy to choose (reserved: not an alias or split name).
AUTO_MODEL = "auto"


def check_strategy(name: str, where: str) -> None:
    """Raise ``ValueError`` unless ``name`` is a known strategy (``where`` names the setting)."""
    if name not in STRATEGIES:
        raise ValueError(f"{where}: unknown routing strategy {name!r} (known: {', '.join(sorted(STRATEGIES))})")


class AutoPolicy(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The three tiers ``model: "auto"`` chooses between, and the policy's thresholds
    (see ``app.relay.routing.auto`` for the rules)."""

    cheap: str
    strong: str
    long: str
    #: Estimated input tokens above which the ``long`` tier is chosen.
    long_threshold: int = 100_000
    #: Plain prompts under this many estimated input tokens go to the ``cheap`` tier.
    short_threshold: int = 2_000
    #: Known context windows (input tokens) by model name; a prompt larger than the window of the
    #: model the other rules would pick goes to the ``long`` tier.
    context_windows: dict[str, int] = msgspec.field(default_factory=dict)

    def __post_init__(self) -> None:
        for tier, model in (("cheap", self.cheap), ("strong", self.strong), ("long", self.long)):
            if not model:
                raise ValueError(f"auto.{tier}: a model name is required")
        if not 0 < self.short_threshold <= self.long_threshold:
            raise ValueError("auto: need 0 < short_threshold <= long_threshold "
                             f"(got {self.short_threshold} and {self.long_threshold})")
        for model, window in self.context_windows.items():
            if window <= 0:
                raise ValueError(f"auto.context_windows[{model!r}]: must be positive (got {window})")


class RoutingConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """How requested model names become concrete models, and how channels are ordered.

    * ``aliases`` map a name to a target, one level only: a target may be a concrete model, a
      split name or ``"auto"``, never another alias (chains and cycles are rejected).
    * ``splits`` map a name to ``[(model, weight), ...]``; the targets are concrete models.
    * ``auto`` configures ``model: "auto"``; without it ``"auto"`` is an ordinary model name.
    """

    default_strategy: Strategy = "priority"
    model_strategy: dict[str, Strategy] = msgspec.field(default_factory=dict)
    aliases: dict[str, str] = msgspec.field(default_factory=dict)
    splits: dict[str, list[tuple[str, int]]] = msgspec.field(default_factory=dict)
    auto: AutoPolicy | None = None

    def __post_init__(self) -> None:
        check_strategy(self.default_strategy, "default_strategy")
        for model, strategy in self.model_strategy.items():
            check_strategy(strategy, f"model_strategy[{model!r}]")
        self._check_aliases()
        self._check_splits()
        if self.auto is not None:
            for tier in (self.auto.cheap, self.auto.strong, self.auto.long):
                self._check_concrete(tier, "auto tier")

    def strategy_for(self, model: str, account_strategy: str | None = None) -> str:
        """The strategy for ``model``: the account's override wins, then the model's, then the
        default. An unknown account strategy raises ``ValueError`` (it should have been refused
        when it was saved)."""
        if account_strategy is not None:
            check_strategy(account_strategy, "account strategy")
            return account_strategy
        return self.model_strategy.get(model, self.default_strategy)

    # ------------------------------------------------------------------ validation

    def _check_aliases(self) -> None:
        for name, target in self.aliases.items():
            if not name or not target:
                raise ValueError(f"aliases: empty name or target ({name!r} -> {target!r})")
            if name == AUTO_MODEL:
                raise ValueError(f"aliases: {AUTO_MODEL!r} is reserved and cannot be an alias")
            if name in self.splits:
                raise ValueError(f"aliases: {name!r} is also a split; a name can be only one of them")
            if target in self.aliases:
                raise ValueError(self._alias_chain_message(name))

    def _alias_chain_message(self, start: str) -> str:
        path = [start]
        current = self.aliases[start]
        while current in self.aliases and current not in path:
            path.append(current)
            current = self.aliases[current]
        if current in path:
            cycle = path[path.index(current):] + [current]
            return f"aliases: cycle {' -> '.join(cycle)}"
        return (f"aliases: {start!r} points at alias {path[1]!r}; aliases resolve one level only, "
                f"point {start!r} at {current!r} instead")

    def _check_splits(self) -> None:
        for name, arms in self.splits.items():
            if name == AUTO_MODEL:
                raise ValueError(f"splits: {AUTO_MODEL!r} is reserved and cannot be a split")
            if not arms:
                raise ValueError(f"splits[{name!r}]: needs at least one (model, weight) pair")
            for model, weight in arms:
                self._check_concrete(model, f"splits[{name!r}] target")
                if weight < 0:
                    raise ValueError(f"splits[{name!r}]: weight of {model!r} is negative ({weight})")
            if sum(weight for _, weight in arms) <= 0:
                raise ValueError(f"splits[{name!r}]: the weights add up to zero")

    def _check_concrete(self, model: str, what: str) -> None:
        if not model:
            raise ValueError(f"{what}: empty model name")
        if model == AUTO_MODEL or model in self.aliases or model in self.splits:
            raise ValueError(f"{what} {model!r} must be a concrete model, not an alias, a split or {AUTO_MODEL!r}")
