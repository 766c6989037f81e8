"""A channel: one upstream provider account (base URL + keys) serving some models."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, created_at_column


class Channel(Base):
    __tablename__ = "channels"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    #: "openai" (any OpenAI-compatible base URL), "azure", "anthropic", "gemini" or "demo".
    type: Mapped[str] = mapped_column(String(32))
    base_url: Mapped[str] = mapped_column(String(1000), default="")
    #: Public model names served by this channel.
    models: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: Public name -> upstream name, for the models that are called differently upstream.
    model_map: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    weight: Mapped[int] = mapped_column(Integer, default=1)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    #: Azure OpenAI "api-version" query parameter (type "azure" only).
    api_version: Mapped[str | None] = mapped_column(String(40), default=None)
    connect_timeout: Mapped[float] = mapped_column(Float, default=5.0)
    first_byte_timeout: Mapped[float] = mapped_column(Float, default=60.0)
    idle_timeout: Mapped[float] = mapped_column(Float, default=60.0)
    total_timeout: Mapped[float] = mapped_column(Float, default=600.0)
    created_at: Mapped[datetime] = created_at_column()

    keys: Mapped[list[ChannelKey]] = relationship(
        back_populates="channel", lazy="raise", cascade="all, delete-orphan", order_by="ChannelKey.id"
    )


class ChannelKey(Base):
    """One upstream API key of a channel, encrypted at rest with the application secret."""

    __tablename__ = "channel_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"), index=True)
    secret_encrypted: Mapped[str] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = created_at_column()

    channel: Mapped[Channel] = relationship(back_populates="keys", lazy="raise")
