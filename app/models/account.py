"""An account: a node of the tenant tree (root operator -> resellers -> customers)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, created_at_column

AccountKind = Literal["root", "reseller", "customer"]


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    #: Materialised path of ids from the root, each followed by "/": "1/5/9/". A subtree is
    #: ``path LIKE '1/5/%'``; the chain root..account is the path split on "/".
    path: Mapped[str] = mapped_column(String(255), unique=True, index=True)
    #: Edges from the root: 0 for the root, 1 for its direct children, ...
    depth: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = created_at_column()
    #: Rate limits over all traffic of this account (customers) or of its whole subtree (resellers).
    rpm: Mapped[int | None] = mapped_column(Integer, default=None)
    tpm: Mapped[int | None] = mapped_column(Integer, default=None)
    max_concurrency: Mapped[int | None] = mapped_column(Integer, default=None)
    #: Channel-ordering strategy for this account's requests ("priority", "cost", "latency",
    #: "balanced"), overriding the model's; None follows the routing configuration.
    routing_strategy: Mapped[str | None] = mapped_column(String(16), default=None)

    @property
    def chain(self) -> tuple[int, ...]:
        """Account ids from the root down to this account."""
        return path_ids(self.path)


def path_ids(path: str) -> tuple[int, ...]:
    """"1/5/9/" -> (1, 5, 9)."""
    return tuple(int(part) for part in path.split("/") if part)
