"""OpenAI ``chat.completion.chunk`` streams: decoder to IR events, encoder from them, and a cheap
usage sniffer for passed-through streams."""

from __future__ import annotations

import time
from typing import Any, Literal

import msgspec

from app.relay.protocols import ir
from app.relay.protocols.openai import wire
from app.relay.protocols.openai.errors import emit_stream_error, parse_error
from app.relay.protocols.openai.response import completion_id
from app.relay.protocols.openai.usage import finish_reason, stop_reason, usage_to_ir, usage_to_wire
from app.relay.protocols.sse import SSEEvent

_DONE = b"[DONE]"
_chunk_decoder = msgspec.json.Decoder(wire.Chunk)
_envelope_decoder = msgspec.json.Decoder(wire.UsageEnvelope)
_encoder = msgspec.json.Encoder()

_OpenKind = Literal["text", "thinking", "tool"]


#: In-stream errors carry no HTTP status; their OpenAI ``type`` tells what it would have been.
_TYPE_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "rate_limit_exceeded": 429,
    "rate_limit_error": 429,
    "insufficient_quota": 429,
    "overloaded_error": 503,
    "service_unavailable": 503,
}


def _in_stream_error(payload: Any) -> ir.Error:
    """An ``{"error": {...}}`` payload inside a stream -> IR error; the status comes from a
    numeric ``code`` (Gemini-style) or the error type, else 500."""
    status = 500
    if isinstance(payload, dict):
        code = payload.get("code")
        if isinstance(code, int) and 400 <= code < 600:
            status = code
        elif isinstance(payload.get("type"), str):
            status = _TYPE_STATUS.get(payload["type"], 500)
    return parse_error(status, _encoder.encode({"error": payload}))


# --------------------------------------------------------------------------- decoder


class OpenAIStreamDecoder:
    """OpenAI SSE events -> IR stream events, with sequential IR block indices."""

    def __init__(self) -> None:
        self._started = False
        self._done = False
        self._next_index = 0
        self._open: tuple[_OpenKind, int] | None = None  # (kind, IR index) of the open block
        self._tools: dict[int, int] = {}  # wire tool-call index -> IR index
        self._tool_ids: dict[str, int] = {}  # for providers that omit the tool-call index
        self._refused = False

    def feed(self, event: SSEEvent) -> list[ir.StreamEvent]:
        data = event.data
        if self._done or not data:
            return []
        if len(data) < 16 and data.strip() == _DONE:
            self._done = True
            return [*self._close_open(), ir.StreamEnd()]
        try:
            chunk = _chunk_decoder.decode(data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            err = ir.Error(kind="api_error", status=502, message=f"Invalid stream chunk from upstream: {exc}")
            return [ir.StreamError(error=err)]
        if chunk.error is not None:
            return [ir.StreamError(error=_in_stream_error(chunk.error))]
        out: list[ir.StreamEvent] = []
        if not self._started:
            if not chunk.choices and chunk.usage is None:
                return []  # e.g. Azure's prompt_filter_results chunk, which has no id or model
            self._started = True
            out.append(ir.StreamStart(id=chunk.id or "", model=chunk.model or "", created=chunk.created))
        for choice in chunk.choices or ():
            if choice.index == 0:
                self._choice(choice, out)
        if chunk.usage is not None:
            out.append(ir.MessageDelta(usage=usage_to_ir(chunk.usage)))
        return out

    def close(self) -> list[ir.StreamEvent]:
        # Without [DONE] the stream was cut: report nothing, the caller decides what that means.
        return []

    # ----------------------------------------------------------------- internals

    def _close_open(self) -> list[ir.StreamEvent]:
        if self._open is None:
            return []
        index = self._open[1]
        self._open = None
        return [ir.BlockStop(index=index)]

    def _ensure(self, kind: _OpenKind, block: ir.Block, out: list[ir.StreamEvent]) -> int:
        """Index of an open block of ``kind``, closing another kind and opening one if needed."""
        if self._open is not None and self._open[0] == kind and kind != "tool":
            return self._open[1]
        out.extend(self._close_open())
        index = self._next_index
        self._next_index += 1
        self._open = (kind, index)
        out.append(ir.BlockStart(index=index, block=block))
        return index

    def _choice(self, choice: wire.ChunkChoice, out: list[ir.StreamEvent]) -> None:
        delta = choice.delta
        if delta is not None:
            reasoning = delta.reasoning_content or delta.reasoning
            if reasoning:
                index = self._ensure("thinking", ir.ThinkingBlock(text=""), out)
                out.append(ir.BlockDelta(index=index, kind="thinking", text=reasoning))
            for text in (delta.content, delta.refusal):
                if text:
                    index = self._ensure("text", ir.TextBlock(text=""), out)
                    out.append(ir.BlockDelta(index=index, kind="text", text=text))
            if delta.refusal:
                self._refused = True
            for call in delta.tool_calls or ():
                self._tool_call(call, out)
        if choice.finish_reason is not None:
            out.extend(self._close_open())
            reason = stop_reason(choice.finish_reason)
            if self._refused and reason == "end_turn":
                reason = "refusal"
            out.append(ir.MessageDelta(stop_reason=reason))

    def _tool_call(self, call: wire.DeltaToolCall, out: list[ir.StreamEvent]) -> None:
        fn = call.function
        args = fn.arguments if fn is not None else None
        if call.index is not None:
            index = self._tools.get(call.index)
            if index is not None and call.id and call.id not in self._tool_ids:
                index = None  # a new id under a reused index (Mistral numbers every call 0)
        elif call.id:
            index = self._tool_ids.get(call.id)
        else:  # no index, no id: a continuation of the current call
            index = self._open[1] if self._open is not None and self._open[0] == "tool" else None
        signature = wire.thought_signature(call.extra_content)
        if index is None:
            block = ir.ToolCallBlock(
                id=call.id or f"call_{self._next_index}",
                name=(fn.name if fn is not None else None) or "",
                signature=signature,
            )
            index = self._ensure("tool", block, out)
            self._tools[call.index if call.index is not None else len(self._tools)] = index
            if call.id:
                self._tool_ids[call.id] = index
        elif signature:
            out.append(ir.BlockDelta(index=index, kind="signature", text=signature))
        # A fragment for an earlier, already closed call (interleaving; OpenAI itself never does
        # this) still goes to that call's index so no argument text is lost.
        if args:
            out.append(ir.BlockDelta(index=index, kind="arguments", text=args))


# --------------------------------------------------------------------------- encoder


class _FunctionDelta(msgspec.Struct, omit_defaults=True):
    name: str | None = None
    arguments: str | None = None


class _ToolCallDelta(msgspec.Struct, omit_defaults=True):
    index: int
    id: str | None = None
    type: str | None = None
    function: _FunctionDelta | None = None
    extra_content: dict[str, Any] | None = None  # Gemini thought signature, as Google sends it


class _Delta(msgspec.Struct, omit_defaults=True):
    role: str | None = None
    content: str | None = None
    reasoning_content: str | None = None
    tool_calls: list[_ToolCallDelta] | None = None


def _signature_content(signature: str | None) -> dict[str, Any] | None:
    return {"google": {"thought_signature": signature}} if signature else None


class _Choice(msgspec.Struct):
    """Always written in full, nulls included, as OpenAI does."""

    index: int
    delta: _Delta
    logprobs: None
    finish_reason: str | None


class OpenAIStreamEncoder:
    """IR events -> ``data: {chat.completion.chunk}`` events; the finish reason and usage are
    buffered from MessageDelta and flushed at StreamEnd, followed by ``data: [DONE]``."""

    content_type = "text/event-stream"

    def __init__(self, *, model: str, include_usage: bool = True) -> None:
        self._model = model
        self._include_usage = include_usage
        self._prefix = b""
        self._tool_index: dict[int, int] = {}  # IR index -> OpenAI tool_calls[].index
        self._stop: ir.StopReason | None = None
        self._usage: ir.Usage | None = None
        self._ended = False

    def encode(self, event: ir.StreamEvent) -> bytes:
        if self._ended:
            return b""
        if isinstance(event, ir.StreamStart):
            self._start(event.id, event.created)
            return self._chunk(_Delta(role="assistant", content=""))
        if not self._prefix:  # events without a StreamStart: start implicitly
            self._start("", None)
        if isinstance(event, ir.BlockStart):
            return self._block_start(event)
        if isinstance(event, ir.BlockDelta):
            return self._block_delta(event)
        if isinstance(event, ir.MessageDelta):
            if event.stop_reason is not None:
                self._stop = event.stop_reason
            if event.usage is not None:
                self._usage = event.usage
            return b""
        if isinstance(event, ir.StreamEnd):
            self._ended = True
            out = self._chunk(_Delta(), finish=finish_reason(self._stop))
            if self._include_usage:
                out += self._usage_chunk()
            return out + b"data: [DONE]\n\n"
        if isinstance(event, ir.StreamError):
            self._ended = True
            return emit_stream_error(event.error)
        return b""  # BlockStop: OpenAI has no block boundaries

    def close(self) -> bytes:
        # [DONE] went out with StreamEnd; a stream cut short must not look finished.
        return b""

    # ----------------------------------------------------------------- internals

    def _start(self, ir_id: str, created: int | None) -> None:
        head = {
            "id": completion_id(ir_id),
            "object": "chat.completion.chunk",
            "created": created if created is not None else int(time.time()),
            "model": self._model,
        }
        self._prefix = b"data: " + _encoder.encode(head)[:-1] + b","

    def _chunk(self, delta: _Delta, finish: str | None = None) -> bytes:
        usage = b',"usage":null' if self._include_usage else b""
        choice = _encoder.encode(_Choice(index=0, delta=delta, logprobs=None, finish_reason=finish))
        return self._prefix + b'"choices":[' + choice + b"]" + usage + b"}\n\n"

    def _usage_chunk(self) -> bytes:
        usage = _encoder.encode(usage_to_wire(self._usage or ir.Usage()))
        return self._prefix + b'"choices":[],"usage":' + usage + b"}\n\n"

    def _block_start(self, event: ir.BlockStart) -> bytes:
        block = event.block
        if isinstance(block, ir.ToolCallBlock):
            tool_index = len(self._tool_index)
            self._tool_index[event.index] = tool_index
            call = _ToolCallDelta(
                index=tool_index,
                id=block.id,
                type="function",
                function=_FunctionDelta(name=block.name, arguments=block.arguments),
                extra_content=_signature_content(block.signature),
            )
            return self._chunk(_Delta(tool_calls=[call]))
        if isinstance(block, ir.TextBlock) and block.text:
            return self._chunk(_Delta(content=block.text))
        if isinstance(block, ir.ThinkingBlock) and block.text:
            return self._chunk(_Delta(reasoning_content=block.text))
        return b""  # images and empty starts have nothing to send

    def _block_delta(self, event: ir.BlockDelta) -> bytes:
        if not event.text:
            return b""
        if event.kind == "text":
            return self._chunk(_Delta(content=event.text))
        if event.kind == "thinking":
            return self._chunk(_Delta(reasoning_content=event.text))
        if event.kind == "arguments":
            tool_index = self._tool_index.get(event.index)
            if tool_index is None:
                return b""
            call = _ToolCallDelta(index=tool_index, function=_FunctionDelta(arguments=event.text))
            return self._chunk(_Delta(tool_calls=[call]))
        tool_index = self._tool_index.get(event.index)
        if event.kind == "signature" and tool_index is not None:
            call = _ToolCallDelta(index=tool_index, extra_content=_signature_content(event.text))
            return self._chunk(_Delta(tool_calls=[call]))
        return b""  # thinking signatures only mean something to the provider that made them


# --------------------------------------------------------------------------- usage sniffer


class OpenAIUsageSniffer:
    """Reads usage, errors and [DONE] off a passed-through stream, decoding only the chunks that
    can carry them."""

    __slots__ = ("usage", "error", "finished")
    markers = (b"[DONE]", b'"usage":{', b'"usage": {', b'"error"')  # chunks carry "usage":null

    def __init__(self) -> None:
        self.usage: ir.Usage | None = None
        self.error: ir.Error | None = None
        self.finished = False

    def feed(self, event: SSEEvent) -> None:
        data = event.data
        if len(data) < 16 and data.strip() == _DONE:
            self.finished = True
            return
        if b'"usage":{' in data or b'"usage": {' in data:
            try:
                envelope = _envelope_decoder.decode(data)
            except (msgspec.DecodeError, msgspec.ValidationError):
                return
            if envelope.usage is not None:
                self.usage = usage_to_ir(envelope.usage)
        elif b'"error"' in data[:32]:
            try:
                payload = msgspec.json.decode(data)
            except msgspec.DecodeError:
                return
            if isinstance(payload, dict) and payload.get("error") is not None:
                self.error = _in_stream_error(payload["error"])
