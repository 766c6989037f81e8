"""Accounts as the rest of the app sees them."""

from __future__ import annotations

from datetime import datetime

import msgspec

from app.models import Account, path_ids


class AccountView(msgspec.Struct):
    id: int
    parent_id: int | None
    name: str
    kind: str
    #: "1/5/9/": ids from the root, each followed by "/".
    path: str
    depth: int
    created_at: datetime
    rpm: int | None = None
    tpm: int | None = None
    max_concurrency: int | None = None
    routing_strategy: str | None = None

    @property
    def chain(self) -> tuple[int, ...]:
        return path_ids(self.path)

    @classmethod
    def of(cls, row: Account) -> AccountView:
        return cls(id=row.id, parent_id=row.parent_id, name=row.name, kind=row.kind, path=row.path,
                   depth=row.depth, created_at=row.created_at, rpm=row.rpm, tpm=row.tpm,
                   max_concurrency=row.max_concurrency, routing_strategy=row.routing_strategy)
