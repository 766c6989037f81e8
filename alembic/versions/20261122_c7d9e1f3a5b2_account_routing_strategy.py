"""account routing strategy override

Revision ID: c7d9e1f3a5b2
Revises: b4e2f6a8c1d3
Create Date: 2026-11-22 12:22:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c7d9e1f3a5b2"
down_revision: str | None = "b4e2f6a8c1d3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("routing_strategy", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("routing_strategy")
