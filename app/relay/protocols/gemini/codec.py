"""The Gemini ``Codec``: wires the request, response, stream and error modules together."""

from __future__ import annotations

from app.relay.protocols import ir
from app.relay.protocols.gemini import errors as _errors
from app.relay.protocols.gemini import request as _request
from app.relay.protocols.gemini import response as _response
from app.relay.protocols.gemini.stream import GeminiStreamDecoder, GeminiStreamEncoder, GeminiUsageSniffer


class GeminiCodec:
    """Google Gemini ``models/{model}:generateContent`` / ``:streamGenerateContent``."""

    name = "gemini"

    def parse_request(self, body: bytes, *, model: str | None = None,
                      stream: bool | None = None) -> ir.Request:
        return _request.parse_request(body, model=model, stream=stream)

    def emit_request(self, request: ir.Request, *, model: str) -> bytes:
        return _request.emit_request(request, model=model)

    def parse_response(self, body: bytes) -> ir.Response:
        return _response.parse_response(body)

    def emit_response(self, response: ir.Response, *, model: str) -> bytes:
        return _response.emit_response(response, model=model)

    def parse_usage(self, body: bytes) -> ir.Usage | None:
        return _response.parse_usage(body)

    def stream_decoder(self) -> GeminiStreamDecoder:
        return GeminiStreamDecoder()

    def stream_encoder(self, *, model: str, include_usage: bool = True,
                       sse: bool = True) -> GeminiStreamEncoder:
        """``include_usage`` is OpenAI's: Gemini chunks always carry usage once it is known."""
        return GeminiStreamEncoder(model=model, sse=sse)

    def usage_sniffer(self) -> GeminiUsageSniffer:
        return GeminiUsageSniffer()

    def parse_error(self, status: int, body: bytes) -> ir.Error:
        return _errors.parse_error(status, body)

    def emit_error(self, error: ir.Error) -> tuple[int, bytes]:
        return _errors.emit_error(error)

    def emit_stream_error(self, error: ir.Error) -> bytes:
        """SSE framing. A JSON-array stream reports errors through its encoder
        (``encode(StreamError(...))``), which knows where in the array it is."""
        return _errors.emit_stream_error(error)
