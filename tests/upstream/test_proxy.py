"""https:// upstreams through an egress proxy (HTTPS_PROXY): a CONNECT tunnel, TLS inside it,
credentials sent to the proxy, NO_PROXY hosts reached directly, a refusal a connect failure."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from app.relay.health.classify import kind_for_unavailable
from app.relay.upstream import UpstreamClient, UpstreamUnavailable
from app.relay.upstream.proxy import Proxy
from tests.upstream.scripted import JSON, LOOPS, RELAXED, keep_answering, run_on, scripted, server_context

on_each_loop = pytest.mark.parametrize("loop", list(LOOPS))


class ConnectProxy:
    """A CONNECT-only proxy that records what it was asked and pipes bytes both ways."""

    def __init__(self, *, refuse: bool = False) -> None:
        self.requests: list[bytes] = []
        self.refuse = refuse
        self.port = 0

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        self.requests.append(head)
        if self.refuse:
            writer.write(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n")
            writer.close()
            return
        host, port = head.split(b" ")[1].decode().rsplit(":", 1)
        up_reader, up_writer = await asyncio.open_connection(host, int(port))
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except ConnectionError:
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    @asynccontextmanager
    async def running(self) -> AsyncIterator[ConnectProxy]:
        server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        try:
            yield self
        finally:
            server.close()


def _trusting(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certificate[0]))


@on_each_loop
def test_an_https_upstream_is_reached_through_the_proxy_with_its_credentials(
        loop: str, certificate: tuple[Path, Path]) -> None:
    async def scenario() -> None:
        async with scripted(keep_answering, ssl_context=server_context(certificate)) as server, \
                ConnectProxy().running() as proxy:
            via = Proxy.parse(f"http://user:p%40ss@127.0.0.1:{proxy.port}")
            client = UpstreamClient(ssl_context=_trusting(certificate), proxy=via)
            answers = []
            for _ in range(2):
                reply = await client.send(server.url, JSON, b"{}", RELAXED, stream=False)
                answers.append((reply.status, await reply.body()))
                await reply.aclose()
            await client.aclose()
        assert answers == [(200, b'{"n":1}'), (200, b'{"n":2}')]
        assert len(proxy.requests) == 1  # one tunnel, kept alive for the second request
        port = server.url.split(":")[2].split("/")[0]
        assert proxy.requests[0].startswith(f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\n".encode())
        assert b"proxy-authorization: Basic dXNlcjpwQHNz\r\n" in proxy.requests[0]  # user:p@ss

    run_on(loop, scenario())


@on_each_loop
def test_no_proxy_hosts_and_plain_http_upstreams_are_reached_directly(
        loop: str, certificate: tuple[Path, Path]) -> None:
    async def scenario() -> None:
        async with scripted(keep_answering, ssl_context=server_context(certificate)) as tls, \
                scripted(keep_answering) as plain, ConnectProxy().running() as proxy:
            bypass = UpstreamClient(ssl_context=_trusting(certificate),
                                    proxy=Proxy.parse(f"http://127.0.0.1:{proxy.port}", "example.com, 127.0.0.1"))
            reply = await bypass.send(tls.url, JSON, b"{}", RELAXED, stream=False)
            assert reply.status == 200
            await reply.aclose()
            await bypass.aclose()
            direct_http = UpstreamClient(proxy=Proxy.parse(f"http://127.0.0.1:{proxy.port}"))
            reply = await direct_http.send(plain.url, JSON, b"{}", RELAXED, stream=False)
            assert reply.status == 200
            await reply.aclose()
            await direct_http.aclose()
        assert proxy.requests == []

    run_on(loop, scenario())


@on_each_loop
def test_a_proxy_that_refuses_is_a_connect_failure(loop: str, certificate: tuple[Path, Path]) -> None:
    async def scenario() -> None:
        async with scripted(keep_answering, ssl_context=server_context(certificate)) as server, \
                ConnectProxy(refuse=True).running() as proxy:
            client = UpstreamClient(ssl_context=_trusting(certificate),
                                    proxy=Proxy.parse(f"http://127.0.0.1:{proxy.port}"))
            with pytest.raises(UpstreamUnavailable) as failed:
                await client.send(server.url, JSON, b"{}", RELAXED, stream=False)
            await client.aclose()
        assert kind_for_unavailable(failed.value.reason) == "connect"
        assert "403" in failed.value.reason

    run_on(loop, scenario())


def test_proxy_settings_are_parsed_like_other_clients_do() -> None:
    proxy = Proxy.parse("proxy.internal:3128", ".corp.example, localhost:8080")
    assert proxy is not None and (proxy.host, proxy.port, proxy.authorization) == ("proxy.internal", 3128, None)
    assert proxy.applies_to("api.openai.com")
    assert not proxy.applies_to("llm.corp.example") and not proxy.applies_to("corp.example")
    assert not proxy.applies_to("LOCALHOST")
    assert Proxy.parse(None) is None and Proxy.parse("") is None
    assert not Proxy.parse("http://p:1", "*").applies_to("anything")  # type: ignore[union-attr]
    with pytest.raises(ValueError):
        Proxy.parse("socks5://p:1080")
