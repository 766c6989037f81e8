"""The Anthropic Messages (``/v1/messages``) wire protocol: the ``codec`` object.

See the module docstrings of :mod:`.request_parse`, :mod:`.request_emit`, :mod:`.errors` and
:mod:`.stream_encoder` for the conversion decisions.
"""

from __future__ import annotations

from app.relay.protocols import ir
from app.relay.protocols.anthropic.errors import emit_error, emit_stream_error, parse_error
from app.relay.protocols.anthropic.request_emit import DEFAULT_MAX_TOKENS, emit_request
from app.relay.protocols.anthropic.request_parse import parse_request
from app.relay.protocols.anthropic.response import emit_response, parse_response
from app.relay.protocols.anthropic.stream_decoder import AnthropicStreamDecoder
from app.relay.protocols.anthropic.stream_encoder import AnthropicStreamEncoder
from app.relay.protocols.anthropic.usage import AnthropicUsageSniffer, parse_usage


class AnthropicCodec:
    """Implements :class:`app.relay.protocols.base.Codec` for Anthropic Messages."""

    name = "anthropic"

    def parse_request(self, body: bytes, *, model: str | None = None,
                      stream: bool | None = None) -> ir.Request:
        return parse_request(body, model=model, stream=stream)

    def emit_request(self, request: ir.Request, *, model: str) -> bytes:
        return emit_request(request, model=model)

    def parse_response(self, body: bytes) -> ir.Response:
        return parse_response(body)

    def emit_response(self, response: ir.Response, *, model: str) -> bytes:
        return emit_response(response, model=model)

    def parse_usage(self, body: bytes) -> ir.Usage | None:
        return parse_usage(body)

    def stream_decoder(self) -> AnthropicStreamDecoder:
        return AnthropicStreamDecoder()

    def stream_encoder(self, *, model: str, include_usage: bool = True,
                       sse: bool = True) -> AnthropicStreamEncoder:
        # include_usage (OpenAI) and sse (Gemini) do not apply: Anthropic always reports usage
        # and always streams SSE.
        return AnthropicStreamEncoder(model=model)

    def usage_sniffer(self) -> AnthropicUsageSniffer:
        return AnthropicUsageSniffer()

    def parse_error(self, status: int, body: bytes) -> ir.Error:
        return parse_error(status, body)

    def emit_error(self, error: ir.Error) -> tuple[int, bytes]:
        return emit_error(error)

    def emit_stream_error(self, error: ir.Error) -> bytes:
        return emit_stream_error(error)


codec = AnthropicCodec()

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "AnthropicCodec",
    "AnthropicStreamDecoder",
    "AnthropicStreamEncoder",
    "AnthropicUsageSniffer",
    "codec",
]
