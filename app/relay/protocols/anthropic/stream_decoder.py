"""Anthropic SSE events (upstream) -> IR stream events.

Wire block indices are mapped to sequential IR indices; blocks without an IR counterpart
(server-tool blocks, citations) are skipped together with their deltas. ``ping`` is ignored.
Empty deltas (Anthropic sends ``partial_json: ""`` and ``thinking: ""``) are dropped.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from app.relay.protocols import ir
from app.relay.protocols.anthropic.errors import error_from_object
from app.relay.protocols.anthropic.response import stop_reason_to_ir
from app.relay.protocols.anthropic.usage import to_ir, usage_from_dict
from app.relay.protocols.sse import SSEEvent

DeltaKind = Literal["text", "arguments", "thinking", "signature"]

#: wire delta type -> (field holding the text, IR delta kind)
_DELTA_KINDS: dict[str, tuple[str, DeltaKind]] = {
    "text_delta": ("text", "text"),
    "input_json_delta": ("partial_json", "arguments"),
    "thinking_delta": ("thinking", "thinking"),
    "signature_delta": ("signature", "signature"),
}


def _malformed(what: str) -> list[ir.StreamEvent]:
    err = ir.Error(kind="api_error", message=f"malformed Anthropic stream event: {what}", status=502)
    return [ir.StreamError(error=err)]


class AnthropicStreamDecoder:
    __slots__ = ("_index", "_next", "_start_usage")

    def __init__(self) -> None:
        self._index: dict[int, int | None] = {}  # wire index -> IR index (None: skipped block)
        self._next = 0
        self._start_usage: ir.Usage | None = None

    def feed(self, event: SSEEvent) -> list[ir.StreamEvent]:
        if event.event == "ping":
            return []
        try:
            data = msgspec.json.decode(event.data)
        except (msgspec.DecodeError, UnicodeDecodeError):
            return _malformed("invalid JSON")
        if not isinstance(data, dict):
            return _malformed("not an object")
        etype = data.get("type") or event.event
        if etype == "content_block_delta":
            return self._delta(data)
        if etype == "content_block_start":
            return self._block_start(data)
        if etype == "content_block_stop":
            index = self._ir_index(data)
            return [ir.BlockStop(index=index)] if index is not None else []
        if etype == "message_start":
            return self._message_start(data)
        if etype == "message_delta":
            return self._message_delta(data)
        if etype == "message_stop":
            return [ir.StreamEnd()]
        if etype == "error":
            err = data.get("error")
            return [ir.StreamError(error=error_from_object(None, err if isinstance(err, dict) else {}))]
        return []

    def close(self) -> list[ir.StreamEvent]:
        # StreamEnd was already produced by message_stop; a stream cut before it ends silently.
        return []

    # ------------------------------------------------------------------ handlers

    def _message_start(self, data: dict[str, Any]) -> list[ir.StreamEvent]:
        message = data.get("message")
        if not isinstance(message, dict):
            return _malformed("message_start without message")
        wire = usage_from_dict(message.get("usage"))
        self._start_usage = to_ir(wire) if wire is not None else None
        return [ir.StreamStart(id=str(message.get("id") or ""), model=str(message.get("model") or ""),
                               usage=self._start_usage)]

    def _message_delta(self, data: dict[str, Any]) -> list[ir.StreamEvent]:
        delta = data.get("delta")
        delta = delta if isinstance(delta, dict) else {}
        wire = usage_from_dict(data.get("usage"))
        stop_sequence = delta.get("stop_sequence")
        return [ir.MessageDelta(
            stop_reason=stop_reason_to_ir(delta.get("stop_reason")),
            stop_sequence=stop_sequence if isinstance(stop_sequence, str) else None,
            usage=to_ir(wire, self._start_usage) if wire is not None else None,
        )]

    def _block_start(self, data: dict[str, Any]) -> list[ir.StreamEvent]:
        wire_index = data.get("index")
        block = data.get("content_block")
        if not isinstance(wire_index, int) or not isinstance(block, dict):
            return _malformed("content_block_start without index or content_block")
        if wire_index in self._index:
            return []
        btype = block.get("type")
        start: ir.Block
        deltas: list[tuple[DeltaKind, str]] = []
        if btype == "text":
            start = ir.TextBlock(text="")
            deltas.append(("text", str(block.get("text") or "")))
        elif btype == "thinking":
            start = ir.ThinkingBlock(text="")
            deltas.append(("thinking", str(block.get("thinking") or "")))
            deltas.append(("signature", str(block.get("signature") or "")))
        elif btype == "redacted_thinking":
            start = ir.ThinkingBlock(redacted_data=str(block.get("data") or ""))
        elif btype == "tool_use":
            start = ir.ToolCallBlock(id=str(block.get("id") or ""), name=str(block.get("name") or ""))
            tool_input = block.get("input")
            if isinstance(tool_input, dict) and tool_input:
                deltas.append(("arguments", msgspec.json.encode(tool_input).decode()))
        else:
            self._index[wire_index] = None
            return []
        index = self._next
        self._next += 1
        self._index[wire_index] = index
        out: list[ir.StreamEvent] = [ir.BlockStart(index=index, block=start)]
        out.extend(ir.BlockDelta(index=index, kind=kind, text=text) for kind, text in deltas if text)
        return out

    def _ir_index(self, data: dict[str, Any]) -> int | None:
        wire_index = data.get("index")
        return self._index.get(wire_index) if isinstance(wire_index, int) else None

    def _delta(self, data: dict[str, Any]) -> list[ir.StreamEvent]:
        index = self._ir_index(data)
        delta = data.get("delta")
        if index is None or not isinstance(delta, dict):
            return []
        spec = _DELTA_KINDS.get(str(delta.get("type")))
        if spec is None:
            return []
        field, kind = spec
        text = delta.get(field)
        if not isinstance(text, str) or not text:
            return []
        return [ir.BlockDelta(index=index, kind=kind, text=text)]
