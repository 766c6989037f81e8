"""IR stream events -> Anthropic SSE (to a client that speaks Anthropic).

Anthropic streams one content block at a time with wire indices 0, 1, 2... (the SDK appends a
block per content_block_start and addresses deltas by list position). IR streams converted from
other protocols may interleave blocks (OpenAI parallel tool calls), so the encoder keeps one block
open on the wire and queues the events of any other block that starts meanwhile, replaying them
when the open block stops. Stop reason and usage are buffered and sent in message_delta at
StreamEnd, followed by message_stop. Blocks with no Anthropic counterpart (images, tool results)
and tool-call signatures (Gemini) are dropped.
"""

from __future__ import annotations

import uuid
from typing import Any

import msgspec

from app.relay.protocols import ir
from app.relay.protocols.anthropic.errors import emit_stream_error
from app.relay.protocols.anthropic.response import message_id, stop_reason_to_wire
from app.relay.protocols.anthropic.stream_decoder import DeltaKind
from app.relay.protocols.anthropic.usage import from_ir
from app.relay.protocols.sse import encode_event

_ACCEPTED_DELTAS: dict[str, frozenset[str]] = {
    "text": frozenset({"text"}),
    "thinking": frozenset({"thinking", "signature"}),
    "tool_use": frozenset({"arguments"}),
    "redacted_thinking": frozenset(),
}
_WIRE_DELTAS: dict[str, tuple[str, str]] = {
    "text": ("text_delta", "text"),
    "arguments": ("input_json_delta", "partial_json"),
    "thinking": ("thinking_delta", "thinking"),
    "signature": ("signature_delta", "signature"),
}

BlockEvent = ir.BlockStart | ir.BlockDelta | ir.BlockStop


def _sse(name: str, payload: dict[str, Any]) -> bytes:
    return encode_event(msgspec.json.encode(payload), name)


class AnthropicStreamEncoder:
    content_type = "text/event-stream"

    def __init__(self, *, model: str) -> None:
        self._model = model
        self._started = False
        self._ended = False
        self._usage: ir.Usage | None = None
        self._stop_reason: ir.StopReason | None = None
        self._stop_sequence: str | None = None
        self._next_wire = 0
        self._active: int | None = None  # IR index of the block open on the wire
        self._active_wire = -1
        self._active_type = ""
        self._pending: dict[int, list[BlockEvent]] = {}  # queued blocks, in order of appearance
        self._done: set[int] = set()

    # ------------------------------------------------------------------ public

    def encode(self, event: ir.StreamEvent) -> bytes:
        if self._ended:
            return b""
        if isinstance(event, ir.StreamStart):
            return self._message_start(event.id, event.usage) if not self._started else b""
        if isinstance(event, ir.MessageDelta):
            if event.stop_reason is not None:
                self._stop_reason = event.stop_reason
                self._stop_sequence = event.stop_sequence
            elif event.stop_sequence is not None:
                self._stop_sequence = event.stop_sequence
            if event.usage is not None:
                self._usage = event.usage
            return b""
        if isinstance(event, ir.StreamEnd):
            return self._finish()
        if isinstance(event, ir.StreamError):
            self._ended = True
            return self._ensure_started() + emit_stream_error(event.error)
        return self._ensure_started() + self._block_event(event)

    def close(self) -> bytes:
        return b""

    # ------------------------------------------------------------------ message level

    def _message_start(self, ir_id: str, usage: ir.Usage | None) -> bytes:
        self._started = True
        if usage is not None and self._usage is None:
            self._usage = usage
        message: dict[str, Any] = {
            "id": message_id(ir_id),
            "type": "message",
            "role": "assistant",
            "model": self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": from_ir(usage),
        }
        return _sse("message_start", {"type": "message_start", "message": message})

    def _ensure_started(self) -> bytes:
        return b"" if self._started else self._message_start(uuid.uuid4().hex, None)

    def _finish(self) -> bytes:
        out = [self._ensure_started()]
        while self._active is not None or self._pending:
            if self._active is not None:
                out.append(self._stop_active())
            out.append(self._flush())
        self._ended = True
        delta = {"stop_reason": stop_reason_to_wire(self._stop_reason) or "end_turn",
                 "stop_sequence": self._stop_sequence}
        out.append(_sse("message_delta", {"type": "message_delta", "delta": delta,
                                          "usage": from_ir(self._usage)}))
        out.append(_sse("message_stop", {"type": "message_stop"}))
        return b"".join(out)

    # ------------------------------------------------------------------ blocks

    def _block_event(self, event: BlockEvent) -> bytes:
        i = event.index
        if i in self._done:
            return b""
        if i == self._active:
            if isinstance(event, ir.BlockDelta):
                return self._delta(event)
            if isinstance(event, ir.BlockStop):
                return self._stop_active() + self._flush()
            return b""
        if i in self._pending:
            self._pending[i].append(event)
            return b""
        if isinstance(event, ir.BlockStart):
            start: ir.BlockStart | None = event
        elif isinstance(event, ir.BlockDelta) and event.kind in ("text", "thinking"):
            # a delta for a block never started: assume a text / thinking block
            start = ir.BlockStart(index=i, block=ir.TextBlock(text="") if event.kind == "text"
                                  else ir.ThinkingBlock(text=""))
        else:
            start = None
        if start is None:
            return b""
        if self._active is not None:
            self._pending[i] = [start] if start is event else [start, event]
            return b""
        out = self._open(start)
        if start is not event and self._active == i:
            out += self._delta(event)
        return out

    def _open(self, event: ir.BlockStart) -> bytes:
        block = event.block
        content: dict[str, Any]
        initial: list[tuple[DeltaKind, str]] = []
        if isinstance(block, ir.TextBlock):
            content = {"type": "text", "text": ""}
            initial.append(("text", block.text))
        elif isinstance(block, ir.ThinkingBlock) and block.redacted_data is not None:
            content = {"type": "redacted_thinking", "data": block.redacted_data}
        elif isinstance(block, ir.ThinkingBlock):
            content = {"type": "thinking", "thinking": "", "signature": ""}
            initial += [("thinking", block.text), ("signature", block.signature or "")]
        elif isinstance(block, ir.ToolCallBlock):
            content = {"type": "tool_use", "id": block.id, "name": block.name, "input": {}}
            initial.append(("arguments", block.arguments))
        else:  # images, tool results: no counterpart in an Anthropic response
            self._done.add(event.index)
            return b""
        self._active = event.index
        self._active_wire = self._next_wire
        self._next_wire += 1
        self._active_type = content["type"]
        out = [_sse("content_block_start", {"type": "content_block_start", "index": self._active_wire,
                                            "content_block": content})]
        out += [self._delta(ir.BlockDelta(index=event.index, kind=kind, text=text))
                for kind, text in initial if text]
        return b"".join(out)

    def _delta(self, event: ir.BlockDelta) -> bytes:
        if not event.text or event.kind not in _ACCEPTED_DELTAS[self._active_type]:
            return b""
        wire_type, field = _WIRE_DELTAS[event.kind]
        return _sse("content_block_delta", {"type": "content_block_delta", "index": self._active_wire,
                                            "delta": {"type": wire_type, field: event.text}})

    def _stop_active(self) -> bytes:
        assert self._active is not None
        self._done.add(self._active)
        self._active = None
        return _sse("content_block_stop", {"type": "content_block_stop", "index": self._active_wire})

    def _flush(self) -> bytes:
        """Replay queued blocks while no block is open on the wire."""
        out: list[bytes] = []
        while self._active is None and self._pending:
            index = next(iter(self._pending))
            for event in self._pending.pop(index):
                if isinstance(event, ir.BlockStart):
                    out.append(self._open(event))
                elif index != self._active:
                    continue  # the block was dropped at its start
                elif isinstance(event, ir.BlockDelta):
                    out.append(self._delta(event))
                else:
                    out.append(self._stop_active())
        return b"".join(out)
