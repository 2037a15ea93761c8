"""Schema upgrades through Alembic; the app and the worker call upgrade_database on start."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, text

ROOT = Path(__file__).resolve().parent.parent

# The pg_advisory_xact_lock key every Lectern process takes to migrate a PostgreSQL database
# ("lectern" in ASCII). It is per database, not per schema: two schemas' upgrades take turns too.
PG_MIGRATION_LOCK_KEY = 0x6C65637465726E
# How long an SQLite upgrade waits for another process's write lock (another upgrade on a big
# library may take minutes); the engine's own busy timeout is meant for requests.
SQLITE_MIGRATION_BUSY_TIMEOUT_MS = 10 * 60 * 1000


def alembic_config() -> Config:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    return cfg


def upgrade_database(engine: Engine) -> None:
    """Upgrade the schema to head in one transaction that first takes the database's migration
    lock, so processes that start together (serve and worker on a new database) take turns: the
    first upgrades, the others then find the schema at head and do nothing."""
    cfg = alembic_config()
    with engine.begin() as conn:
        _lock_for_migration(conn)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def _lock_for_migration(conn: Connection) -> None:
    dialect = conn.dialect.name
    if dialect == "postgresql":
        # Held until the transaction ends; PostgreSQL's DDL is transactional, so the next holder
        # reads the committed alembic_version.
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_MIGRATION_LOCK_KEY})
    elif dialect == "sqlite":
        # Python's sqlite3 begins a transaction only before INSERT/UPDATE/DELETE, so without this
        # the CREATE TABLEs would each commit on their own. BEGIN IMMEDIATE takes the write lock at
        # once, and the whole upgrade is then one transaction. Once it is held (WAL), nothing else
        # in the upgrade waits on another process, so the request timeout comes back straight away.
        (previous,) = conn.exec_driver_sql("PRAGMA busy_timeout").one()
        conn.exec_driver_sql(f"PRAGMA busy_timeout={SQLITE_MIGRATION_BUSY_TIMEOUT_MS}")
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        finally:
            conn.exec_driver_sql(f"PRAGMA busy_timeout={int(previous)}")
