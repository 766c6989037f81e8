"""Request bodies of the operator API. Money comes in as USD decimal strings (or whole-dollar
integers), never floats; responses carry integer micro-units."""

from __future__ import annotations

from datetime import datetime

import msgspec

from app.errors import InvalidInput
from app.lib.money import format_usd, parse_usd
from app.tenants.pricing import Prices

#: A USD amount: "12.50", "0.000001" or 3. JSON numbers with a fraction are refused (floats).
Usd = str | int


def micro(field: str, value: Usd | None) -> int | None:
    """A USD body field -> micro-units, or InvalidInput naming the field."""
    if value is None:
        return None
    try:
        return parse_usd(value)
    except ValueError as exc:
        raise InvalidInput(f"{field}: {exc}") from None


class AccountIn(msgspec.Struct, kw_only=True):
    name: str
    kind: str
    #: Parent account (default: the caller's own account).
    parent_id: int | None = None


class CreditIn(msgspec.Struct, kw_only=True):
    amount_usd: Usd
    reason: str
    #: Granting twice with the same key grants once.
    idempotency_key: str | None = None


class PriceIn(msgspec.Struct, kw_only=True):
    """USD per million tokens of each class."""

    input_usd: Usd
    output_usd: Usd
    cache_read_usd: Usd = "0"
    cache_write_usd: Usd = "0"
    #: Catalog only: output tokens reserved when a request sets no limit.
    max_output_tokens: int | None = None
    #: Catalog only.
    enabled: bool | None = None

    def prices(self) -> Prices:
        return Prices(input=micro("input_usd", self.input_usd) or 0, output=micro("output_usd", self.output_usd) or 0,
                      cache_read=micro("cache_read_usd", self.cache_read_usd) or 0,
                      cache_write=micro("cache_write_usd", self.cache_write_usd) or 0)


class MarkupIn(msgspec.Struct, kw_only=True):
    #: Basis points on the seller's own cost (1000 = +10 %).
    markup_bps: int
    #: Models offered to the children; null offers everything the seller is offered. Left out: unchanged.
    offered_models: list[str] | None | msgspec.UnsetType = msgspec.UNSET


class KeyIn(msgspec.Struct, kw_only=True):
    name: str
    models: list[str] | None = None
    is_admin: bool = False
    #: Owning account (default: the caller's own account).
    account_id: int | None = None
    expires_at: datetime | None = None
    ip_allowlist: list[str] | None = None
    spend_cap_total_usd: Usd | None = None
    spend_cap_day_usd: Usd | None = None
    spend_cap_month_usd: Usd | None = None
    rpm: int | None = None
    tpm: int | None = None
    max_concurrency: int | None = None
    #: Seconds to cache this key's answers in the exact-match response cache.
    cache_ttl: int | None = None


class LimitsIn(msgspec.Struct, kw_only=True):
    """Rate limits of an account: its own traffic (customer) or its whole subtree (reseller)."""

    rpm: int | None = None
    tpm: int | None = None
    max_concurrency: int | None = None


class RoutingIn(msgspec.Struct, kw_only=True):
    #: "priority", "cost", "latency", "balanced", or null to follow the routing configuration.
    strategy: str | None = None


class BalanceView(msgspec.Struct):
    account_id: int
    #: Micro-units.
    balance: int
    balance_usd: str

    @classmethod
    def of(cls, account_id: int, amount: int) -> BalanceView:
        return cls(account_id=account_id, balance=amount, balance_usd=format_usd(amount))
