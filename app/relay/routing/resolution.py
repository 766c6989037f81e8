"""From the model name a client asked for to the model (and fallback models) the relay routes.

Resolution of one name, in this order:

1. **alias** (one level): ``aliases[name]`` replaces the name. The target may be a split name or
   ``"auto"``, which are then resolved as below; it is never another alias (the config refuses
   chains and cycles when it is built).
2. **split**: ``splits[name] = [(model, weight), ...]`` picks one model with probability
   ``weight / sum(weights)``, drawing ``rand()`` once. The chosen model is the plan's ``model``,
   so usage records show which arm served the request.
3. **auto** (when ``RoutingConfig.auto`` is set): the content policy of ``app.relay.routing.auto``.

``ModelPlan.via`` names the step that chose the model (the last one applied: an alias to a split
reports ``"split"``); ``None`` means the name was used as asked.

Request-level fallbacks (OpenRouter's ``"models": [...]`` body field) are validated by
``fallback_models()`` and resolved the same way, in order; names equal to the primary model or to
an earlier fallback are dropped, so no model is tried twice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import msgspec

from app.relay.protocols import ir
from app.relay.routing.auto import choose
from app.relay.routing.config import AUTO_MODEL, RoutingConfig

#: The most fallback models a request may list.
MAX_FALLBACKS = 5
#: The request body field that lists fallback models.
FALLBACKS_FIELD = "models"

Via = Literal["alias", "split", "auto"]


class ModelPlan(msgspec.Struct, frozen=True, kw_only=True):
    """The models to try for one request, in order: ``model``, then ``fallbacks``."""

    model: str
    #: Why ``auto`` chose ``model`` ("long_context", "code", ...); None for the other steps.
    reason: str | None = None
    via: Via | None = None
    fallbacks: list[str] = msgspec.field(default_factory=list)
    #: The name the client asked for.
    requested: str = ""

    @property
    def models(self) -> list[str]:
        """Every model to try, primary first."""
        return [self.model, *self.fallbacks]


class InvalidFallbacks(ValueError):
    """The request's fallback list is malformed (the caller answers 400 naming ``param``)."""

    param = FALLBACKS_FIELD


def fallback_models(body_doc: dict[str, Any]) -> list[str]:
    """The request's ``"models"`` fallback list: absent or null means none; otherwise a list of at
    most ``MAX_FALLBACKS`` non-empty strings. Raises ``InvalidFallbacks`` (a ``ValueError``) that
    names the field otherwise."""
    value = body_doc.get(FALLBACKS_FIELD)
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidFallbacks(f"'{FALLBACKS_FIELD}' must be a list of model names, got {type(value).__name__}")
    if len(value) > MAX_FALLBACKS:
        raise InvalidFallbacks(f"'{FALLBACKS_FIELD}' may list at most {MAX_FALLBACKS} models, got {len(value)}")
    for index, name in enumerate(value):
        if not isinstance(name, str) or not name.strip():
            raise InvalidFallbacks(f"'{FALLBACKS_FIELD}[{index}]' must be a non-empty model name, got {name!r}")
    return list(value)


def resolve(requested: str, request: ir.Request | None, config: RoutingConfig, *, rand: Callable[[], float],
            fallbacks: Sequence[str] = (), input_tokens: int | None = None) -> ModelPlan:
    """Resolve ``requested`` (and the request's ``fallbacks``, see ``fallback_models``) through
    aliases, splits and the ``auto`` policy. ``input_tokens`` is the request's estimated input
    (counted locally for ``auto`` when not given). Draws ``rand`` once per split met, primary
    first, then fallbacks in order."""
    model, via, reason = _resolve_one(requested, request, config, rand, input_tokens)
    seen = {model}
    resolved: list[str] = []
    for name in fallbacks:
        fallback, _, _ = _resolve_one(name, request, config, rand, input_tokens)
        if fallback not in seen:
            seen.add(fallback)
            resolved.append(fallback)
    return ModelPlan(model=model, reason=reason, via=via, fallbacks=resolved, requested=requested)


def _resolve_one(name: str, request: ir.Request | None, config: RoutingConfig, rand: Callable[[], float],
                 input_tokens: int | None) -> tuple[str, Via | None, str | None]:
    via: Via | None = None
    target = config.aliases.get(name)
    if target is not None:
        name, via = target, "alias"
    arms = config.splits.get(name)
    if arms is not None:
        return pick_split(arms, rand), "split", None
    if name == AUTO_MODEL and config.auto is not None:
        model, reason = choose(request, config.auto, input_tokens=input_tokens)
        return model, "auto", reason
    return name, via, None


def pick_split(arms: Sequence[tuple[str, int]], rand: Callable[[], float]) -> str:
    """One model of a weighted split, with probability ``weight / sum(weights)`` (one ``rand``)."""
    total = sum(weight for _, weight in arms)
    point = rand() * total
    for model, weight in arms:
        if point < weight:
            return model
        point -= weight
    # Only reached through float rounding at the top end: the last arm with a positive weight.
    return next(model for model, weight in reversed(arms) if weight > 0)
