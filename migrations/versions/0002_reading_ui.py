"""items.trashed_at: a deleted item stays restorable (Undo) until it is purged

Revision ID: 0002_reading_ui
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.models.base

revision: str = "0002_reading_ui"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("items") as batch:
        batch.add_column(sa.Column("trashed_at", app.models.base.UTCDateTime(), nullable=True))
        batch.create_index("ix_items_trashed_at", ["trashed_at"])


def downgrade() -> None:
    with op.batch_alter_table("items") as batch:
        batch.drop_index("ix_items_trashed_at")
        batch.drop_column("trashed_at")
