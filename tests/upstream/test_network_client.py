"""The upstream client against real sockets: framing, keep-alive, and what happens when a server
closes a connection at each awkward moment."""

from __future__ import annotations

import asyncio

import pytest

from app.relay.health.classify import kind_for_unavailable
from app.relay.upstream import UpstreamBroken, UpstreamClient, UpstreamUnavailable
from tests.fakes import refused_url
from tests.upstream.scripted import (
    JSON,
    LAST_CHUNK,
    LOOPS,
    RELAXED,
    SSE_HEAD,
    Peer,
    chunk,
    keep_answering,
    response,
    run_on,
    scripted,
)

pytestmark = pytest.mark.parametrize("loop", list(LOOPS))


async def _post(client: UpstreamClient, url: str, body: bytes = b"{}") -> tuple[int, bytes]:
    reply = await client.send(url, JSON, body, RELAXED, stream=False)
    try:
        return reply.status, await reply.body()
    finally:
        await reply.aclose()


def test_sequential_requests_share_one_keep_alive_connection(loop: str) -> None:
    async def scenario() -> None:
        async with scripted(keep_answering) as server:
            client = UpstreamClient()
            answers = [await _post(client, server.url, b'{"i":%d}' % i) for i in range(3)]
            await client.aclose()
        assert answers == [(200, b'{"n":1}'), (200, b'{"n":2}'), (200, b'{"n":3}')]
        assert server.connections == 1
        assert server.requests == [b'{"i":0}', b'{"i":1}', b'{"i":2}']

    run_on(loop, scenario())


def test_a_chunked_stream_arrives_chunk_by_chunk_and_its_connection_is_reused(loop: str) -> None:
    events = [b"data: %d\n\n" % i for i in range(3)]

    async def script(peer: Peer) -> None:
        await peer.request()
        await peer.send(SSE_HEAD + chunk(events[0]))
        for event in events[1:]:
            await asyncio.sleep(0.02)
            await peer.send(chunk(event))
        await peer.send(LAST_CHUNK)
        await keep_answering(peer)

    async def scenario() -> None:
        async with scripted(script) as server:
            client = UpstreamClient()
            reply = await client.send(server.url, JSON, b"{}", RELAXED, stream=True)
            assert reply.status == 200
            assert reply.headers["content-type"] == "text/event-stream"
            assert reply.first_chunk == events[0]
            received = [c async for c in reply.iter_chunks()]
            await reply.aclose()
            assert received == events
            assert await _post(client, server.url) == (200, b'{"n":2}')
            await client.aclose()
        assert server.connections == 1

    run_on(loop, scenario())


def test_a_body_delimited_by_the_servers_close_is_complete_and_not_reused(loop: str) -> None:
    async def script(peer: Peer) -> None:
        await peer.request()
        await peer.send(b"HTTP/1.0 200 OK\r\ncontent-type: application/json\r\n\r\n" + b'{"old":')
        await asyncio.sleep(0.02)
        await peer.send(b'"school"}')

    async def scenario() -> None:
        async with scripted(script) as server:
            client = UpstreamClient()
            first = await _post(client, server.url)
            second = await _post(client, server.url)
            await client.aclose()
        assert first == second == (200, b'{"old":"school"}')
        assert server.connections == 2

    run_on(loop, scenario())


def test_a_connection_close_response_is_not_reused(loop: str) -> None:
    async def script(peer: Peer) -> None:
        await peer.request()
        await peer.send(response(b'{"bye":1}', headers="connection: close\r\n"))
        await peer.request()  # a client that wrongly reused the connection would be answered here

    async def scenario() -> None:
        async with scripted(script) as server:
            client = UpstreamClient()
            answers = [await _post(client, server.url) for _ in range(2)]
            await client.aclose()
        assert answers == [(200, b'{"bye":1}')] * 2
        assert server.connections == 2

    run_on(loop, scenario())


def test_a_large_body_arrives_whole_past_the_read_buffer_limit(loop: str) -> None:
    big = b"x" * (3 * 1024 * 1024)

    async def script(peer: Peer) -> None:
        await peer.request()
        await peer.send(response(big))
        await keep_answering(peer)

    async def scenario() -> None:
        async with scripted(script) as server:
            client = UpstreamClient()
            status, body = await _post(client, server.url)
            assert (status, len(body), body == big) == (200, len(big), True)
            assert await _post(client, server.url) == (200, b'{"n":2}')
            await client.aclose()
        assert server.connections == 1

    run_on(loop, scenario())


def test_a_response_left_unread_does_not_stall_the_next_request(loop: str) -> None:
    big = b"y" * (300 * 1024)  # past the buffer limit at which the client stops reading the socket

    async def script(peer: Peer) -> None:
        while await peer.request() is not None:
            await peer.send(response(big))

    async def scenario() -> None:
        async with scripted(script) as server:
            client = UpstreamClient()
            reply = await client.send(server.url, JSON, b"{}", RELAXED, stream=False)
            await asyncio.sleep(0.1)  # all of it arrives, none of it is read
            await reply.aclose()
            assert await _post(client, server.url) == (200, big)
            await client.aclose()

    run_on(loop, scenario())


def test_a_pooled_connection_the_server_dropped_unanswered_is_retried_on_a_fresh_one(loop: str) -> None:
    async def script(peer: Peer) -> None:
        if peer.number == 1:
            await peer.request()
            await peer.send(response(b'{"first":1}'))
            await peer.request()  # the keep-alive race: the server closes instead of answering
            return
        await keep_answering(peer)

    async def scenario() -> None:
        async with scripted(script) as server:
            client = UpstreamClient()
            assert await _post(client, server.url, b'{"i":1}') == (200, b'{"first":1}')
            assert await _post(client, server.url, b'{"i":2}') == (200, b'{"n":1}')
            await client.aclose()
        assert server.connections == 2
        assert server.requests == [b'{"i":1}', b'{"i":2}', b'{"i":2}']

    run_on(loop, scenario())


def test_a_pooled_connection_closed_while_idle_is_skipped(loop: str) -> None:
    async def script(peer: Peer) -> None:
        await peer.request()
        await peer.send(response(b'{"first":1}'))  # then the script ends: the server closes it idle

    async def scenario() -> None:
        async with scripted(script) as server:
            client = UpstreamClient()
            assert await _post(client, server.url) == (200, b'{"first":1}')
            await asyncio.sleep(0.05)
            assert await _post(client, server.url) == (200, b'{"first":1}')
            await client.aclose()
        assert server.connections == 2
        assert len(server.requests) == 2

    run_on(loop, scenario())


def test_nothing_is_sent_again_once_a_byte_of_the_response_arrived(loop: str) -> None:
    async def script(peer: Peer) -> None:
        await peer.request()
        await peer.send(response(b'{"first":1}'))
        await peer.request()
        await peer.send(b"HTTP/1.1 200 OK\r\n")  # then gone

    async def scenario() -> None:
        async with scripted(script) as server:
            client = UpstreamClient()
            await _post(client, server.url)
            with pytest.raises(UpstreamUnavailable) as failed:
                await _post(client, server.url)
            await client.aclose()
        assert kind_for_unavailable(failed.value.reason) == "connect"
        assert len(server.requests) == 2

    run_on(loop, scenario())


def test_a_fresh_connection_closed_unanswered_fails_over_without_a_retry(loop: str) -> None:
    async def script(peer: Peer) -> None:
        await peer.request()

    async def scenario() -> None:
        async with scripted(script) as server:
            client = UpstreamClient()
            with pytest.raises(UpstreamUnavailable) as failed:
                await _post(client, server.url)
            await client.aclose()
        assert kind_for_unavailable(failed.value.reason) == "connect"
        assert server.connections == 1

    run_on(loop, scenario())


def test_a_stream_cut_mid_body_delivers_what_arrived_then_breaks(loop: str) -> None:
    async def script(peer: Peer) -> None:
        await peer.request()
        await peer.send(SSE_HEAD + chunk(b"data: 1\n\n"))
        await asyncio.sleep(0.02)
        await peer.send(chunk(b"data: 2\n\n"))  # then gone, without the last chunk

    async def scenario() -> None:
        async with scripted(script) as server:
            client = UpstreamClient()
            reply = await client.send(server.url, JSON, b"{}", RELAXED, stream=True)
            received = []
            with pytest.raises(UpstreamBroken):
                async for data in reply.iter_chunks():
                    received.append(data)
            await reply.aclose()
            await client.aclose()
        assert b"".join(received) == b"data: 1\n\ndata: 2\n\n"

    run_on(loop, scenario())


def test_a_truncated_content_length_body_breaks(loop: str) -> None:
    async def script(peer: Peer) -> None:
        await peer.request()
        await peer.send(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{\"half\":")

    async def scenario() -> None:
        async with scripted(script) as server:
            client = UpstreamClient()
            with pytest.raises(UpstreamBroken):
                await _post(client, server.url)
            await client.aclose()

    run_on(loop, scenario())


def test_a_stream_closed_before_its_end_is_not_given_back_to_the_pool(loop: str) -> None:
    async def script(peer: Peer) -> None:
        if peer.number > 1:
            await keep_answering(peer)
            return
        await peer.request()
        await peer.send(SSE_HEAD + chunk(b"data: 1\n\n"))
        await peer.request()  # a wrongly reused connection would send the next request here

    async def scenario() -> None:
        async with scripted(script) as server:
            client = UpstreamClient()
            reply = await client.send(server.url, JSON, b"{}", RELAXED, stream=True)
            assert reply.first_chunk == b"data: 1\n\n"
            await reply.aclose()  # the caller gave up on the rest
            assert await _post(client, server.url) == (200, b'{"n":1}')
            await client.aclose()
        assert server.connections == 2

    run_on(loop, scenario())


def test_garbage_instead_of_http_fails_over(loop: str) -> None:
    async def script(peer: Peer) -> None:
        await peer.request()
        await peer.send(b"SSH-2.0-OpenSSH_9.6\r\n")
        await asyncio.sleep(1)

    async def scenario() -> None:
        async with scripted(script) as server:
            client = UpstreamClient()
            with pytest.raises(UpstreamUnavailable) as failed:
                await _post(client, server.url)
            await client.aclose()
        assert "invalid HTTP response" in failed.value.reason

    run_on(loop, scenario())


def test_a_header_value_with_a_line_break_is_never_sent(loop: str) -> None:
    async def scenario() -> None:
        async with scripted(keep_answering) as server:
            client = UpstreamClient()
            with pytest.raises(UpstreamUnavailable):
                await client.send(server.url, {"anthropic-beta": "x\r\nx-forged: 1"}, b"{}", RELAXED, stream=False)
            await client.aclose()
        assert server.connections == 0

    run_on(loop, scenario())


def test_a_refused_connection_is_a_connect_failure(loop: str) -> None:
    async def scenario() -> None:
        client = UpstreamClient()
        with pytest.raises(UpstreamUnavailable) as failed:
            await _post(client, refused_url() + "/v1/chat/completions")
        await client.aclose()
        assert kind_for_unavailable(failed.value.reason) == "connect"

    run_on(loop, scenario())


def test_the_demo_channel_answers_in_process(loop: str) -> None:
    async def scenario() -> None:
        client = UpstreamClient()
        body = b'{"model":"demo-1","stream":true,"messages":[{"role":"user","content":"hello there"}]}'
        reply = await client.send("demo://local/v1/chat/completions", JSON, body, RELAXED, stream=True)
        text = reply.first_chunk + b"".join([c async for c in reply.iter_chunks(include_first=False)])
        await reply.aclose()
        await client.aclose()
        assert reply.status == 200
        assert b"demo channel" in text and b"hello" in text
        assert text.endswith(b"data: [DONE]\n\n")

    run_on(loop, scenario())
