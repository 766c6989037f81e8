"""Model listings in each protocol's shape: only the models the caller's key may use.

``GET /v1/models`` answers in Anthropic's shape when the caller sends ``anthropic-version`` (the
Anthropic SDK does), else in OpenAI's."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
from litestar import Request, Response
from litestar.di import NamedDependency

from app.relay import errors
from app.relay.controllers.common import answer, authenticate
from app.relay.state import RelayState

#: Listings carry a creation time; the catalog has none yet, so use a fixed, honest epoch.
CATALOG_EPOCH = int(datetime(2025, 1, 1, tzinfo=UTC).timestamp())
OWNER = "waystation"


def _json(doc: object, rid: str) -> Response[bytes]:
    return Response(msgspec.json.encode(doc), media_type="application/json", headers={"x-request-id": rid})


def _protocol(request: Request) -> str:
    return "anthropic" if "anthropic-version" in request.headers else "openai"


def _openai_model(name: str) -> dict:
    return {"id": name, "object": "model", "created": CATALOG_EPOCH, "owned_by": OWNER}


def _anthropic_model(name: str) -> dict:
    return {"type": "model", "id": name, "display_name": name, "created_at": "2025-01-01T00:00:00Z"}


def _gemini_model(name: str) -> dict:
    return {"name": f"models/{name}", "displayName": name, "version": "1",
            "supportedGenerationMethods": ["generateContent", "streamGenerateContent", "countTokens"]}


async def _visible(request: Request, relay: NamedDependency[RelayState]) -> list[str]:
    """Models served by a channel, allowed by the key, and (below the root) sold to the account."""
    key = await authenticate(request, relay)
    names = [m for m in await relay.directory.models() if key.may_use(m)]
    if len(key.chain) > 1:
        table = await relay.billing.prices.current()
        names = [m for m in names if table.usable(key.chain, m)]
    return names


async def _one(request: Request, relay: NamedDependency[RelayState], name: str) -> str:
    if name not in await _visible(request, relay):
        raise errors.unknown_model(name)
    return name


async def list_models_response(request: Request, relay: NamedDependency[RelayState]) -> Response[bytes]:
    protocol = _protocol(request)

    async def work(rid: str) -> Response[bytes]:
        names = await _visible(request, relay)
        if protocol == "anthropic":
            return _json({"data": [_anthropic_model(n) for n in names], "has_more": False,
                          "first_id": names[0] if names else None, "last_id": names[-1] if names else None}, rid)
        return _json({"object": "list", "data": [_openai_model(n) for n in names]}, rid)

    return await answer(protocol, request, work)


async def model_response(request: Request, relay: NamedDependency[RelayState], name: str) -> Response[bytes]:
    protocol = _protocol(request)
    shape = _anthropic_model if protocol == "anthropic" else _openai_model

    async def work(rid: str) -> Response[bytes]:
        return _json(shape(await _one(request, relay, name)), rid)

    return await answer(protocol, request, work)


async def gemini_models_response(request: Request, relay: NamedDependency[RelayState]) -> Response[bytes]:
    async def work(rid: str) -> Response[bytes]:
        return _json({"models": [_gemini_model(n) for n in await _visible(request, relay)]}, rid)

    return await answer("gemini", request, work)


async def gemini_model_response(request: Request, relay: NamedDependency[RelayState], name: str) -> Response[bytes]:
    async def work(rid: str) -> Response[bytes]:
        return _json(_gemini_model(await _one(request, relay, name)), rid)

    return await answer("gemini", request, work)
