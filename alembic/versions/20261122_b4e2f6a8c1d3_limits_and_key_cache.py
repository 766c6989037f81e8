"""account rate limits, per-key response cache TTL, usage events by key

Revision ID: b4e2f6a8c1d3
Revises: 7e3b9a41c2d6
Create Date: 2026-11-22 12:05:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b4e2f6a8c1d3"
down_revision: str | None = "7e3b9a41c2d6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("rpm", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("tpm", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("max_concurrency", sa.Integer(), nullable=True))
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("cache_ttl", sa.Integer(), nullable=True))
    with op.batch_alter_table("usage_events") as batch:
        batch.create_index("ix_usage_events_key_id_created_at", ["key_id", "created_at"])


def downgrade() -> None:
    with op.batch_alter_table("usage_events") as batch:
        batch.drop_index("ix_usage_events_key_id_created_at")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("cache_ttl")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("max_concurrency")
        batch.drop_column("tpm")
        batch.drop_column("rpm")
