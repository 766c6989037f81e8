"""What the rest of the app knows about an authenticated API key."""

from __future__ import annotations

import ipaddress
from datetime import datetime
from functools import lru_cache

import msgspec

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=4096)
def _networks(cidrs: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)


class KeyContext(msgspec.Struct, frozen=True):
    key_id: int
    account_id: int
    name: str
    #: Public model names this key may use; None means no key-level restriction.
    models: frozenset[str] | None
    is_admin: bool
    expires_at: datetime | None = None
    #: Account ids from the root down to the key's account: who pays whom for this key's requests.
    chain: tuple[int, ...] = ()
    #: Client networks allowed (normalised CIDRs); None allows any address.
    ip_allowlist: tuple[str, ...] | None = None
    #: Spend caps in micro-units (None: no cap).
    spend_cap_total: int | None = None
    spend_cap_day: int | None = None
    spend_cap_month: int | None = None
    #: Rate limits (None: no key-level limit).
    rpm: int | None = None
    tpm: int | None = None
    max_concurrency: int | None = None
    #: Seconds to cache this key's answers (exact-match response cache), None: only on request.
    cache_ttl: int | None = None
    #: Rate limits of the accounts in the chain below the root, as (account id, rpm, tpm,
    #: concurrency): the key's own account limits its traffic; each reseller above limits its subtree.
    account_limits: tuple[tuple[int, int | None, int | None, int | None], ...] = ()
    #: The key's account's routing strategy override, if any.
    routing_strategy: str | None = None

    def may_use(self, model: str) -> bool:
        return self.models is None or model in self.models

    def allows_ip(self, address: str) -> bool:
        """Whether a client at ``address`` may use the key (unparseable addresses may not)."""
        if self.ip_allowlist is None:
            return True
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in net for net in _networks(self.ip_allowlist))


class KeyView(msgspec.Struct):
    """A key as listed: never the secret, only its visible prefix."""

    id: int
    account_id: int
    name: str
    prefix: str
    models: list[str] | None
    is_admin: bool
    disabled: bool
    created_at: datetime
    expires_at: datetime | None = None
    ip_allowlist: list[str] | None = None
    #: Micro-units.
    spend_cap_total: int | None = None
    spend_cap_day: int | None = None
    spend_cap_month: int | None = None
    rpm: int | None = None
    tpm: int | None = None
    max_concurrency: int | None = None
    cache_ttl: int | None = None
