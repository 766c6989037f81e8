"""The OpenAI Responses API (``/v1/responses``) is passed through to OpenAI-type upstreams only;
the relay reads its usage for billing and knows how its streams end and fail."""

from __future__ import annotations

from typing import Any

import msgspec

from app.relay.protocols import ir
from app.relay.protocols.sse import SSEEvent, encode_event

#: Events that end a Responses stream (the API sends no [DONE]).
TERMINAL_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})


def usage_from(doc: Any) -> ir.Usage | None:
    """``{"input_tokens", "input_tokens_details": {"cached_tokens"}, "output_tokens",
    "output_tokens_details": {"reasoning_tokens"}}`` -> IR (input excludes cached)."""
    if not isinstance(doc, dict):
        return None
    cached = (doc.get("input_tokens_details") or {}).get("cached_tokens") or 0
    reasoning = (doc.get("output_tokens_details") or {}).get("reasoning_tokens") or 0
    return ir.Usage(input_tokens=max((doc.get("input_tokens") or 0) - cached, 0), cache_read_tokens=cached,
                    output_tokens=doc.get("output_tokens") or 0, reasoning_tokens=reasoning)


def parse_usage(body: bytes) -> ir.Usage | None:
    try:
        doc = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return None
    return usage_from(doc.get("usage")) if isinstance(doc, dict) else None


class ResponsesUsageSniffer:
    """Reads usage from the terminal ``response.*`` event; ``error`` events end the stream too."""

    markers = None

    def __init__(self) -> None:
        self.usage: ir.Usage | None = None
        self.error: ir.Error | None = None
        self.finished = False

    def feed(self, event: SSEEvent) -> None:
        name = event.event
        if name in TERMINAL_EVENTS:
            self.finished = True
            doc = msgspec.json.decode(event.data)
            self.usage = usage_from((doc.get("response") or {}).get("usage"))
            if name == "response.failed":
                err = (doc.get("response") or {}).get("error") or {}
                self.error = ir.Error(kind="api_error", status=500, message=str(err.get("message") or "failed"))
        elif name == "error":
            doc = msgspec.json.decode(event.data)
            self.error = ir.Error(kind="api_error", status=500, message=str(doc.get("message") or "error"))


def emit_stream_error(error: ir.Error) -> bytes:
    payload = {"type": "error", "code": error.code or error.kind, "message": error.message, "param": error.param}
    return encode_event(msgspec.json.encode(payload), "error")
