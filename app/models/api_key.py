"""A customer API key. Only its SHA-256 hash is stored; the key itself is shown once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, created_at_column


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    #: First characters of the key ("sk-ws-AbCdEf"), for people to recognise it in listings.
    prefix: Mapped[str] = mapped_column(String(32))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: Public model names this key may use; None means every model the account may use.
    models: Mapped[list[str] | None] = mapped_column(JSON, default=None)
    #: May call the operator JSON API under /api/v1.
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    #: Client networks (normalised CIDRs) allowed to use the key; None means any address.
    ip_allowlist: Mapped[list[str] | None] = mapped_column(JSON, default=None)
    #: Spend caps in micro-units (None: no cap), over the key's life, a UTC day, a UTC month.
    spend_cap_total: Mapped[int | None] = mapped_column(BigInteger, default=None)
    spend_cap_day: Mapped[int | None] = mapped_column(BigInteger, default=None)
    spend_cap_month: Mapped[int | None] = mapped_column(BigInteger, default=None)
    #: Requests per minute, tokens per minute and requests in flight (None: no key-level limit).
    rpm: Mapped[int | None] = mapped_column(Integer, default=None)
    tpm: Mapped[int | None] = mapped_column(Integer, default=None)
    max_concurrency: Mapped[int | None] = mapped_column(Integer, default=None)
    #: Seconds to cache this key's answers in the exact-match response cache (None: only on request).
    cache_ttl: Mapped[int | None] = mapped_column(Integer, default=None)
    created_at: Mapped[datetime] = created_at_column()
