"""A running Waystation for tests: the app served on 127.0.0.1 with its operator key, plus
helpers that go through the operator API like a real operator would."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any

import anthropic
import httpx
import openai
from google import genai
from google.genai import types as genai_types

from app import migrations
from app.config import Settings
from app.db import create_engine, create_sessionmaker
from app.tenants.accounts import ensure_root_account
from app.tenants.keys import create_key


async def _bootstrap(settings: Settings) -> str:
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session:
            root = await ensure_root_account(session)
            created = await create_key(session, account_id=root.id, name="suite-operator", is_admin=True)
            await session.commit()
            return created.secret
    finally:
        await engine.dispose()


def prepare_database(settings: Settings) -> str:
    """Migrate and return a fresh operator key."""
    migrations.upgrade(settings)
    return asyncio.run(_bootstrap(settings))


@dataclass
class Relay:
    settings: Settings
    base_url: str
    admin_key: str
    backend: str
    _api: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self._api = httpx.Client(base_url=self.base_url + "/api/v1", timeout=30,
                                 headers={"authorization": f"Bearer {self.admin_key}"})

    def close(self) -> None:
        self._api.close()

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self._api.request(method, path, **kwargs)

    def add_channel(self, **fields: Any) -> dict[str, Any]:
        fields.setdefault("name", f"ch-{uuid.uuid4().hex[:8]}")
        r = self.api("POST", "/channels", json=fields)
        assert r.status_code == 201, r.text
        return r.json()

    def create_key(self, models: list[str] | None = None) -> str:
        r = self.api("POST", "/keys", json={"name": f"key-{uuid.uuid4().hex[:6]}", "models": models})
        assert r.status_code == 201, r.text
        return r.json()["secret"]

    # ------------------------------------------------------------- official SDK clients

    def openai(self, key: str | None = None, **kw: Any) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.base_url + "/v1", api_key=key or self.admin_key, max_retries=0,
                             timeout=30, **kw)

    def anthropic(self, key: str | None = None, **kw: Any) -> anthropic.Anthropic:
        return anthropic.Anthropic(base_url=self.base_url, api_key=key or self.admin_key, max_retries=0,
                                   timeout=30, **kw)

    def genai(self, key: str | None = None, api_version: str | None = "v1beta") -> genai.Client:
        options = genai_types.HttpOptions(base_url=self.base_url, timeout=30_000,
                                          retry_options=genai_types.HttpRetryOptions(attempts=1))
        if api_version:
            options.api_version = api_version
        return genai.Client(api_key=key or self.admin_key, http_options=options)
