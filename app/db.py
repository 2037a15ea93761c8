"""Engine and session factories, built from Settings; nothing is created at import time."""

from __future__ import annotations

import logging
import select
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings

sql_log = logging.getLogger("lectern.sql")


def _sqlite_configurer(busy_timeout_ms: int, checkpoint_pages: int | None):
    def configure(dbapi_conn, _record) -> None:
        _configure_sqlite(dbapi_conn, busy_timeout_ms, checkpoint_pages)

    return configure


def _configure_sqlite(dbapi_conn, busy_timeout_ms: int, checkpoint_pages: int | None = None) -> None:
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    _use_wal(cur, busy_timeout_ms / 1000)
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    if checkpoint_pages is not None:
        cur.execute(f"PRAGMA wal_autocheckpoint={int(checkpoint_pages)}")
    cur.close()


def _use_wal(cur, timeout_s: float) -> None:
    """Switch a new database to WAL (a setting the file keeps). While another connection writes to
    a database still in rollback-journal mode (the first process to start, creating it), SQLite
    answers "database is locked" at once, without waiting for the busy timeout: try again until it."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def make_engine(settings: Settings, *, checkpoint_pages: int | None = None) -> Engine:
    """The engine of ``settings``' database. ``checkpoint_pages`` (SQLite): the write-ahead log's
    size in pages at which a commit of this engine copies it into the database, a checkpoint
    (SQLite's own default, 1000, when None). The web process passes a larger one: a save whose
    commit ran the checkpoint took 4-7 ms (1-2 ms of it CPU) instead of under 0.5 ms (at 100k
    items, the worker busy); the worker's commits, at 1000 pages, do it instead."""
    url = settings.effective_database_url
    if url.startswith("sqlite"):
        settings.ensure_data_dir()
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": settings.sqlite_busy_timeout},
        )
        event.listen(engine, "connect",
                     _sqlite_configurer(int(settings.sqlite_busy_timeout * 1000), checkpoint_pages))
    else:
        engine = create_engine(url, pool_size=10, max_overflow=10)
        event.listen(engine, "checkout", _replace_if_closed_by_server)
    if settings.slow_sql_ms > 0:
        log_slow_statements(engine, settings.slow_sql_ms)
    return engine


def log_slow_statements(engine: Engine, threshold_ms: float) -> None:
    """Log every statement of ``engine`` that takes longer than ``threshold_ms``: its wall time
    and the CPU time of its thread meanwhile. A write that waited for SQLite's lock, or a query
    whose thread waited for the CPU (or the GIL), shows a wall time well above its CPU time."""

    def before(conn, _cursor, _statement, _params, _context, _many) -> None:
        conn.info.setdefault("lectern_started", []).append((time.perf_counter(), time.thread_time()))

    def after(conn, _cursor, statement, _params, _context, _many) -> None:
        started = conn.info.get("lectern_started")
        if not started:
            return
        wall0, cpu0 = started.pop()
        wall = (time.perf_counter() - wall0) * 1000
        if wall > threshold_ms:
            cpu = (time.thread_time() - cpu0) * 1000
            sql_log.warning("slow SQL: %.1f ms (%.1f ms CPU): %s", wall, cpu, " ".join(statement.split())[:160])

    def failed(context) -> None:  # a statement that raised has no after_cursor_execute
        started = context.connection.info.get("lectern_started") if context.connection is not None else None
        if started:
            started.pop()

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    event.listen(engine, "handle_error", failed)


def _replace_if_closed_by_server(dbapi_conn, _record, _proxy) -> None:
    """Checkout: hand out no connection the server has closed (restart, pg_terminate_backend, idle
    timeout); the pool opens a fresh one instead.

    What pool_pre_ping is for, without its SELECT 1 round trip on every checkout (an API save
    checks out twice): a server that ends a connection sends an error and closes the socket, so an
    idle pooled connection with anything to read is gone. One poll() with no timeout. (Neither
    this nor the pre-ping can tell a server that vanished without closing the socket.)"""
    if dbapi_conn.closed or getattr(dbapi_conn, "broken", False):
        raise DisconnectionError("the connection is closed")
    poller = select.poll()
    poller.register(dbapi_conn.fileno(), select.POLLIN | select.POLLPRI)
    if poller.poll(0):
        raise DisconnectionError("the server closed the connection")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def make_autocommit_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions for a lookup that is one SELECT (an API token): no transaction around it, so on
    PostgreSQL it is one round trip instead of three (BEGIN, SELECT, ROLLBACK). Never for writes."""
    return sessionmaker(engine.execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
