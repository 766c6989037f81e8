"""One HTTP/1.1 client connection: an asyncio Protocol driving the httptools response parser.

A connection carries one exchange at a time (no pipelining). Body bytes are buffered as they
arrive and handed over by ``read``, all that is waiting at once; the socket stops being read
while the reader is more than ``HIGH_WATER`` bytes behind, so a slow reader slows the upstream
down instead of filling memory.

Timeouts cost one loop timer per connection, moved lazily: waiting sets a new expiry, and the
timer is only re-armed when it fires before it (or when the new expiry is earlier). A read that
finds data waiting, the usual case in a stream, touches no timer and no context manager.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httptools

from app.relay.upstream.errors import UpstreamBroken, UpstreamReadTimeout

#: Buffered body bytes past which the socket is paused until the reader catches up.
HIGH_WATER = 256 * 1024
#: Timers may fire a little early (uvloop counts in milliseconds): this close counts as expired.
TIMER_SLACK = 0.001


class NoAnswer(Exception):
    """The connection ended before any byte of the response: the server never answered, so a
    request sent on a reused keep-alive connection may be sent again on a fresh one."""


class Http1Connection(asyncio.Protocol):
    """A client connection. ``on_idle`` takes it back once a response arrived in full on a
    keep-alive connection; ``on_lost`` is told when the socket is gone."""

    def __init__(self, origin: tuple[str, str, int], on_idle: Callable[[Http1Connection], None],
                 on_lost: Callable[[Http1Connection], None]) -> None:
        self.origin = origin
        self.idle_since = 0.0
        self._on_idle = on_idle
        self._on_lost = on_lost
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._busy = False
        self._paused = False
        self._waiter: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._until = 0.0
        self._reset()

    def _reset(self) -> None:
        """State of one exchange."""
        self.status = 0
        self.headers: dict[str, str] = {}
        self._answered = False  # any response byte arrived
        self._informational = False  # inside a 1xx response, which precedes the real one
        self._head_done = False
        self._complete = False  # the whole response arrived
        self._keep_alive = False
        self._chunks: list[bytes] = []
        self._buffered = 0
        self._error: Exception | None = None

    # ------------------------------------------------------------------ state

    @property
    def closed(self) -> bool:
        return self._transport is None or self._transport.is_closing()

    @property
    def complete(self) -> bool:
        """The whole response has arrived (it may not have been read yet)."""
        return self._complete

    # ------------------------------------------------------------------ the exchange

    async def request(self, data: bytes, until: float) -> None:
        """Send a whole request and wait for the response head. Raises NoAnswer,
        UpstreamReadTimeout (nothing before ``until``) or UpstreamBroken."""
        transport = self._transport
        if transport is None or transport.is_closing():
            raise NoAnswer("connection already closed")
        self._reset()
        self._busy = True
        transport.write(data)
        while not self._head_done:
            if self._error is not None:
                raise self._error
            await self._wait(until)

    async def read(self, until: float) -> bytes:
        """Body bytes received so far, waiting until ``until`` for some; b"" at the end."""
        while not self._chunks and not self._complete and self._error is None:
            await self._wait(until)
        chunks = self._chunks
        if chunks:
            data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
            chunks.clear()
            self._buffered = 0
            if self._paused and self._transport is not None:
                self._paused = False
                self._transport.resume_reading()
            return data
        if self._error is not None:
            raise self._error
        return b""

    def release(self) -> None:
        """The exchange is over: back to the pool when the response arrived in full on a
        keep-alive connection, closed otherwise."""
        if self._complete and self._keep_alive and not self.closed:
            self._busy = False
            self._chunks.clear()
            self._cancel_timer()
            if self._paused:  # the response was left unread: the next one must be heard
                self._paused = False
                self._transport.resume_reading()  # type: ignore[union-attr]
            self._on_idle(self)
        elif self._complete:
            self.shut()
        else:
            self.close()

    def close(self) -> None:
        """Drop the connection (at once: no TLS goodbye for a server that may not answer)."""
        self._cancel_timer()
        if self._transport is not None:
            self._transport.abort()

    def shut(self) -> None:
        """Close an idle connection politely."""
        self._cancel_timer()
        if self._transport is not None:
            self._transport.close()

    # ------------------------------------------------------------------ waiting

    async def _wait(self, until: float) -> None:
        self._until = until
        if self._timer is None or self._timer_at > until:
            self._cancel_timer()
            self._timer_at = until
            self._timer = self._loop.call_at(until, self._on_timer)
        waiter = self._waiter = self._loop.create_future()
        try:
            await waiter
        finally:
            self._waiter = None

    def _on_timer(self) -> None:
        self._timer = None
        waiter = self._waiter
        if waiter is None or waiter.done():
            return  # nobody is waiting: the next wait arms a timer of its own
        if self._loop.time() + TIMER_SLACK >= self._until:
            waiter.set_exception(UpstreamReadTimeout("no data from the upstream before the timeout"))
        else:  # data came in since this timer was set, and the reader waits again
            self._timer_at = self._until
            self._timer = self._loop.call_at(self._until, self._on_timer)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail(self, error: Exception) -> None:
        if self._error is None and not self._complete:
            self._error = error
        self._wake()

    # ------------------------------------------------------------------ asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if not self._busy or self._complete:
            # Bytes nobody asked for (after a response, or while idle): the stream is out of step.
            self.close()
            return
        self._answered = True
        try:
            self._parser.feed_data(data)  # the callbacks below only record; the reader is woken once
        except httptools.HttpParserUpgrade:
            self._fail(UpstreamBroken("the upstream switched protocols"))
            self.close()
        except httptools.HttpParserError as exc:
            self._fail(UpstreamBroken(f"invalid HTTP response: {exc}"))
            self.close()
        else:
            self._wake()

    def eof_received(self) -> bool | None:
        return None  # close our side too; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._cancel_timer()
        self._on_lost(self)
        if not self._busy or self._complete:
            return
        if self._head_done and self._delimited_by_close():
            self._complete = True  # the server's close is the body's end (HTTP/1.0 style)
            self._wake()
        elif not self._answered:
            self._fail(NoAnswer(f"closed without an answer ({type(exc).__name__ if exc else 'EOF'})"))
        else:
            self._fail(UpstreamBroken("connection lost before the end of the response"))

    def pause_writing(self) -> None:
        pass  # requests are written whole; the transport buffers them

    def resume_writing(self) -> None:
        pass

    def _delimited_by_close(self) -> bool:
        return "content-length" not in self.headers and "chunked" not in self.headers.get("transfer-encoding", "")

    # ------------------------------------------------------------------ httptools callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        previous = self.headers.get(key)
        self.headers[key] = text if previous is None else f"{previous}, {text}"

    def on_headers_complete(self) -> None:
        if self._complete:
            self._keep_alive = False  # a second response nobody asked for: never reuse this connection
            return
        status = self._parser.get_status_code()
        if 100 <= status < 200:
            self._informational = True  # "100 Continue" and friends: the real head follows
            self.headers = {}
            return
        self.status = status
        self._head_done = True

    def on_body(self, body: bytes) -> None:
        if self._complete:
            return  # bytes after the response (see on_headers_complete)
        self._chunks.append(body)
        self._buffered += len(body)
        if self._buffered > HIGH_WATER and not self._paused and self._transport is not None:
            self._paused = True
            self._transport.pause_reading()

    def on_message_complete(self) -> None:
        if self._complete:
            return
        if self._informational:
            self._informational = False
            return
        self._complete = True
        self._keep_alive = self._parser.should_keep_alive()


class Http1Exchange:
    """One response on an :class:`Http1Connection`; gives the connection back as soon as its
    body has been read to the end, so the next request can use it."""

    __slots__ = ("status", "headers", "_conn")

    def __init__(self, conn: Http1Connection) -> None:
        self.status = conn.status
        self.headers = conn.headers
        self._conn: Http1Connection | None = conn

    async def read(self, until: float) -> bytes:
        conn = self._conn
        if conn is None:
            return b""
        data = await conn.read(until)
        if conn.complete:  # read() hands over everything buffered: nothing is left on the connection
            self._conn = None
            conn.release()
        return data

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.release()
