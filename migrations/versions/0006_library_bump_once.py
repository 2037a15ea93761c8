"""library_bump on PostgreSQL: once per transaction, not once per statement

Revision ID: 0006_library_bump_once
Revises: 0005_library_state

A transaction that inserted 250,000 tag links one statement at a time (bench/data.py loading a
100k library) updated the one library_state row 250,000 times; each update walks the chain of
row versions the previous ones left, so the load slowed quadratically (minutes, unfinished). A
transaction-local setting remembers that this transaction already bumped the version. SQLite
updates the row in place and keeps its per-row triggers.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006_library_bump_once"
down_revision: str | None = "0005_library_state"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ONCE = """
CREATE OR REPLACE FUNCTION library_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('lectern.library_bumped', true) IS DISTINCT FROM txid_current()::text THEN
        UPDATE library_state SET version = version + 1 WHERE id = 1;
        PERFORM set_config('lectern.library_bumped', txid_current()::text, true);
    END IF;
    RETURN NULL;
END $$
"""
EVERY_STATEMENT = """
CREATE OR REPLACE FUNCTION library_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN UPDATE library_state SET version = version + 1 WHERE id = 1; RETURN NULL; END $$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(ONCE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(EVERY_STATEMENT)
