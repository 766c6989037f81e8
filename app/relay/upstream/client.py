"""The upstream HTTP client: one seam for I/O.

Everything the relay sends upstream goes through :class:`UpstreamClient`, which wraps an
``httpx.AsyncClient``. The transport is injectable (httpx's one-method transport interface), so
tests can run against recorded responses without sockets or against real local servers with them,
and the built-in demo channel is just another transport mounted on ``demo://``.

Timeouts per channel: connect; first byte (response headers and, for streams, the first body
chunk); idle (between chunks); total (the whole exchange).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx

from app.relay.upstream.demo import DemoTransport


class UpstreamUnavailable(Exception):
    """The upstream could not be reached or did not start answering in time (safe to fail over)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(slots=True)
class Timeouts:
    connect: float
    first_byte: float
    idle: float
    total: float


class UpstreamReply:
    """An upstream response whose headers (and, for streams, first chunk) have arrived."""

    __slots__ = ("status", "headers", "_response", "_chunks", "_first", "_deadline", "_idle")

    def __init__(self, response: httpx.Response, chunks: AsyncIterator[bytes], first: bytes,
                 deadline: float, idle: float) -> None:
        self.status = response.status_code
        self.headers = response.headers
        self._response = response
        self._chunks = chunks
        self._first = first
        self._deadline = deadline
        self._idle = idle

    @property
    def first_chunk(self) -> bytes:
        """The body chunk read while waiting for the first byte (streams), not yet consumed."""
        return self._first

    async def body(self) -> bytes:
        """The whole body (non-streamed responses, errors), bounded by the total timeout."""
        parts = [self._first] if self._first else []
        async for chunk in self.iter_chunks(include_first=False):
            parts.append(chunk)
        return b"".join(parts)

    async def iter_chunks(self, include_first: bool = True) -> AsyncIterator[bytes]:
        """Body chunks as they arrive. Raises httpx.ReadTimeout after ``idle`` seconds of silence,
        TimeoutError past the total deadline, httpx errors if the connection breaks."""
        if include_first and self._first:
            first, self._first = self._first, b""
            yield first
        while True:
            remaining = self._deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("upstream exceeded its total timeout")
            async with asyncio.timeout(min(remaining, self._idle)):
                try:
                    chunk = await anext(self._chunks)
                except StopAsyncIteration:
                    return
            if chunk:
                yield chunk

    async def aclose(self) -> None:
        await self._response.aclose()


class UpstreamClient:
    def __init__(self, transport: httpx.AsyncBaseTransport | None = None,
                 max_connections: int = 2000) -> None:
        self._client = httpx.AsyncClient(
            transport=transport,
            mounts={"demo://": DemoTransport()},
            timeout=None,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=500),
            follow_redirects=False,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def send(self, url: str, headers: dict[str, str], body: bytes, timeouts: Timeouts, *,
                   stream: bool) -> UpstreamReply:
        """POST ``body`` and wait for the first byte. For streams, that is the first body chunk
        (a stream that sends headers and then stalls has not really started)."""
        start = time.monotonic()
        deadline = start + timeouts.total
        request = self._client.build_request(
            "POST", url, content=body, headers=headers,
            timeout=httpx.Timeout(connect=timeouts.connect, read=timeouts.idle, write=timeouts.idle,
                                  pool=timeouts.connect),
        )
        response: httpx.Response | None = None
        try:
            async with asyncio.timeout(min(timeouts.first_byte, timeouts.total)):
                response = await self._client.send(request, stream=True)
                chunks = response.aiter_bytes()
                first = b""
                if stream and response.status_code < 400:
                    try:
                        first = await anext(chunks)
                    except StopAsyncIteration:
                        first = b""
        except TimeoutError:
            if response is not None:
                await response.aclose()
            raise UpstreamUnavailable("no first byte before the first-byte timeout") from None
        except httpx.TimeoutException as exc:
            if response is not None:
                await response.aclose()
            raise UpstreamUnavailable(f"timeout: {type(exc).__name__}") from None
        except httpx.TransportError as exc:
            if response is not None:
                await response.aclose()
            raise UpstreamUnavailable(f"connection failed: {type(exc).__name__}") from None
        return UpstreamReply(response, chunks, first, deadline, timeouts.idle)
