"""One relayed request, as metadata: routing, tokens, costs, timings. Never prompt or completion text."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, BigId, created_at_column


class UsageEvent(Base):
    __tablename__ = "usage_events"
    __table_args__ = (Index("ix_usage_events_account_id_created_at", "account_id", "created_at"),
                      Index("ix_usage_events_key_id_created_at", "key_id", "created_at"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    request_id: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = created_at_column(index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    #: Not foreign keys: keys and channels may be deleted, their history stays.
    key_id: Mapped[int | None] = mapped_column(Integer, default=None)
    #: Account ids root..account at the time of the request.
    chain: Mapped[list[int]] = mapped_column(JSON)
    protocol: Mapped[str] = mapped_column(String(16))
    op: Mapped[str] = mapped_column(String(32))
    model_requested: Mapped[str] = mapped_column(String(200))
    model_served: Mapped[str | None] = mapped_column(String(200), default=None)
    channel_id: Mapped[int | None] = mapped_column(Integer, default=None)
    stream: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[int] = mapped_column(Integer)
    error_kind: Mapped[str | None] = mapped_column(String(64), default=None)
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cache_read_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cache_write_tokens: Mapped[int] = mapped_column(Integer, default=0)
    reasoning_tokens: Mapped[int] = mapped_column(Integer, default=0)
    #: Micro-units each payer paid its parent, root's direct child first (len(chain) - 1 items).
    costs: Mapped[list[int]] = mapped_column(JSON, default=list)
    upstream_cost: Mapped[int | None] = mapped_column(BigInteger, default=None)
    latency_ms: Mapped[int] = mapped_column(Integer, default=0)
    ttfb_ms: Mapped[int | None] = mapped_column(Integer, default=None)
    client_disconnected: Mapped[bool] = mapped_column(Boolean, default=False)
    cache_hit: Mapped[bool] = mapped_column(Boolean, default=False)
