"""Server-sent events framing: an incremental decoder and a tiny encoder.

Providers differ in framing (Gemini separates events with CRLF CRLF, Anthropic pads JSON with
spaces, OpenAI ends with ``data: [DONE]``); the decoder accepts LF, CRLF and CR line endings per
the WHATWG spec, so protocol modules only ever see whole events.
"""

from __future__ import annotations

from typing import NamedTuple


class SSEEvent(NamedTuple):
    event: str | None  # the "event:" field, None when absent
    data: bytes  # "data:" lines joined with b"\n" (no trailing newline)


class SSEDecoder:
    """Feed raw bytes in any chunking; get complete events back."""

    __slots__ = ("_buf", "_event", "_data")

    def __init__(self) -> None:
        self._buf = b""
        self._event: str | None = None
        self._data: list[bytes] = []

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        buf = self._buf + chunk if self._buf else chunk
        out: list[SSEEvent] = []
        start = 0
        n = len(buf)
        while start < n:
            nl = buf.find(b"\n", start)
            cr = buf.find(b"\r", start, nl if nl != -1 else n)
            if cr != -1:
                end = cr
                # A CR at the very end may be the first half of CRLF: wait for more bytes.
                if cr + 1 >= n:
                    break
                nxt = cr + 2 if buf[cr + 1 : cr + 2] == b"\n" else cr + 1
            elif nl != -1:
                end, nxt = nl, nl + 1
            else:
                break
            self._line(buf[start:end], out)
            start = nxt
        self._buf = buf[start:]
        return out

    @property
    def idle(self) -> bool:
        """Between events: nothing buffered, no event half-read."""
        return not self._buf and not self._data and self._event is None

    def close(self) -> list[SSEEvent]:
        """End of input: dispatch a final event that lacked its blank line (lenient)."""
        out: list[SSEEvent] = []
        if self._buf:
            self._line(self._buf.rstrip(b"\r"), out)
            self._buf = b""
        self._line(b"", out)
        return out

    def _line(self, line: bytes, out: list[SSEEvent]) -> None:
        if not line:
            if self._data:
                out.append(SSEEvent(self._event, b"\n".join(self._data)))
            self._event = None
            self._data = []
            return
        if line[:1] == b":":
            return
        name, sep, value = line.partition(b":")
        if sep and value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            self._data.append(value)
        elif name == b"event":
            self._event = value.decode("utf-8", "replace")


def ends_an_event(chunk: bytes) -> bool:
    """Whether ``chunk`` ends with an event's blank line (fed to an idle decoder, it leaves it idle)."""
    return chunk.endswith((b"\n\n", b"\r\n\r\n", b"\r\r"))


def encode_event(data: bytes, event: str | None = None) -> bytes:
    """One SSE event with LF framing (what OpenAI and Anthropic send)."""
    if event is None:
        return b"data: " + data + b"\n\n"
    return b"event: " + event.encode() + b"\ndata: " + data + b"\n\n"
