"""The upstream client's four timeouts on real sockets: connect failures and silence before the
first byte fail over; silence after it, or a stream outliving its total, ends the body."""

from __future__ import annotations

import asyncio
import time

import pytest

from app.relay.health.classify import kind_for_unavailable
from app.relay.upstream import Timeouts, UpstreamClient, UpstreamReadTimeout, UpstreamUnavailable
from tests.upstream.scripted import JSON, LOOPS, SSE_HEAD, Peer, chunk, response, run_on, scripted

pytestmark = pytest.mark.parametrize("loop", list(LOOPS))


async def _silent(peer: Peer) -> None:
    await peer.request()
    await asyncio.sleep(5)


async def _headers_then_silence(peer: Peer) -> None:
    await peer.request()
    await peer.send(SSE_HEAD)
    await asyncio.sleep(5)


async def _one_chunk_then_silence(peer: Peer) -> None:
    await peer.request()
    await peer.send(SSE_HEAD + chunk(b"data: 1\n\n"))
    await asyncio.sleep(5)


async def _tick(peer: Peer, every: float, count: int) -> None:
    await peer.request()
    await peer.send(SSE_HEAD + chunk(b"data: 0\n\n"))
    for i in range(1, count):
        await asyncio.sleep(every)
        await peer.send(chunk(b"data: %d\n\n" % i))
    await peer.send(b"0\r\n\r\n")


def _elapsed_since(start: float) -> float:
    return time.monotonic() - start


@pytest.mark.parametrize(("script", "stream"), [(_silent, False), (_silent, True), (_headers_then_silence, True)])
def test_no_first_byte_in_time_fails_over_as_a_timeout(loop: str, script: object, stream: bool) -> None:
    async def scenario() -> None:
        async with scripted(script) as server:  # type: ignore[arg-type]
            client = UpstreamClient()
            start = time.monotonic()
            with pytest.raises(UpstreamUnavailable) as failed:
                await client.send(server.url, JSON, b"{}", Timeouts(connect=5, first_byte=0.2, idle=5, total=10),
                                  stream=stream)
            assert 0.15 < _elapsed_since(start) < 2
            await client.aclose()
        assert kind_for_unavailable(failed.value.reason) == "timeout"

    run_on(loop, scenario())


def test_a_stream_silent_for_the_idle_timeout_ends_with_a_read_timeout(loop: str) -> None:
    async def scenario() -> None:
        async with scripted(_one_chunk_then_silence) as server:
            client = UpstreamClient()
            reply = await client.send(server.url, JSON, b"{}", Timeouts(connect=5, first_byte=5, idle=0.2, total=10),
                                      stream=True)
            start = time.monotonic()
            with pytest.raises(UpstreamReadTimeout):
                async for _ in reply.iter_chunks():
                    pass
            assert 0.15 < _elapsed_since(start) < 2
            await reply.aclose()
            await client.aclose()

    run_on(loop, scenario())


def test_a_body_silent_for_the_idle_timeout_ends_with_a_read_timeout(loop: str) -> None:
    async def script(peer: Peer) -> None:
        await peer.request()
        await peer.send(response(b'{"half":')[:-2])
        await asyncio.sleep(5)

    async def scenario() -> None:
        async with scripted(script) as server:
            client = UpstreamClient()
            reply = await client.send(server.url, JSON, b"{}", Timeouts(connect=5, first_byte=5, idle=0.2, total=10),
                                      stream=False)
            with pytest.raises(UpstreamReadTimeout):
                await reply.body()
            await reply.aclose()
            await client.aclose()

    run_on(loop, scenario())


def test_chunks_that_keep_coming_inside_the_idle_timeout_never_time_out(loop: str) -> None:
    async def scenario() -> None:
        async with scripted(lambda peer: _tick(peer, 0.05, 12)) as server:
            client = UpstreamClient()
            reply = await client.send(server.url, JSON, b"{}", Timeouts(connect=5, first_byte=5, idle=0.2, total=10),
                                      stream=True)
            received = b"".join([c async for c in reply.iter_chunks()])
            await reply.aclose()
            await client.aclose()
        assert received == b"".join(b"data: %d\n\n" % i for i in range(12))

    run_on(loop, scenario())


def test_a_stream_past_its_total_deadline_ends_with_a_plain_timeout(loop: str) -> None:
    async def scenario() -> None:
        async with scripted(lambda peer: _tick(peer, 0.05, 100)) as server:
            client = UpstreamClient()
            start = time.monotonic()
            reply = await client.send(server.url, JSON, b"{}", Timeouts(connect=5, first_byte=5, idle=1, total=0.5),
                                      stream=True)
            with pytest.raises(TimeoutError) as failed:
                async for _ in reply.iter_chunks():
                    pass
            assert 0.45 < _elapsed_since(start) < 2.5
            await reply.aclose()
            await client.aclose()
        assert not isinstance(failed.value, UpstreamReadTimeout)

    run_on(loop, scenario())
