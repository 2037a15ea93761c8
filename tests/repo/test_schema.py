"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from app.db import make_engine
from app.migrate import upgrade_database
from app.models import Base


def test_migrations_match_the_models(db_settings):
    engine = make_engine(db_settings)
    try:
        upgrade_database(engine)
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()
    assert diff == [], diff


def test_library_version_triggers_exist(db_factory):
    from sqlalchemy import text

    with db_factory() as session:
        before = session.execute(text("SELECT version FROM library_state WHERE id = 1")).scalar_one()
        session.execute(text("INSERT INTO tags (name, name_key) VALUES ('x', 'x')"))
        session.execute(text("UPDATE tags SET name = 'y', name_key = 'y' WHERE name_key = 'x'"))
        session.commit()
        after = session.execute(text("SELECT version FROM library_state WHERE id = 1")).scalar_one()
    assert after == before + 1  # the rename bumps it; creating an unused tag does not
