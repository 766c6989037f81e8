"""HTTPS upstreams: the client verifies the server's certificate against its trust (by default the
system's and certifi's CAs, here a test CA) and keeps TLS connections alive like plain ones."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from app.relay.health.classify import kind_for_unavailable
from app.relay.upstream import UpstreamClient, UpstreamUnavailable
from tests.upstream.scripted import JSON, LOOPS, RELAXED, keep_answering, run_on, scripted, server_context

pytestmark = pytest.mark.parametrize("loop", list(LOOPS))


def test_an_https_upstream_with_a_trusted_certificate_is_served_over_one_connection(
        loop: str, certificate: tuple[Path, Path]) -> None:
    async def scenario() -> None:
        async with scripted(keep_answering, ssl_context=server_context(certificate)) as server:
            assert server.url.startswith("https://")
            client = UpstreamClient(ssl_context=ssl.create_default_context(cafile=str(certificate[0])))
            answers = []
            for _ in range(2):
                reply = await client.send(server.url, JSON, b"{}", RELAXED, stream=False)
                answers.append((reply.status, await reply.body()))
                await reply.aclose()
            await client.aclose()
        assert answers == [(200, b'{"n":1}'), (200, b'{"n":2}')]
        assert server.connections == 1

    run_on(loop, scenario())


def test_an_untrusted_certificate_is_a_connect_failure(loop: str, certificate: tuple[Path, Path]) -> None:
    async def scenario() -> None:
        async with scripted(keep_answering, ssl_context=server_context(certificate)) as server:
            client = UpstreamClient()
            with pytest.raises(UpstreamUnavailable) as failed:
                await client.send(server.url, JSON, b"{}", RELAXED, stream=False)
            await client.aclose()
        assert kind_for_unavailable(failed.value.reason) == "connect"
        assert "CERTIFICATE_VERIFY_FAILED" in failed.value.reason

    run_on(loop, scenario())
