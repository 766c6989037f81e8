"""Gemini ``streamGenerateContent`` <-> IR stream events.

Every chunk is a whole ``GenerateContentResponse`` with cumulative ``usageMetadata``; there is no
terminator, so a stream ended normally once a ``finishReason`` was seen. Upstream streams are
requested with ``alt=sse`` (``data: <json>`` + CRLF CRLF). Clients that omit ``alt=sse`` get
Google's JSON-array stream: ``[<chunk>,\\r\\n<chunk>...]``.

Signatures follow parts.py: a ``thoughtSignature`` on a text part signs the thinking block open
before it (or an empty ThinkingBlock opened to carry it); the encoder moves a thinking block's
signature onto the next text part, or sends it on an empty thought part.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from app.relay.protocols import ir
from app.relay.protocols.base import ProtocolError
from app.relay.protocols.gemini.errors import error_from_object, error_object
from app.relay.protocols.gemini.parts import arguments_object, media_part, read_media
from app.relay.protocols.gemini.usage import (
    chunk_decoder,
    finish_from_stop,
    stop_from_finish,
    to_ir,
    usage_from_object,
    usage_to_object,
)
from app.relay.protocols.gemini.wire import DUMMY_SIGNATURES, dumps, encode, field, new_call_id
from app.relay.protocols.sse import SSEEvent


def _bad_chunk(message: str) -> ir.StreamError:
    return ir.StreamError(error=ir.Error(kind="api_error", message=message, status=502))


class GeminiStreamDecoder:
    """Upstream SSE events (one GenerateContentResponse each) -> IR stream events."""

    def __init__(self) -> None:
        self._started = False
        self._next = 0
        self._open = -1  # IR index of the open text/thinking block, -1 when none
        self._open_kind: Literal["text", "thinking"] | None = None
        self._open_signed = False
        self._saw_calls = False
        self._finished = False
        self._failed = False

    def feed(self, event: SSEEvent) -> list[ir.StreamEvent]:
        data = event.data.strip()
        if not data or self._failed:
            return []
        try:
            chunk: Any = msgspec.json.decode(data)
        except msgspec.DecodeError:
            self._failed = True
            return [_bad_chunk("upstream sent a stream chunk that is not JSON")]
        out: list[ir.StreamEvent] = []
        for item in chunk if isinstance(chunk, list) else [chunk]:
            if not self._failed:
                self._chunk(item, out)
        return out

    def close(self) -> list[ir.StreamEvent]:
        if self._failed:
            return []
        out: list[ir.StreamEvent] = []
        self._close_open(out)
        if self._finished:
            out.append(ir.StreamEnd())
        return out

    # ------------------------------------------------------------------ chunks

    def _chunk(self, chunk: Any, out: list[ir.StreamEvent]) -> None:
        if not isinstance(chunk, dict):
            self._failed = True
            out.append(_bad_chunk("upstream sent a stream chunk that is not an object"))
            return
        if isinstance(chunk.get("error"), dict):
            self._failed = True
            out.append(ir.StreamError(error=error_from_object(chunk["error"], 0)))
            return
        if not self._started:
            self._started = True
            rid, model = field(chunk, "responseId"), field(chunk, "modelVersion")
            out.append(ir.StreamStart(id=rid if isinstance(rid, str) and rid else "gen-" + new_call_id()[5:],
                                      model=model if isinstance(model, str) else ""))
        stop: ir.StopReason | None = None
        candidates = chunk.get("candidates")
        candidate = candidates[0] if isinstance(candidates, list) and candidates else None
        if isinstance(candidate, dict):
            content = candidate.get("content")
            parts = content.get("parts") if isinstance(content, dict) else None
            for part in parts if isinstance(parts, list) else ():
                if isinstance(part, dict):
                    self._part(part, out)
            finish = field(candidate, "finishReason")
            if finish:
                stop = stop_from_finish(finish, self._saw_calls)
        feedback = field(chunk, "promptFeedback")
        if isinstance(feedback, dict) and field(feedback, "blockReason"):
            stop = "content_filter"
        if stop is not None:
            self._finished = True
            self._close_open(out)
        usage = usage_from_object(field(chunk, "usageMetadata"))
        if stop is not None or usage is not None:
            out.append(ir.MessageDelta(stop_reason=stop, usage=usage))

    def _part(self, part: dict[str, Any], out: list[ir.StreamEvent]) -> None:
        sig = field(part, "thoughtSignature")
        if not isinstance(sig, str) or sig in DUMMY_SIGNATURES:
            sig = None
        text = part.get("text")
        if isinstance(text, str):
            if part.get("thought") is True:
                if text:
                    if self._open_kind != "thinking" or self._open_signed:
                        self._start(ir.ThinkingBlock(text=""), "thinking", out)
                    out.append(ir.BlockDelta(index=self._open, kind="thinking", text=text))
                if sig:
                    self._sign(sig, out)
                return
            if sig:
                self._sign(sig, out)
            if text:
                if self._open_kind != "text":
                    self._start(ir.TextBlock(text=""), "text", out)
                out.append(ir.BlockDelta(index=self._open, kind="text", text=text))
            return
        call = field(part, "functionCall")
        if isinstance(call, dict):
            self._close_open(out)
            args = call.get("args")
            call_id = call.get("id")
            index = self._take_index()
            out.append(ir.BlockStart(index=index, block=ir.ToolCallBlock(
                id=call_id if isinstance(call_id, str) and call_id else new_call_id(),
                name=str(call.get("name") or ""), arguments="", signature=sig)))
            out.append(ir.BlockDelta(index=index, kind="arguments",
                                     text=dumps(args if isinstance(args, dict) else {})))
            out.append(ir.BlockStop(index=index))
            self._saw_calls = True
            return
        if sig:
            self._sign(sig, out)
        try:
            media = read_media(part, "part")
        except ProtocolError:  # a malformed media part is skipped, not fatal
            media = None
        if media is not None:
            self._close_open(out)
            index = self._take_index()
            out.append(ir.BlockStart(index=index, block=media))
            out.append(ir.BlockStop(index=index))

    # ------------------------------------------------------------------ blocks

    def _sign(self, sig: str, out: list[ir.StreamEvent]) -> None:
        """Signature for the open unsigned thinking block, else for a new empty one."""
        if self._open_kind != "thinking" or self._open_signed:
            self._start(ir.ThinkingBlock(text=""), "thinking", out)
        out.append(ir.BlockDelta(index=self._open, kind="signature", text=sig))
        self._open_signed = True

    def _start(self, block: ir.Block, kind: Literal["text", "thinking"], out: list[ir.StreamEvent]) -> None:
        self._close_open(out)
        self._open = self._take_index()
        self._open_kind = kind
        self._open_signed = False
        out.append(ir.BlockStart(index=self._open, block=block))

    def _take_index(self) -> int:
        index = self._next
        self._next += 1
        return index

    def _close_open(self, out: list[ir.StreamEvent]) -> None:
        if self._open >= 0:
            out.append(ir.BlockStop(index=self._open))
        self._open = -1
        self._open_kind = None
        self._open_signed = False


class _Call:
    __slots__ = ("id", "name", "args", "signature")

    def __init__(self, block: ir.ToolCallBlock) -> None:
        self.id = block.id
        self.name = block.name
        self.args = [block.arguments] if block.arguments else []
        self.signature = block.signature or ""


class GeminiStreamEncoder:
    """IR stream events -> Gemini chunks, SSE-framed (``sse=True``) or as a JSON array."""

    def __init__(self, *, model: str, sse: bool = True) -> None:
        self.content_type = "text/event-stream" if sse else "application/json"
        self._model = model
        self._sse = sse
        self._id = "gen-" + new_call_id()[5:]
        self._emitted = 0
        self._calls: dict[int, _Call] = {}
        self._signature = ""  # a thinking signature waiting for the next part
        self._usage: ir.Usage | None = None
        self._stop: ir.StopReason | None = None

    def encode(self, event: ir.StreamEvent) -> bytes:
        if isinstance(event, ir.BlockDelta):
            return self._delta(event)
        if isinstance(event, ir.BlockStart):
            return self._block_start(event)
        if isinstance(event, ir.BlockStop):
            call = self._calls.pop(event.index, None)
            return self._call_chunk(call) if call is not None else b""
        if isinstance(event, ir.MessageDelta):
            self._stop = event.stop_reason or self._stop
            self._usage = event.usage or self._usage
            return b""
        if isinstance(event, ir.StreamStart):
            self._id = event.id or self._id
            self._usage = event.usage or self._usage
            return b""
        if isinstance(event, ir.StreamEnd):
            out = b"".join(self._call_chunk(c) for c in self._calls.values())
            self._calls.clear()
            parts = self._flush_signature() or [{"text": ""}]
            return out + self._chunk(parts, finish=finish_from_stop(self._stop))
        _, obj = error_object(event.error)
        return self._frame(encode(obj))

    def close(self) -> bytes:
        if self._sse:
            return b""
        return b"]" if self._emitted else b"[]"

    # ------------------------------------------------------------------ events

    def _block_start(self, event: ir.BlockStart) -> bytes:
        block = event.block
        if isinstance(block, ir.ToolCallBlock):
            self._calls[event.index] = _Call(block)
            return b""
        if isinstance(block, ir.ThinkingBlock):
            out = self._chunk(self._flush_signature()) if self._signature else b""
            if block.text:
                out += self._chunk([{"text": block.text, "thought": True}])
            self._signature = block.signature or ""
            return out
        if isinstance(block, ir.TextBlock):
            return self._chunk([self._signed({"text": block.text})]) if block.text else b""
        if isinstance(block, ir.ImageBlock):
            return self._chunk([self._signed(media_part(block))])
        return b""

    def _delta(self, event: ir.BlockDelta) -> bytes:
        if event.kind == "arguments":
            call = self._calls.get(event.index)
            if call is not None:
                call.args.append(event.text)
            return b""
        if event.kind == "signature":
            call = self._calls.get(event.index)
            if call is not None:
                call.signature += event.text
            else:
                self._signature += event.text
            return b""
        if not event.text:
            return b""
        if event.kind == "thinking":
            return self._chunk([*self._flush_signature(), {"text": event.text, "thought": True}])
        return self._chunk([self._signed({"text": event.text})])

    def _call_chunk(self, call: _Call) -> bytes:
        part: dict[str, Any] = {"functionCall": {"id": call.id, "name": call.name,
                                                 "args": arguments_object("".join(call.args))}}
        if call.signature:
            part["thoughtSignature"] = call.signature
        return self._chunk([*self._flush_signature(), part])

    # ------------------------------------------------------------------ chunks

    def _signed(self, part: dict[str, Any]) -> dict[str, Any]:
        if self._signature:
            part["thoughtSignature"] = self._signature
            self._signature = ""
        return part

    def _flush_signature(self) -> list[dict[str, Any]]:
        if not self._signature:
            return []
        part = {"text": "", "thought": True, "thoughtSignature": self._signature}
        self._signature = ""
        return [part]

    def _chunk(self, parts: list[dict[str, Any]], finish: str | None = None) -> bytes:
        candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}}
        if finish:
            candidate["finishReason"] = finish
        candidate["index"] = 0
        body: dict[str, Any] = {"candidates": [candidate]}
        if self._usage is not None:
            body["usageMetadata"] = usage_to_object(self._usage)
        body["modelVersion"] = self._model
        body["responseId"] = self._id
        return self._frame(encode(body))

    def _frame(self, data: bytes) -> bytes:
        self._emitted += 1
        if self._sse:
            return b"data: " + data + b"\r\n\r\n"
        return (b"[" if self._emitted == 1 else b",\r\n") + data


class GeminiUsageSniffer:
    """Reads a passed-through Gemini SSE stream for billing: last usage wins (it is cumulative)."""

    markers = None  # every chunk carries usage

    def __init__(self) -> None:
        self.usage: ir.Usage | None = None
        self.error: ir.Error | None = None
        self.finished = False

    def feed(self, event: SSEEvent) -> None:
        if not event.data:
            return
        try:
            chunk = chunk_decoder.decode(event.data)
        except msgspec.MsgspecError:
            return
        if chunk.error is not None:
            self.error = error_from_object(chunk.error, 0)
            return
        if chunk.usage_metadata is not None:
            self.usage = to_ir(chunk.usage_metadata)
        if chunk.finish_reason or chunk.blocked:
            self.finished = True
