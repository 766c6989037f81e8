"""Small helpers shared by the Gemini modules: JSON, field lookup (camelCase or snake_case), ids.

Google's REST API accepts both ``inlineData`` and ``inline_data`` (proto JSON mapping), so every
read of a client body goes through :func:`field`, which tries the camelCase name first.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import msgspec

from app.relay.protocols.base import ProtocolError

_encoder = msgspec.json.Encoder()
_CAMEL_RE = re.compile(r"(?<!^)(?=[A-Z])")

#: Placeholder signatures Google documents for function calls that were not produced by Gemini
#: (conversations moved over from another model). Emitted for Gemini 3 models, dropped on parse.
DUMMY_SIGNATURE = "skip_thought_signature_validator"
DUMMY_SIGNATURES = frozenset({DUMMY_SIGNATURE, "context_engineering_is_the_way_to_go"})


def dumps(value: Any) -> str:
    """Compact JSON text (UTF-8, no spaces), as the IR wants tool arguments."""
    return _encoder.encode(value).decode()


def encode(value: Any) -> bytes:
    return _encoder.encode(value)


def decode(body: bytes | str, what: str = "request body") -> Any:
    try:
        return msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise ProtocolError(f"{what} is not valid JSON: {exc}") from None


@lru_cache(maxsize=256)
def snake(name: str) -> str:
    return _CAMEL_RE.sub("_", name).lower()


def field(obj: dict[str, Any], name: str) -> Any:
    """``obj[name]`` or its snake_case spelling; None when absent."""
    value = obj.get(name)
    if value is None:
        value = obj.get(snake(name))
    return value


def new_call_id() -> str:
    """A unique tool-call id for calls Gemini sent without one (responses and streams)."""
    return "call_" + uuid.uuid4().hex[:24]


def sequential_ids() -> Callable[[set[str]], str]:
    """Deterministic ``call_<n>`` ids for a request, skipping ids the conversation already uses."""
    counter = 0

    def make(used: set[str]) -> str:
        nonlocal counter
        while True:
            counter += 1
            candidate = f"call_{counter}"
            if candidate not in used:
                return candidate

    return make


def expect(value: Any, kind: type | tuple[type, ...], param: str, what: str) -> Any:
    """Type-check a client value (bools are never numbers) or raise ProtocolError naming it."""
    ok = isinstance(value, kind) and not (isinstance(value, bool) and bool not in _as_tuple(kind))
    if not ok:
        raise ProtocolError(f"{param} must be {what}", param=param)
    return value


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)
