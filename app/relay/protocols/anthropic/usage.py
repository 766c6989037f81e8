"""Anthropic usage objects <-> IR usage, whole-body usage extraction and the stream sniffer.

Anthropic's ``input_tokens`` already excludes cache reads and writes, so it maps 1:1 onto the IR;
``output_tokens_details.thinking_tokens`` (when present) is the reasoning part of output.
"""

from __future__ import annotations

from typing import Any

import msgspec

from app.relay.protocols import ir
from app.relay.protocols.anthropic.errors import error_from_object
from app.relay.protocols.sse import SSEEvent


class OutputTokensDetails(msgspec.Struct):
    thinking_tokens: int | None = None


class WireUsage(msgspec.Struct):
    """``usage`` of a message, message_start or message_delta (message_delta may omit input)."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    output_tokens_details: OutputTokensDetails | None = None


class _Body(msgspec.Struct):
    usage: WireUsage | None = None


class _StartMessage(msgspec.Struct):
    usage: WireUsage | None = None


class _StartEvent(msgspec.Struct):
    message: _StartMessage | None = None


class _TypeOnly(msgspec.Struct):
    type: str | None = None


_body_decoder = msgspec.json.Decoder(_Body)
_start_decoder = msgspec.json.Decoder(_StartEvent)
_delta_decoder = msgspec.json.Decoder(_Body)
_type_decoder = msgspec.json.Decoder(_TypeOnly)


def to_ir(wire: WireUsage, base: ir.Usage | None = None) -> ir.Usage:
    """Wire usage -> IR usage; fields the wire omits keep their value from ``base``."""
    b = base or ir.Usage()
    details = wire.output_tokens_details
    reasoning = details.thinking_tokens if details and details.thinking_tokens is not None else 0
    return ir.Usage(
        input_tokens=wire.input_tokens if wire.input_tokens is not None else b.input_tokens,
        output_tokens=wire.output_tokens if wire.output_tokens is not None else b.output_tokens,
        cache_read_tokens=(wire.cache_read_input_tokens if wire.cache_read_input_tokens is not None
                           else b.cache_read_tokens),
        cache_write_tokens=(wire.cache_creation_input_tokens
                            if wire.cache_creation_input_tokens is not None else b.cache_write_tokens),
        reasoning_tokens=reasoning,
    )


def from_ir(usage: ir.Usage | None) -> dict[str, Any]:
    """IR usage -> Anthropic ``usage`` object (message, message_start or message_delta)."""
    u = usage or ir.Usage()
    out: dict[str, Any] = {
        "input_tokens": u.input_tokens,
        "cache_creation_input_tokens": u.cache_write_tokens,
        "cache_read_input_tokens": u.cache_read_tokens,
        "output_tokens": u.output_tokens,
    }
    if u.reasoning_tokens:
        out["output_tokens_details"] = {"thinking_tokens": u.reasoning_tokens}
    return out


def usage_from_dict(raw: Any) -> WireUsage | None:
    """A generically decoded ``usage`` value -> WireUsage (None when absent or malformed)."""
    if not isinstance(raw, dict):
        return None
    try:
        return msgspec.convert(raw, WireUsage)
    except msgspec.ValidationError:
        return None


def parse_usage(body: bytes) -> ir.Usage | None:
    """Usage of a whole Messages response body, decoding nothing but ``usage``."""
    try:
        wire = _body_decoder.decode(body).usage
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    return to_ir(wire) if wire is not None else None


class AnthropicUsageSniffer:
    """Reads a passed-through Anthropic stream for billing. Only message_start, message_delta,
    message_stop and error events are looked at; content events are skipped by their SSE name
    without decoding JSON."""

    __slots__ = ("usage", "error", "finished", "_start")
    #: The event names (or, without them, the "type" values) of every event looked at.
    markers = (b"message_", b"error")

    def __init__(self) -> None:
        self.usage: ir.Usage | None = None
        self.error: ir.Error | None = None
        self.finished = False
        self._start: ir.Usage | None = None

    def feed(self, event: SSEEvent) -> None:
        name = event.event
        if name is None:  # not sent by Anthropic, but be lenient with proxies that strip it
            try:
                name = _type_decoder.decode(event.data).type
            except (msgspec.DecodeError, msgspec.ValidationError):
                return
        if name == "message_start":
            try:
                msg = _start_decoder.decode(event.data).message
            except (msgspec.DecodeError, msgspec.ValidationError):
                return
            if msg is not None and msg.usage is not None:
                self._start = to_ir(msg.usage)
                self.usage = self._start
        elif name == "message_delta":
            try:
                wire = _delta_decoder.decode(event.data).usage
            except (msgspec.DecodeError, msgspec.ValidationError):
                return
            if wire is not None:
                self.usage = to_ir(wire, self._start)
        elif name == "message_stop":
            self.finished = True
        elif name == "error":
            try:
                data = msgspec.json.decode(event.data)
            except msgspec.DecodeError:
                data = None
            err = data.get("error") if isinstance(data, dict) else None
            self.error = error_from_object(None, err if isinstance(err, dict) else {"type": "api_error"})
