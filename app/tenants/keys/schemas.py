"""What the rest of the app knows about an authenticated API key."""

from __future__ import annotations

from datetime import datetime

import msgspec


class KeyContext(msgspec.Struct, frozen=True):
    key_id: int
    account_id: int
    name: str
    #: Public model names this key may use; None means no key-level restriction.
    models: frozenset[str] | None
    is_admin: bool
    expires_at: datetime | None = None

    def may_use(self, model: str) -> bool:
        return self.models is None or model in self.models


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
