"""The upstream HTTP client: one seam for I/O.

Everything the relay sends upstream goes through :class:`UpstreamClient`, which picks a
:class:`~app.relay.upstream.transport.Transport` by the URL's scheme: ``http``/``https`` go to the
network (our own HTTP/1.1 client on asyncio and httptools, chosen by measurement over httpx and
aiohttp: see bench/README.md), ``demo`` to the built-in demo channel. The network transport is
injectable, so tests can replay recorded responses without sockets.

Timeouts per channel: connect; first byte (response headers and, for streams, the first body
chunk); idle (between chunks); total (the whole exchange). Failing before the first byte raises
:class:`UpstreamUnavailable` (the relay fails over); reading the body afterwards raises
``UpstreamReadTimeout`` (idle), ``TimeoutError`` (total) or ``UpstreamBroken`` (connection lost).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

from app.relay.upstream.demo import DemoTransport
from app.relay.upstream.errors import BeforeFirstByte, UpstreamReadTimeout, UpstreamUnavailable
from app.relay.upstream.network import NetworkTransport
from app.relay.upstream.proxy import Proxy
from app.relay.upstream.transport import Exchange, Transport


@dataclass(slots=True)
class Timeouts:
    connect: float
    first_byte: float
    idle: float
    total: float


class UpstreamReply:
    """An upstream response whose headers (and, for streams, first chunk) have arrived."""

    __slots__ = ("status", "headers", "_exchange", "_first", "_deadline", "_idle", "_loop")

    def __init__(self, exchange: Exchange, first: bytes, deadline: float, idle: float) -> None:
        self.status = exchange.status
        #: Lowercased names.
        self.headers: Mapping[str, str] = exchange.headers
        self._exchange = exchange
        self._first = first
        self._deadline = deadline
        self._idle = idle
        self._loop = asyncio.get_running_loop()

    @property
    def first_chunk(self) -> bytes:
        """The body bytes read while waiting for the first byte (streams), not yet consumed."""
        return self._first

    async def body(self) -> bytes:
        """The whole body (non-streamed responses, errors), bounded by the idle and total timeouts."""
        parts = [self._first] if self._first else []
        async for chunk in self.iter_chunks(include_first=False):
            parts.append(chunk)
        return b"".join(parts)

    async def iter_chunks(self, include_first: bool = True) -> AsyncIterator[bytes]:
        """Body bytes as they arrive. Raises UpstreamReadTimeout after ``idle`` seconds of silence,
        TimeoutError past the total deadline, UpstreamBroken if the connection breaks."""
        if include_first and self._first:
            first, self._first = self._first, b""
            yield first
        exchange, loop, idle, deadline = self._exchange, self._loop, self._idle, self._deadline
        while True:
            now = loop.time()
            if now >= deadline:
                raise TimeoutError("upstream exceeded its total timeout")
            until = now + idle
            try:
                chunk = await exchange.read(until if until < deadline else deadline)
            except UpstreamReadTimeout:
                if until >= deadline:
                    raise TimeoutError("upstream exceeded its total timeout") from None
                raise
            if not chunk:
                return
            yield chunk

    async def aclose(self) -> None:
        """Release the connection: kept for reuse if the body was read to its end, else closed."""
        self._exchange.close()


class UpstreamClient:
    """``transport`` replaces the network for ``http(s)://`` URLs (tests); ``ssl_context`` replaces
    the default trust (system CAs plus certifi's)."""

    def __init__(self, transport: Transport | None = None, *, ssl_context: ssl.SSLContext | None = None,
                 proxy: Proxy | None = None) -> None:
        network = transport or NetworkTransport(ssl_context, proxy=proxy)
        self._transports: dict[str, Transport] = {"http": network, "https": network, "demo": DemoTransport()}

    async def aclose(self) -> None:
        for transport in set(self._transports.values()):
            await transport.aclose()

    async def send(self, url: str, headers: Mapping[str, str], body: bytes, timeouts: Timeouts, *,
                   stream: bool) -> UpstreamReply:
        """POST ``body`` and wait for the first byte. For streams, that is the first body chunk
        (a stream that sends headers and then stalls has not really started)."""
        scheme = url[:url.find(":")].lower()
        transport = self._transports.get(scheme)
        if transport is None:
            raise UpstreamUnavailable(f"connection failed: unsupported URL scheme {scheme!r}")
        loop = asyncio.get_running_loop()
        start = loop.time()
        deadline = start + timeouts.total
        first_by = min(start + timeouts.first_byte, deadline)
        exchange = await transport.open(url, headers, body, connect_timeout=timeouts.connect, until=first_by)
        first = b""
        if stream and exchange.status < 400:
            with BeforeFirstByte(exchange):
                first = await exchange.read(first_by)
        return UpstreamReply(exchange, first, deadline, timeouts.idle)
