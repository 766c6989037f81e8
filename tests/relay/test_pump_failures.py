"""How a stream that fails after its first byte ends for the client, through the upstream client's
transport seam (no sockets): silence and the total deadline are a timeout, a lost connection is
"connection lost", and what arrived before the failure is still relayed."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import pytest

from app.relay.protocols import ir
from app.relay.pump import StreamPump
from app.relay.upstream import Timeouts, UpstreamBroken, UpstreamClient, UpstreamReadTimeout


class ScriptedExchange:
    """Body reads that return the scripted bytes, or raise the scripted exception."""

    status = 200
    headers = {"content-type": "text/event-stream"}

    def __init__(self, steps: list[bytes | Exception]) -> None:
        self._steps = steps

    async def read(self, until: float) -> bytes:
        step = self._steps.pop(0) if self._steps else b""
        if isinstance(step, Exception):
            raise step
        return step

    def close(self) -> None:
        self._steps = []


class ScriptedTransport:
    def __init__(self, exchange: ScriptedExchange) -> None:
        self.exchange = exchange

    async def open(self, url: str, headers: Mapping[str, str], body: bytes, *, connect_timeout: float,
                   until: float) -> ScriptedExchange:
        return self.exchange

    async def aclose(self) -> None:
        pass


class EchoTransform:
    """Relays chunks as they are; ends with ``<end>``, or ``<reason>`` on failure."""

    usage: ir.Usage | None = None
    completed = False
    error: ir.Error | None = None

    def feed(self, chunk: bytes) -> bytes:
        return chunk

    def finish(self) -> bytes:
        return b"<end>"

    def fail(self, reason: str) -> bytes:
        return f"<{reason}>".encode()

    def generated_text(self) -> str:
        return ""


@pytest.mark.parametrize(("failure", "tail"), [
    (None, b"<end>"),
    (UpstreamReadTimeout("idle"), b"<timeout>"),
    (TimeoutError("total"), b"<timeout>"),
    (UpstreamBroken("lost"), b"<connection lost>"),
])
async def test_a_stream_failing_after_its_first_byte_ends_with_the_reason(failure: Exception | None,
                                                                          tail: bytes) -> None:
    steps: list[bytes | Exception] = [b"one ", b"two "] + ([failure] if failure else [])
    client = UpstreamClient(ScriptedTransport(ScriptedExchange(steps)))
    reply = await client.send("https://upstream.test/v1/chat/completions", {}, b"{}",
                              Timeouts(connect=1, first_byte=1, idle=1, total=5), stream=True)
    tasks: list[asyncio.Task[None]] = []

    async def settled(pump: StreamPump) -> None:
        pass

    pump = StreamPump(reply, EchoTransform(), settled, tasks.append)
    received = b"".join([data async for data in pump.client_stream()])
    await asyncio.gather(*tasks)
    assert received == b"one two " + tail
