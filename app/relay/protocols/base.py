"""What every wire-protocol module (openai, anthropic, gemini) provides.

A protocol module exposes one object named ``codec`` that satisfies :class:`Codec`. The relay
uses it in two roles:

* inbound (the client's protocol): ``parse_request`` the client's body, ``emit_response`` /
  ``stream_encoder`` / ``emit_error`` back to the client;
* upstream (the channel's protocol): ``emit_request`` for the provider, ``parse_response`` /
  ``stream_decoder`` / ``parse_error`` on what it returns.

When inbound and upstream protocols are the same, the body is passed through untouched and only
``usage_sniffer`` (streams) or ``parse_usage`` (whole bodies) read it for billing.
"""

from __future__ import annotations

from typing import Protocol

from app.relay.protocols import ir
from app.relay.protocols.sse import SSEEvent


class ProtocolError(Exception):
    """The client's request is malformed; carries the error to emit in the client's protocol."""

    def __init__(self, message: str, *, param: str | None = None, status: int = 400,
                 kind: ir.ErrorKind = "invalid_request") -> None:
        super().__init__(message)
        self.error = ir.Error(kind=kind, message=message, status=status, param=param)


def kind_for_status(status: int) -> ir.ErrorKind:
    """The IR error kind an HTTP status stands for, before looking at the body (non-JSON or
    foreign-shaped error bodies from OpenAI-compatible and other upstreams)."""
    if status == 401:
        return "authentication"
    if status == 402:
        return "insufficient_quota"
    if status == 403:
        return "permission"
    if status == 404:
        return "not_found"
    if status == 413:
        return "request_too_large"
    if status == 429:
        return "rate_limit"
    if status in (408, 504):
        return "timeout"
    if status in (503, 529):
        return "overloaded"
    if status >= 500:
        return "api_error"
    return "invalid_request"


class StreamDecoder(Protocol):
    def feed(self, event: SSEEvent) -> list[ir.StreamEvent]:
        """One upstream SSE event -> zero or more IR events."""

    def close(self) -> list[ir.StreamEvent]:
        """Upstream body ended. Emits StreamEnd if the wire said it finished normally (or the
        protocol has no explicit terminator, like Gemini, and a finish reason was seen), else
        nothing (the caller decides what a truncated stream means)."""


class StreamEncoder(Protocol):
    content_type: str

    def encode(self, event: ir.StreamEvent) -> bytes:
        """One IR event -> bytes to write to the client (possibly b"" when buffered)."""

    def close(self) -> bytes:
        """Trailer after the last event (``data: [DONE]``, ``]``...), b"" when none."""


class UsageSniffer(Protocol):
    """Reads a passed-through stream for billing without changing it."""

    usage: ir.Usage | None  # latest cumulative usage seen, None if none yet
    error: ir.Error | None  # an in-stream error event, if one was seen
    finished: bool  # the wire's normal end was seen
    #: Byte strings at least one of which is in the raw SSE text of every event ``feed`` acts on,
    #: so that a run of whole events with none of them can be passed on without decoding; None
    #: when every event matters.
    markers: tuple[bytes, ...] | None

    def feed(self, event: SSEEvent) -> None: ...


class Codec(Protocol):
    name: str  # "openai" | "anthropic" | "gemini"

    def parse_request(self, body: bytes, *, model: str | None = None,
                      stream: bool | None = None) -> ir.Request:
        """Client body -> IR. Gemini passes ``model`` and ``stream`` from the URL.
        Raises ProtocolError naming the offending field on bad input."""

    def emit_request(self, request: ir.Request, *, model: str) -> bytes:
        """IR -> upstream body for ``model`` (Gemini: model and streaming live in the URL)."""

    def parse_response(self, body: bytes) -> ir.Response: ...

    def emit_response(self, response: ir.Response, *, model: str) -> bytes:
        """IR -> client body; ``model`` is the name the client asked for."""

    def parse_usage(self, body: bytes) -> ir.Usage | None:
        """Usage of a whole (non-streamed) response body, cheaply; None when absent."""

    def stream_decoder(self) -> StreamDecoder: ...

    def stream_encoder(self, *, model: str, include_usage: bool = True,
                       sse: bool = True) -> StreamEncoder:
        """``include_usage``: OpenAI only (client's stream_options.include_usage).
        ``sse``: Gemini only; False emits Google's JSON-array stream."""

    def usage_sniffer(self) -> UsageSniffer: ...

    def parse_error(self, status: int, body: bytes) -> ir.Error:
        """Upstream error body (any shape, even non-JSON) -> IR error."""

    def emit_error(self, error: ir.Error) -> tuple[int, bytes]:
        """IR error -> (HTTP status, body) in this protocol's shape."""

    def emit_stream_error(self, error: ir.Error) -> bytes:
        """An in-stream error event in this protocol's framing, for failures after the first
        byte reached the client."""
