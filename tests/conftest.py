"""Suite-wide fixtures: the app on each storage backend, and fake providers on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.asgi import create_app
from tests.fakes import FakeProvider, ProviderServer
from tests.support.backends import backend_settings
from tests.support.harness import Relay, prepare_database
from tests.support.server import ServedApp
from tests.support.upstreams import UPSTREAM_KEYS


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="session")
def relay(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Relay]:
    """Waystation served on 127.0.0.1, migrated, with an operator key."""
    with backend_settings(backend, tmp_path_factory.mktemp(backend)) as settings:
        admin_key = prepare_database(settings)
        with ServedApp(create_app(settings)) as served:
            harness = Relay(settings=settings, base_url=served.base_url, admin_key=admin_key, backend=backend)
            try:
                yield harness
            finally:
                harness.close()


@pytest.fixture(scope="session")
def provider_servers() -> Iterator[dict[str, ProviderServer]]:
    servers = {kind: ProviderServer(FakeProvider(kind, api_key=key)) for kind, key in UPSTREAM_KEYS.items()}
    for server in servers.values():
        server.start()
    try:
        yield servers
    finally:
        for server in servers.values():
            server.stop()


@pytest.fixture
def upstreams(provider_servers: dict[str, ProviderServer]) -> dict[str, ProviderServer]:
    """The three fake providers, with scripts and recorded requests cleared for this test."""
    for server in provider_servers.values():
        server.provider.reset()
    return provider_servers
