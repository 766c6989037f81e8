"""Spend caps of an API key as funds wallets.

A cap is a wallet named after the key and the period ("k12t" total, "k12d20261122" that UTC day,
"k12m202611" that UTC month). Its mirror is minus what the key has spent in the period (read from
the ledger), and a reservation may take it down to minus the cap: the same atomic, all-or-nothing
hold that protects the account wallets protects the caps, on every replica. A new period is simply
a new wallet.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from app.tenants.funds.base import WalletId

_CAP_WALLET = re.compile(r"^k(?P<key>\d+)(?:(?P<t>t)|d(?P<day>\d{8})|m(?P<month>\d{6}))$")


def cap_wallets(key_id: int, now: datetime, *, total: int | None, day: int | None,
                month: int | None) -> list[tuple[str, int, str]]:
    """(wallet id, cap in micro-units, label) for each cap the key has."""
    out: list[tuple[str, int, str]] = []
    if total is not None:
        out.append((f"k{key_id}t", total, "total"))
    if day is not None:
        out.append((f"k{key_id}d{now:%Y%m%d}", day, "daily"))
    if month is not None:
        out.append((f"k{key_id}m{now:%Y%m}", month, "monthly"))
    return out


def parse_cap_wallet(wallet: WalletId) -> tuple[int, datetime | None, datetime | None] | None:
    """(key id, period start, period end) of a cap wallet; None for account wallets."""
    if isinstance(wallet, int):
        return None
    m = _CAP_WALLET.match(wallet)
    if m is None:
        return None
    key_id = int(m["key"])
    if m["t"]:
        return key_id, None, None
    if m["day"]:
        start = datetime.strptime(m["day"], "%Y%m%d").replace(tzinfo=UTC)
        return key_id, start, start + timedelta(days=1)
    start = datetime.strptime(m["month"], "%Y%m").replace(tzinfo=UTC)
    end = (start + timedelta(days=32)).replace(day=1)
    return key_id, start, end
