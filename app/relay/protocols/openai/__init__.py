"""The OpenAI Chat Completions codec (``/v1/chat/completions``), exported as ``codec``.

Also used for every OpenAI-compatible upstream (Azure OpenAI, DeepSeek, Qwen, vLLM, Groq...),
so parsing is lenient about their extensions (``reasoning_content``, cache-hit counters).
"""

from __future__ import annotations

from app.relay.protocols import ir
from app.relay.protocols.openai import errors, request, response, usage
from app.relay.protocols.openai.stream import OpenAIStreamDecoder, OpenAIStreamEncoder, OpenAIUsageSniffer

__all__ = ["OpenAICodec", "OpenAIStreamDecoder", "OpenAIStreamEncoder", "OpenAIUsageSniffer", "codec"]


class OpenAICodec:
    """Satisfies :class:`app.relay.protocols.base.Codec` for OpenAI Chat Completions."""

    name = "openai"

    def parse_request(self, body: bytes, *, model: str | None = None, stream: bool | None = None) -> ir.Request:
        """Client body -> IR; raises ProtocolError with ``param`` naming the bad field."""
        return request.parse_request(body, model=model, stream=stream)

    def emit_request(self, request_: ir.Request, *, model: str) -> bytes:
        """IR -> upstream body; streaming requests always ask for the usage chunk."""
        return request.emit_request(request_, model=model)

    def parse_response(self, body: bytes) -> ir.Response:
        """Upstream chat completion -> IR (raises ProtocolError, status 502, on garbage)."""
        return response.parse_response(body)

    def emit_response(self, response_: ir.Response, *, model: str) -> bytes:
        """IR -> ``chat.completion`` body naming ``model``."""
        return response.emit_response(response_, model=model)

    def parse_usage(self, body: bytes) -> ir.Usage | None:
        """Usage of a whole response body, decoding nothing but the usage object."""
        return usage.parse_usage(body)

    def stream_decoder(self) -> OpenAIStreamDecoder:
        """A fresh decoder for one upstream stream."""
        return OpenAIStreamDecoder()

    def stream_encoder(self, *, model: str, include_usage: bool = True, sse: bool = True) -> OpenAIStreamEncoder:
        """A fresh encoder for one client stream (``sse`` is Gemini's concern and ignored)."""
        return OpenAIStreamEncoder(model=model, include_usage=include_usage)

    def usage_sniffer(self) -> OpenAIUsageSniffer:
        """A fresh sniffer for one passed-through stream."""
        return OpenAIUsageSniffer()

    def parse_error(self, status: int, body: bytes) -> ir.Error:
        """Any upstream error body -> IR error."""
        return errors.parse_error(status, body)

    def emit_error(self, error: ir.Error) -> tuple[int, bytes]:
        """IR error -> (status, OpenAI error body)."""
        return errors.emit_error(error)

    def emit_stream_error(self, error: ir.Error) -> bytes:
        """IR error -> ``data: {"error": ...}`` SSE event."""
        return errors.emit_stream_error(error)


codec = OpenAICodec()
