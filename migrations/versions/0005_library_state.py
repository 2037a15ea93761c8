"""library state version (bumped by triggers) and covering indexes for the library page

Revision ID: 0005_library_state
Revises: 0004_saved_searches
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_library_state"
down_revision: str | None = "0004_saved_searches"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (trigger name, event, table)
TRIGGERS = [
    ("library_bump_item_insert", "INSERT", "items"),
    ("library_bump_item_delete", "DELETE", "items"),
    ("library_bump_item_update", "UPDATE OF kind, read_state, starred, trashed_at", "items"),
    ("library_bump_tag_link_insert", "INSERT", "item_tags"),
    ("library_bump_tag_link_delete", "DELETE", "item_tags"),
    ("library_bump_tag_update", "UPDATE OF name, name_key", "tags"),
    ("library_bump_tag_delete", "DELETE", "tags"),
]
BUMP = "UPDATE library_state SET version = version + 1 WHERE id = 1"


def upgrade() -> None:
    op.create_table(
        "library_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_library_state")),
    )
    op.execute("INSERT INTO library_state (id, version) VALUES (1, 0)")
    op.create_index("ix_items_live_saved", "items", ["trashed_at", "saved_at", "id"])
    op.create_index("ix_items_live_counts", "items", ["trashed_at", "kind", "read_state", "starred"])
    op.create_index("ix_item_tags_tag_item", "item_tags", ["tag_id", "item_id"])
    op.drop_index("ix_item_tags_tag_id", table_name="item_tags")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION library_bump() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN {BUMP}; RETURN NULL; END $$"
        )
        for name, event, table in TRIGGERS:
            # Once per statement: a bulk import bumps the version once.
            op.execute(f"CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH STATEMENT EXECUTE FUNCTION library_bump()")
    else:
        for name, event, table in TRIGGERS:
            op.execute(f"CREATE TRIGGER {name} AFTER {event} ON {table} BEGIN {BUMP}; END")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for name, _, table in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (f" ON {table}" if dialect == "postgresql" else ""))
    if dialect == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS library_bump()")
    op.create_index("ix_item_tags_tag_id", "item_tags", ["tag_id"])
    op.drop_index("ix_item_tags_tag_item", table_name="item_tags")
    op.drop_index("ix_items_live_counts", table_name="items")
    op.drop_index("ix_items_live_saved", table_name="items")
    op.drop_table("library_state")
