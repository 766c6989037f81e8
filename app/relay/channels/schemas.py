"""Channel request/response structs for the CLI and the operator API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

ChannelType = Literal["openai", "azure", "anthropic", "gemini", "demo"]
CHANNEL_TYPES: tuple[str, ...] = ("openai", "azure", "anthropic", "gemini", "demo")

#: The wire protocol each channel type speaks upstream.
PROTOCOL_OF: dict[str, str] = {
    "openai": "openai", "azure": "openai", "demo": "openai", "anthropic": "anthropic", "gemini": "gemini",
}

#: Where each type lives by default (OpenAI-compatible base URLs include the version path, as in
#: the OpenAI SDK's ``base_url``; Anthropic's and Gemini's do not).
DEFAULT_BASE_URL: dict[str, str] = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com",
    "gemini": "https://generativelanguage.googleapis.com",
    "demo": "demo://local",
}

Seconds = Annotated[float, msgspec.Meta(gt=0, le=3600)]


class ChannelIn(msgspec.Struct, kw_only=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    type: ChannelType
    models: Annotated[list[str], msgspec.Meta(min_length=1)]
    base_url: str | None = None
    api_keys: list[str] = msgspec.field(default_factory=list)
    model_map: dict[str, str] = msgspec.field(default_factory=dict)
    priority: int = 0
    weight: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 1
    enabled: bool = True
    api_version: str | None = None
    connect_timeout: Seconds = 5.0
    first_byte_timeout: Seconds = 60.0
    idle_timeout: Seconds = 60.0
    total_timeout: Seconds = 600.0


class ChannelPatch(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Fields to change; absent fields stay as they are. ``api_keys`` replaces all keys."""

    base_url: str | None = None
    api_keys: list[str] | None = None
    models: list[str] | None = None
    model_map: dict[str, str] | None = None
    priority: int | None = None
    weight: Annotated[int, msgspec.Meta(ge=1, le=10_000)] | None = None
    enabled: bool | None = None
    api_version: str | None = None
    connect_timeout: Seconds | None = None
    first_byte_timeout: Seconds | None = None
    idle_timeout: Seconds | None = None
    total_timeout: Seconds | None = None


class ChannelView(msgspec.Struct):
    """A channel as shown to the operator: keys are never shown, only how many there are."""

    id: int
    name: str
    type: str
    base_url: str
    models: list[str]
    model_map: dict[str, str]
    priority: int
    weight: int
    enabled: bool
    key_count: int
    api_version: str | None
    connect_timeout: float
    first_byte_timeout: float
    idle_timeout: float
    total_timeout: float
    created_at: datetime
