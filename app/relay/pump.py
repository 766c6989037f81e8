"""Streams the upstream to the client through a transform, in a task of its own.

The upstream is read by a pump task and handed to the client through a small queue. When the
client disconnects, the server cancels only the client side: the pump keeps reading (bounded by
the channel's idle and total timeouts) until the upstream reports its usage, so what was
generated is still accounted for, then closes the upstream connection.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol

from app.relay.protocols import ir
from app.relay.upstream.client import UpstreamReply
from app.relay.upstream.errors import UpstreamError

log = logging.getLogger("waystation.relay")

#: Chunks buffered for a slow client before the pump waits (backpressure to the upstream).
QUEUE_SIZE = 64


class StreamTransform(Protocol):
    usage: ir.Usage | None
    completed: bool
    error: ir.Error | None

    def feed(self, chunk: bytes) -> bytes: ...
    def finish(self) -> bytes: ...
    def fail(self, reason: str) -> bytes: ...
    def generated_text(self) -> str:
        """Text, tool arguments and thinking generated so far (for billing a stream that broke
        before it reported usage)."""


class StreamPump:
    def __init__(self, reply: UpstreamReply, transform: StreamTransform,
                 on_done: Callable[[StreamPump], Awaitable[None]],
                 spawn: Callable[[asyncio.Task[None]], None], *, keep: bool = False) -> None:
        self._reply = reply
        self.transform = transform
        self._on_done = on_done
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue(QUEUE_SIZE)
        self.client_gone = False
        #: Every byte meant for the client, when ``keep`` (to fill the response cache).
        self.sent: list[bytes] | None = [] if keep else None
        self.failure: str | None = None
        self._task = asyncio.create_task(self._pump())
        spawn(self._task)

    async def _put(self, data: bytes | None) -> None:
        if not self.client_gone:
            await self._queue.put(data)

    async def _pump(self) -> None:
        transform = self.transform
        held: list[bytes] = []  # the stream's last bytes wait for its settlement
        try:
            try:
                async for chunk in self._reply.iter_chunks():
                    out = transform.feed(chunk)
                    if not out:
                        continue
                    if self.sent is not None:
                        self.sent.append(out)
                    if transform.completed or held:
                        held.append(out)
                    else:
                        await self._put(out)
                tail = transform.finish()
            except (UpstreamError, TimeoutError) as exc:  # UpstreamReadTimeout is a TimeoutError
                self.failure = type(exc).__name__
                tail = transform.fail("timeout" if isinstance(exc, TimeoutError) else "connection lost")
            await self._reply.aclose()
            if self.sent is not None:
                self.sent.append(tail)
            try:
                await self._on_done(self)
            except Exception:  # noqa: BLE001 - bookkeeping must never strand the client
                log.exception("stream settlement failed")
            held.append(tail)
            if data := b"".join(held):
                await self._put(data)
            await self._put(None)
        finally:
            await self._reply.aclose()

    async def client_stream(self) -> AsyncIterator[bytes]:
        try:
            while True:
                data = await self._queue.get()
                if data is None:
                    return
                yield data
        finally:
            if not self._task.done():
                # The client left mid-stream: stop handing it data but let the pump finish.
                self.client_gone = True
                while not self._queue.empty():
                    self._queue.get_nowait()
