"""Cache keys: one account's request, normalised, hashed.

Two requests share a key exactly when the relay would send the client the same bytes for both
(up to the model's own randomness, which the caller accepted by opting in): same account, same
inbound protocol and operation, same public model, same way of answering (whole body, SSE stream,
Gemini JSON-array stream), same parameters and messages. Key order, whitespace, JSON string
escapes and ``1`` vs ``1.0`` do not change a key; fields that only identify or label the caller
(``user``, ``metadata``, OpenAI's ``store``...) are dropped.

The key holds no request text: the body only enters it through SHA-256.
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec

#: Bumped when the normalisation changes, so old entries are simply never found again.
KEY_VERSION = 1

#: Top-level body fields that label or identify the request without changing the answer.
#: ``stream`` is not here: it is replaced by the explicit answer mode (see ``_answer_mode``).
_IGNORED_FIELDS: dict[str, frozenset[str]] = {
    "openai": frozenset({
        "user",               # end-user id for abuse monitoring
        "safety_identifier",  # its successor
        "metadata",           # stored-completion tags
        "store",              # whether OpenAI keeps the completion
        "prompt_cache_key",   # routing hint for OpenAI's own prompt cache
        "request_id",
    }),
    "anthropic": frozenset({"metadata"}),  # {"user_id": ...}
    "gemini": frozenset({"labels"}),       # Vertex billing labels
}

_MAX_SAFE_INT = 2**53


def _canonical(value: Any) -> Any:
    """JSON numbers compare by value: ``1.0`` and ``1`` (and ``-0.0`` and ``0``) are one number."""
    if isinstance(value, float):
        if value.is_integer() and abs(value) < _MAX_SAFE_INT:
            return int(value)
        return value
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return value


def _answer_mode(protocol: str, body: Any, gemini_sse: bool | None) -> str:
    """How the client is answered: a streamed answer and a whole one are different bytes.

    OpenAI and Anthropic say it in the body (``"stream": true``); Gemini says it in the URL,
    which the caller passes as ``gemini_sse``: None for ``:generateContent``, True for
    ``:streamGenerateContent?alt=sse``, False for Google's JSON-array stream.
    """
    if protocol == "gemini":
        if gemini_sse is None:
            return "whole"
        return "sse" if gemini_sse else "json-array"
    streamed = isinstance(body, dict) and bool(body.get("stream"))
    return "sse" if streamed else "whole"


def _normalised_body(protocol: str, body: Any, mode: str) -> Any:
    if not isinstance(body, dict):
        return _canonical(body)
    ignored = _IGNORED_FIELDS.get(protocol, frozenset())
    kept = {k: v for k, v in body.items() if k not in ignored}
    kept.pop("stream", None)  # carried by the answer mode instead
    kept.pop("model", None)  # carried by the explicit model (Gemini has it in the URL)
    if mode == "whole":
        # ``stream_options`` (include_usage...) shapes a stream only; a whole answer ignores it.
        kept.pop("stream_options", None)
    return _canonical(kept)


def cache_key(account_id: int, protocol: str, op: str, model: str, body: bytes, *,
              gemini_sse: bool | None = None) -> str:
    """The cache key of one request: ``"{account_id}:{sha256 hex}"``.

    ``protocol``/``op``: the client's inbound protocol and operation; ``model``: the public model
    name asked for; ``body``: the client's body, byte for byte. ``gemini_sse`` only matters for
    Gemini, whose stream mode is in the URL (None: not streamed; see ``_answer_mode``).

    A body that is not JSON (the protocol layer normally refuses it first) is keyed by its exact
    bytes. The account id is visible in the key so an account's entries can be found and purged.
    """
    try:
        parsed: Any = msgspec.json.decode(body)
    except msgspec.DecodeError:
        mode = _answer_mode(protocol, None, gemini_sse)
        # "R" and "J" keep raw bytes and JSON bodies from ever hashing the same input.
        canonical = b"R" + msgspec.json.encode([KEY_VERSION, account_id, protocol, op, model, mode]) + body
    else:
        mode = _answer_mode(protocol, parsed, gemini_sse)
        canonical = b"J" + msgspec.json.encode(
            [KEY_VERSION, account_id, protocol, op, model, mode, _normalised_body(protocol, parsed, mode)],
            order="sorted")
    return f"{account_id}:{hashlib.sha256(canonical).hexdigest()}"
