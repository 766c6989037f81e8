"""Channels that point at the fake providers."""

from __future__ import annotations

from typing import Any

from tests.fakes import ProviderServer
from tests.support.harness import Relay

UPSTREAM_KEYS = {"openai": "sk-upstream-openai", "anthropic": "sk-ant-upstream", "gemini": "AIza-upstream-gemini"}


def upstream_base(kind: str, server: ProviderServer) -> str:
    """OpenAI-compatible base URLs include /v1 (as the OpenAI SDK's); the others do not."""
    return server.base_url + "/v1" if kind == "openai" else server.base_url


def add_upstream_channel(relay: Relay, kind: str, server: ProviderServer | str, models: list[str],
                         **fields: Any) -> dict[str, Any]:
    """A channel of ``kind`` pointing at ``server`` (or at a raw base URL)."""
    base = server if isinstance(server, str) else upstream_base(kind, server)
    return relay.add_channel(type=kind, base_url=base, api_keys=[UPSTREAM_KEYS[kind]], models=models, **fields)
