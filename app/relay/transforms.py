"""Stream transforms: upstream bytes in, client bytes out, usage noted on the way.

* :class:`PassthroughTransform` — same protocol: chunks are forwarded as they come; events are
  re-encoded only when something must change (model rewrite, dropping OpenAI's usage chunk for
  clients that did not ask for it).
* :class:`GeminiArrayTransform` — Gemini upstream SSE to a Gemini client that wants Google's
  JSON-array stream: each event's JSON is copied unchanged into the array.
* :class:`ConvertTransform` — different protocols: upstream events -> IR -> client events.
"""

from __future__ import annotations

from collections.abc import Callable

from app.relay.passthrough import is_usage_only_chunk, rewrite_every_model, rewrite_first_model
from app.relay.protocols import ir
from app.relay.protocols.base import Codec, UsageSniffer
from app.relay.protocols.sse import SSEDecoder, SSEEvent, encode_event, ends_an_event


def _interrupted(reason: str) -> ir.Error:
    return ir.Error(kind="api_error", status=502, message=f"The upstream stream was interrupted: {reason}")


def _delta_text(events: list[ir.StreamEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, ir.BlockDelta) and e.kind != "signature")


#: Bytes of a passed-through stream kept as they came before they are decoded down to their text.
RAW_KEEP = 16 * 1024


class _GeneratedText:
    """What a passed-through stream generated, for billing one that breaks before reporting its
    usage. The wire is kept as it came (decoding is wasted on the streams that end normally) but
    only up to :data:`RAW_KEEP` bytes at a time: beyond, it is decoded to its text, which is a
    small part of the wire, so a thousand long streams hold their text, not their JSON."""

    def __init__(self, codec: Codec | None) -> None:
        self._decoder = codec.stream_decoder() if codec is not None else None
        self._sse = SSEDecoder()
        self._raw: list[bytes] = []
        self._size = 0
        self._text: list[str] = []

    def add(self, chunk: bytes) -> None:
        if self._decoder is None:
            return  # a stream whose text we cannot read: nothing to keep
        self._raw.append(chunk)
        self._size += len(chunk)
        if self._size >= RAW_KEEP:
            self._decode(self._sse.feed(b"".join(self._raw)))

    def _decode(self, events: list[SSEEvent]) -> None:
        assert self._decoder is not None
        decoded: list[ir.StreamEvent] = []
        for event in events:
            decoded += self._decoder.feed(event)
        self._text.append(_delta_text(decoded))
        self._raw.clear()
        self._size = 0

    def text(self) -> str:
        """The text so far (the stream has ended)."""
        if self._decoder is not None and self._raw:
            self._decode(self._sse.feed(b"".join(self._raw)) + self._sse.close())
        return "".join(self._text)


class PassthroughTransform:
    """``codec``: the protocol's codec when its stream decoder understands this stream (chat);
    None for streams only passed through (responses, completions)."""

    def __init__(self, sniffer: UsageSniffer, emit_stream_error: Callable[[ir.Error], bytes], *,
                 public_model: str | None, strip_usage_chunk: bool, codec: Codec | None = None) -> None:
        self._generated = _GeneratedText(codec)
        self._emit_error = emit_stream_error
        self._sse = SSEDecoder()
        self._sniffer = sniffer
        self._model = public_model  # rewrite the model field to this, when set
        self._strip_usage = strip_usage_chunk
        self._reencode = public_model is not None or strip_usage_chunk

    @property
    def usage(self) -> ir.Usage | None:
        return self._sniffer.usage

    @property
    def completed(self) -> bool:
        return self._sniffer.finished and self._sniffer.error is None

    @property
    def error(self) -> ir.Error | None:
        return self._sniffer.error

    def generated_text(self) -> str:
        return self._generated.text()

    def feed(self, chunk: bytes) -> bytes:
        self._generated.add(chunk)
        # Whole events the sniffer has no use for and nothing to drop (the common chunk of a long
        # stream, the start of a short one read at once) cost a few substring searches, not an
        # SSE decode; the rest is decoded.
        head = b""
        if fast := self._ignorable_prefix(chunk):
            head = chunk[:fast] if self._model is None else rewrite_every_model(chunk[:fast], self._model)
            chunk = chunk[fast:]
            if not chunk:
                return head
        events = self._sse.feed(chunk)
        for event in events:
            self._sniffer.feed(event)
        if not self._reencode:
            return head + chunk
        return head + b"".join(self._encode(e) for e in events)

    def _ignorable_prefix(self, chunk: bytes) -> int:
        """Length of the longest prefix of ``chunk`` made of whole events without any of the
        sniffer's markers (and, when usage chunks are dropped, without one); 0 if none."""
        markers = self._sniffer.markers
        if markers is None or not self._sse.idle:
            return 0
        if self._strip_usage:
            markers = (*markers, b'"choices":[]')
        first = min((i for i in map(chunk.find, markers) if i >= 0), default=-1)
        if first < 0 and ends_an_event(chunk):
            return len(chunk)
        boundary = chunk.rfind(b"\n\n", 0, first if first >= 0 else len(chunk))
        return boundary + 2 if boundary >= 0 else 0

    def _encode(self, event: SSEEvent) -> bytes:
        data = event.data
        if self._strip_usage and is_usage_only_chunk(data):
            return b""
        if self._model is not None and b'"model"' in data:
            data = rewrite_first_model(data, self._model)
        return encode_event(data, event.event)

    def finish(self) -> bytes:
        out = b""
        for event in self._sse.close():
            self._sniffer.feed(event)
            if self._reencode:
                out += self._encode(event)
        if not self._sniffer.finished and self._sniffer.error is None:
            out += self._emit_error(_interrupted("it ended before completing"))
        return out

    def fail(self, reason: str) -> bytes:
        return self._emit_error(_interrupted(reason))


class GeminiArrayTransform:
    def __init__(self, codec: Codec) -> None:
        self._codec = codec
        self._generated = _GeneratedText(codec)
        self._sse = SSEDecoder()
        self._sniffer = codec.usage_sniffer()
        self._started = False

    @property
    def usage(self) -> ir.Usage | None:
        return self._sniffer.usage

    @property
    def completed(self) -> bool:
        return self._sniffer.finished and self._sniffer.error is None

    @property
    def error(self) -> ir.Error | None:
        return self._sniffer.error

    def _element(self, data: bytes) -> bytes:
        prefix = b",\r\n" if self._started else b"["
        self._started = True
        return prefix + data

    def generated_text(self) -> str:
        return self._generated.text()

    def feed(self, chunk: bytes) -> bytes:
        self._generated.add(chunk)
        out = []
        for event in self._sse.feed(chunk):
            self._sniffer.feed(event)
            out.append(self._element(event.data))
        return b"".join(out)

    def finish(self) -> bytes:
        out = []
        for event in self._sse.close():
            self._sniffer.feed(event)
            out.append(self._element(event.data))
        if not self._sniffer.finished and self._sniffer.error is None:
            out.append(self._error_element(_interrupted("it ended before completing")))
        out.append(b"]" if self._started else b"[]")
        return b"".join(out)

    def _error_element(self, error: ir.Error) -> bytes:
        _status, body = self._codec.emit_error(error)
        return self._element(body)

    def fail(self, reason: str) -> bytes:
        return self._error_element(_interrupted(reason)) + b"]"


class ConvertTransform:
    def __init__(self, upstream: Codec, client: Codec, *, public_model: str, include_usage: bool,
                 sse: bool) -> None:
        self._sse = SSEDecoder()
        self._decoder = upstream.stream_decoder()
        self._encoder = client.stream_encoder(model=public_model, include_usage=include_usage, sse=sse)
        self.usage: ir.Usage | None = None
        self.completed = False
        self.error: ir.Error | None = None
        self._closed = False
        self._text: list[str] = []

    def generated_text(self) -> str:
        return "".join(self._text)

    def _emit(self, events: list[ir.StreamEvent]) -> bytes:
        out = []
        for ev in events:
            if isinstance(ev, ir.BlockDelta) and ev.kind != "signature":
                self._text.append(ev.text)
            if isinstance(ev, ir.MessageDelta) and ev.usage is not None:
                self.usage = ev.usage
            elif isinstance(ev, ir.StreamStart) and ev.usage is not None and self.usage is None:
                self.usage = ev.usage
            elif isinstance(ev, ir.StreamEnd):
                self.completed = True
            elif isinstance(ev, ir.StreamError):
                self.error = ev.error
            out.append(self._encoder.encode(ev))
        return b"".join(out)

    def feed(self, chunk: bytes) -> bytes:
        return b"".join(self._emit(self._decoder.feed(e)) for e in self._sse.feed(chunk))

    def finish(self) -> bytes:
        out = b"".join(self._emit(self._decoder.feed(e)) for e in self._sse.close())
        out += self._emit(self._decoder.close())
        if not self.completed and self.error is None:
            out += self._emit([ir.StreamError(error=_interrupted("it ended before completing"))])
        return out + self._close()

    def fail(self, reason: str) -> bytes:
        return self._emit([ir.StreamError(error=_interrupted(reason))]) + self._close()

    def _close(self) -> bytes:
        if self._closed:
            return b""
        self._closed = True
        return self._encoder.close()
