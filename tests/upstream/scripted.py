"""A raw HTTP/1.1 server on 127.0.0.1 whose every byte is scripted, to put the upstream client
through what real servers do: keep-alive, chunks, closing at awkward moments, stalling.

Tests run each scenario on both event loops the relay meets (asyncio's and uvloop, which uvicorn
picks when installed) with :func:`run_on`.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvloop

from app.relay.upstream import Timeouts

LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop,
}
#: Generous timeouts, for tests that are not about timeouts.
RELAXED = Timeouts(connect=5, first_byte=5, idle=5, total=10)
JSON = {"content-type": "application/json"}


def run_on(loop: str, scenario: Coroutine[Any, Any, None]) -> None:
    """Run ``scenario`` on a fresh loop of that kind, leaving the test session's loop alone."""
    with asyncio.Runner(loop_factory=LOOPS[loop]) as runner:
        runner.run(asyncio.wait_for(scenario, 20))


def response(body: bytes, *, status: str = "200 OK", headers: str = "") -> bytes:
    """A Content-Length response."""
    return (f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n{headers}\r\n"
            .encode() + body)


def chunk(data: bytes) -> bytes:
    """One HTTP/1.1 chunk of a chunked body."""
    return b"%x\r\n%s\r\n" % (len(data), data)


SSE_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
LAST_CHUNK = b"0\r\n\r\n"


class Peer:
    """The server's side of one connection (``number``: 1 for the server's first connection)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: ScriptedServer) -> None:
        self.reader, self.writer, self._server = reader, writer, server
        self.number = server.connections
        self.requests = 0

    async def request(self) -> bytes | None:
        """The next request's body, or None when the client closed the connection."""
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        length = 0
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        body = await self.reader.readexactly(length)
        self.requests += 1
        self._server.requests.append(body)
        return body

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    def close(self) -> None:
        self.writer.close()


@dataclass
class ScriptedServer:
    url: str = ""
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)


@asynccontextmanager
async def scripted(script: Callable[[Peer], Awaitable[None]], *,
                   ssl_context: ssl.SSLContext | None = None) -> AsyncIterator[ScriptedServer]:
    """Serve ``script(peer)`` on every connection; the connection is closed when the script returns."""
    state = ScriptedServer()
    tasks: set[asyncio.Task[None]] = set()

    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        state.connections += 1
        # The script runs in a task of its own: cancelling it at the end must not cancel this
        # handler, which asyncio's stream server would report as an error.
        task = asyncio.ensure_future(script(Peer(reader, writer, state)))
        tasks.add(task)
        try:
            await task
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(on_connection, "127.0.0.1", 0, ssl=ssl_context)
    port = server.sockets[0].getsockname()[1]
    state.url = f"{'https' if ssl_context else 'http'}://127.0.0.1:{port}/v1/chat/completions"
    try:
        yield state
    finally:
        server.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def keep_answering(peer: Peer) -> None:
    """A well-behaved keep-alive server: every request gets ``{"n": <request number on this connection>}``."""
    while await peer.request() is not None:
        await peer.send(response(b'{"n":%d}' % peer.requests))


def server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    """TLS for a scripted server, with ``certificate``'s (cert, key) files."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    return context
