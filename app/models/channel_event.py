"""An operator event about a channel's health: its circuit opened or closed, it was disabled
automatically (auth or billing errors) or re-enabled, a probe started failing.

Append-only and small: one row per state change, never one per request. ``detail`` is written by
the health module from status codes and error kinds; it never holds prompt or completion text.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, BigId, created_at_column

ChannelEventKind = Literal["opened", "closed", "auto_disabled", "re_enabled", "probe_failed"]
CHANNEL_EVENT_KINDS: tuple[str, ...] = ("opened", "closed", "auto_disabled", "re_enabled", "probe_failed")


class ChannelEvent(Base):
    __tablename__ = "channel_events"
    __table_args__ = (Index("ix_channel_events_channel_id_id", "channel_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    #: Not a foreign key: a channel may be deleted, its history stays (as in usage_events).
    channel_id: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = created_at_column(index=True)
    kind: Mapped[str] = mapped_column(String(24))
    detail: Mapped[str] = mapped_column(Text, default="")
