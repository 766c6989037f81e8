"""HTTPS upstreams: the client verifies the server's certificate against its trust (by default the
system's and certifi's CAs, here a test CA) and keeps TLS connections alive like plain ones."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from app.relay.health.classify import kind_for_unavailable
from app.relay.upstream import UpstreamClient, UpstreamUnavailable
from tests.upstream.scripted import JSON, LOOPS, RELAXED, keep_answering, run_on, scripted

pytestmark = pytest.mark.parametrize("loop", list(LOOPS))


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1: (certificate PEM, key PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "waystation test upstream")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def _server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    return context


def test_an_https_upstream_with_a_trusted_certificate_is_served_over_one_connection(
        loop: str, certificate: tuple[Path, Path]) -> None:
    async def scenario() -> None:
        async with scripted(keep_answering, ssl_context=_server_context(certificate)) as server:
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
        async with scripted(keep_answering, ssl_context=_server_context(certificate)) as server:
            client = UpstreamClient()
            with pytest.raises(UpstreamUnavailable) as failed:
                await client.send(server.url, JSON, b"{}", RELAXED, stream=False)
            await client.aclose()
        assert kind_for_unavailable(failed.value.reason) == "connect"
        assert "CERTIFICATE_VERIFY_FAILED" in failed.value.reason

    run_on(loop, scenario())
