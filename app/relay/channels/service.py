"""Operator actions on channels. Services never commit; the caller owns the transaction."""

from __future__ import annotations

from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Conflict, InvalidInput, NotFound
from app.lib.crypto import SecretBox
from app.models import Channel, ChannelKey
from app.relay.channels import repository
from app.relay.channels.schemas import DEFAULT_BASE_URL, ChannelIn, ChannelPatch, ChannelView

DEMO_CHANNEL_NAME = "demo"
DEMO_MODELS = ["demo-1"]


def _view(ch: Channel) -> ChannelView:
    return ChannelView(
        id=ch.id, name=ch.name, type=ch.type, base_url=ch.base_url, models=list(ch.models),
        model_map=dict(ch.model_map), priority=ch.priority, weight=ch.weight, enabled=ch.enabled,
        key_count=len(ch.keys), api_version=ch.api_version, connect_timeout=ch.connect_timeout,
        first_byte_timeout=ch.first_byte_timeout, idle_timeout=ch.idle_timeout,
        total_timeout=ch.total_timeout, created_at=ch.created_at,
    )


def _check_base_url(channel_type: str, url: str) -> str:
    url = url.rstrip("/")
    if channel_type == "demo":
        return url or DEFAULT_BASE_URL["demo"]
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidInput(f"base_url must be an http(s) URL, got {url!r}")
    return url


def _check(channel_type: str, models: list[str], model_map: dict[str, str], keys: list[str],
           api_version: str | None) -> None:
    if any(not m.strip() for m in models):
        raise InvalidInput("models must be non-empty names")
    unknown = set(model_map) - set(models)
    if unknown:
        raise InvalidInput(f"model_map names models the channel does not serve: {sorted(unknown)}")
    if channel_type != "demo" and not keys:
        raise InvalidInput("a channel needs at least one API key (api_keys)")
    if channel_type == "azure" and not api_version:
        raise InvalidInput("an azure channel needs api_version (e.g. 2024-10-21)")


async def add_channel(session: AsyncSession, box: SecretBox, data: ChannelIn) -> ChannelView:
    """Create a channel; its API keys are encrypted before they reach the database."""
    if await repository.by_name(session, data.name) is not None:
        raise Conflict(f"a channel named {data.name!r} already exists")
    if data.type == "azure" and not data.base_url:
        raise InvalidInput("an azure channel needs base_url (https://<resource>.openai.azure.com)")
    base_url = _check_base_url(data.type, data.base_url or DEFAULT_BASE_URL.get(data.type, ""))
    _check(data.type, data.models, data.model_map, data.api_keys, data.api_version)
    ch = Channel(
        name=data.name, type=data.type, base_url=base_url, models=list(dict.fromkeys(data.models)),
        model_map=dict(data.model_map), priority=data.priority, weight=data.weight, enabled=data.enabled,
        api_version=data.api_version, connect_timeout=data.connect_timeout,
        first_byte_timeout=data.first_byte_timeout, idle_timeout=data.idle_timeout,
        total_timeout=data.total_timeout,
        keys=[ChannelKey(secret_encrypted=box.encrypt(k)) for k in data.api_keys],
    )
    session.add(ch)
    await session.flush()
    return _view(ch)


async def update_channel(session: AsyncSession, box: SecretBox, channel_id: int,
                         patch: ChannelPatch) -> ChannelView:
    """Change some fields of a channel."""
    ch = await repository.get_with_keys(session, channel_id)
    if ch is None:
        raise NotFound(f"no channel {channel_id}")
    for field in ("priority", "weight", "enabled", "api_version", "connect_timeout", "first_byte_timeout",
                  "idle_timeout", "total_timeout"):
        value = getattr(patch, field)
        if value is not None:
            setattr(ch, field, value)
    if patch.base_url is not None:
        ch.base_url = _check_base_url(ch.type, patch.base_url)
    if patch.models is not None:
        ch.models = list(dict.fromkeys(patch.models))
    if patch.model_map is not None:
        ch.model_map = dict(patch.model_map)
    if patch.api_keys is not None:
        ch.keys = [ChannelKey(secret_encrypted=box.encrypt(k)) for k in patch.api_keys]
    _check(ch.type, ch.models, ch.model_map, ["x"] if ch.keys else [], ch.api_version)
    await session.flush()
    return _view(ch)


async def delete_channel(session: AsyncSession, channel_id: int) -> None:
    ch = await repository.get_with_keys(session, channel_id)
    if ch is None:
        raise NotFound(f"no channel {channel_id}")
    await session.delete(ch)
    await session.flush()


async def list_channels(session: AsyncSession) -> list[ChannelView]:
    return [_view(ch) for ch in await repository.all_with_keys(session)]


async def get_channel(session: AsyncSession, channel_id: int) -> ChannelView:
    ch = await repository.get_with_keys(session, channel_id)
    if ch is None:
        raise NotFound(f"no channel {channel_id}")
    return _view(ch)


async def ensure_demo_channel(session: AsyncSession, box: SecretBox) -> ChannelView | None:
    """On a database with no channels at all, add the built-in demo channel so a newcomer's first
    call works before any provider key is configured. Returns it when created."""
    if await repository.all_with_keys(session):
        return None
    return await add_channel(session, box, ChannelIn(name=DEMO_CHANNEL_NAME, type="demo", models=DEMO_MODELS))
