"""Small builders shared by the routing tests."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from app.relay.channels import Route
from app.relay.protocols import ir


def route(id: int, *, priority: int = 0, weight: int = 1, model_map: dict[str, str] | None = None) -> Route:
    return Route(id=id, name=f"ch{id}", type="openai", protocol="openai", base_url="http://127.0.0.1:9",
                 keys=("k",), models=frozenset({"m"}), model_map=model_map or {}, priority=priority,
                 weight=weight, api_version=None, connect_timeout=1.0, first_byte_timeout=1.0,
                 idle_timeout=1.0, total_timeout=1.0)


def ids(routes: Iterable[Route]) -> list[int]:
    return [r.id for r in routes]


def draws(*values: float) -> Callable[[], float]:
    """A ``rand`` that returns ``values`` in order and fails loudly when asked for more."""
    it = iter(values)

    def rand() -> float:
        try:
            return next(it)
        except StopIteration:
            raise AssertionError(f"rand() called more than {len(values)} times") from None

    return rand


def constant(value: float) -> Callable[[], float]:
    return lambda: value


def user_request(text: str, **fields: object) -> ir.Request:
    return ir.Request(model="auto", messages=[ir.Message(role="user", content=[ir.TextBlock(text=text)])],
                      **fields)  # type: ignore[arg-type]
