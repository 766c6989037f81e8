"""Prices: the model catalog (the root's list prices), what each channel costs upstream, and each
seller's price book (markup, offered models) and per-model overrides.

Every price is integer micro-units per 1,000,000 tokens of one class (input, output, cache read,
cache write; reasoning tokens are output).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, CheckConstraint, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, created_at_column

#: Output cap used to reserve a request that does not say its max_tokens.
DEFAULT_MAX_OUTPUT_TOKENS = 4096


class PriceColumns:
    """The four per-class prices, micro-units per million tokens."""

    input_price: Mapped[int] = mapped_column(BigInteger)
    output_price: Mapped[int] = mapped_column(BigInteger)
    cache_read_price: Mapped[int] = mapped_column(BigInteger, default=0)
    cache_write_price: Mapped[int] = mapped_column(BigInteger, default=0)


class CatalogModel(PriceColumns, Base):
    """A model the platform sells, at the price the root charges its direct children."""

    __tablename__ = "catalog_models"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    max_output_tokens: Mapped[int] = mapped_column(Integer, default=DEFAULT_MAX_OUTPUT_TOKENS)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = created_at_column()


class ChannelPrice(PriceColumns, Base):
    """What one channel's provider charges the operator for a model (the upstream cost)."""

    __tablename__ = "channel_prices"
    __table_args__ = (UniqueConstraint("channel_id", "model"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"), index=True)
    model: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = created_at_column()


class PriceBook(Base):
    """How a seller (root or reseller) prices what it sells to its children."""

    __tablename__ = "price_books"
    __table_args__ = (CheckConstraint("markup_bps >= 0", name="markup_bps_not_negative"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), unique=True)
    #: Markup on the seller's own cost in basis points (1,000 = +10 %); not applied by the root,
    #: which sells at catalog prices.
    markup_bps: Mapped[int] = mapped_column(Integer, default=0)
    #: Models offered to the children; None offers everything the seller's parent offers it.
    offered_models: Mapped[list[str] | None] = mapped_column(JSON, default=None)
    created_at: Mapped[datetime] = created_at_column()


class PriceOverride(PriceColumns, Base):
    """A seller's explicit price for one model, instead of its markup."""

    __tablename__ = "price_overrides"
    __table_args__ = (UniqueConstraint("account_id", "model"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    model: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = created_at_column()
