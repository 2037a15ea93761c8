"""Engine and session factories, built from Settings; nothing is created at import time."""

from __future__ import annotations

import fcntl
import logging
import os
import re
import select
import sqlite3
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings

log = logging.getLogger(__name__)
sql_log = logging.getLogger("lectern.sql")


def _sqlite_configurer(busy_timeout_ms: int, checkpoint_pages: int | None):
    def configure(dbapi_conn, _record) -> None:
        _configure_sqlite(dbapi_conn, busy_timeout_ms, checkpoint_pages)

    return configure


_WRITE = re.compile(r"\s*(?:INSERT|UPDATE|DELETE|REPLACE|BEGIN\s+(?:IMMEDIATE|EXCLUSIVE))\b", re.IGNORECASE)


class _TurnTakingCursor(sqlite3.Cursor):
    def execute(self, sql, parameters=(), /):
        return self.connection.in_turn(sql, super().execute, parameters)

    def executemany(self, sql, seq_of_parameters, /):
        return self.connection.in_turn(sql, super().executemany, seq_of_parameters)


class TurnTakingConnection(sqlite3.Connection):
    """A SQLite connection that waits for its turn to write on a file lock (``flock``) before its
    transaction's first write, gives the turn back when the transaction ends, and then copies the
    write-ahead log into the database (a checkpoint) when it has grown long.

    SQLite's own write lock has no queue: a connection that finds it taken sleeps 1, 2, 5, 10,
    15 ms... between tries (sqlite3_busy_timeout), so a save that comes while the worker holds
    the lock for 4 ms waits 8 ms, and one that comes during a 9 ms transaction waits 18. Waiting on
    the file lock instead, a writer tries every 0.2 ms and writes as soon as the lock is free. A
    writer still waits for SQLite after ``turn_timeout`` seconds (the busy timeout): a thread that
    holds a turn and opens a second connection to write answers "database is locked" in the end,
    as it would without the turns, instead of waiting forever. The kernel drops the lock of a
    process that dies.

    SQLite's automatic checkpoint runs inside the commit that crosses its threshold, so it would
    hold the turn (a save's commit that ran one took 4-7 ms at 100k items, others under 0.5 ms);
    it is off, and ``commit`` runs the same passive checkpoint after giving the turn back, once
    ``checkpoint_pages`` pages wait in the log. Writers do not wait for a passive checkpoint."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.database: str | None = None  # set by _configure_sqlite; None: no turns, no checkpoints
        self.turn_timeout = 0.0
        self.checkpoint_pages = 0  # 0: never (SQLite checkpoints when the last connection closes)
        self.has_turn = False
        self._turn_fd = self._shm_fd = -1
        self._turn_pid = self._shm_pid = 0  # the process that opened each file

    def cursor(self, factory=_TurnTakingCursor):
        return super().cursor(factory)

    def in_turn(self, sql: str, run, parameters):
        """``run(sql, parameters)``, after taking the turn if ``sql`` writes and this connection
        has none; the turn goes back at once if no transaction is left open (an autocommit write)."""
        if not self.has_turn and _WRITE.match(sql):
            self.take_turn()
        try:
            return run(sql, parameters)
        finally:
            if self.has_turn and not self.in_transaction:
                self.give_turn_back()

    def take_turn(self) -> None:
        if self.database is None:
            return
        if self._turn_pid != os.getpid():  # new, or forked: a process of its own takes its own lock
            self._turn_fd = os.open(self.database + "-writer", os.O_RDWR | os.O_CREAT, 0o600)
            self._turn_pid = os.getpid()
        started = time.monotonic()
        while True:
            try:
                fcntl.flock(self._turn_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                waited = time.monotonic() - started
                if waited >= self.turn_timeout:
                    return  # SQLite's busy timeout decides
                time.sleep(0.0002 if waited < 0.02 else 0.001)
                continue
            self.has_turn = True
            return

    def give_turn_back(self) -> None:
        if self.has_turn:
            self.has_turn = False
            if self._turn_pid == os.getpid():  # never the lock of the process this one forked from
                fcntl.flock(self._turn_fd, fcntl.LOCK_UN)

    def wal_backlog(self) -> int:
        """Pages in the write-ahead log not yet copied into the database, read off the wal-index
        header (sqlite.org/walformat.html: mxFrame at byte 16, nBackfill at byte 96, in the
        machine's byte order). Read without SQLite's locks: a hint, not an exact count."""
        if self._shm_pid != os.getpid():
            try:
                self._shm_fd = os.open(self.database + "-shm", os.O_RDONLY)
            except FileNotFoundError:  # SQLite creates it with the first transaction
                return 0
            self._shm_pid = os.getpid()
        header = os.pread(self._shm_fd, 100, 0)
        if len(header) < 100:
            return 0
        frames = int.from_bytes(header[16:20], sys.byteorder)
        copied = int.from_bytes(header[96:100], sys.byteorder)
        return max(frames - copied, 0)

    def commit(self) -> None:
        self._end_transaction(super().commit)
        if self.checkpoint_pages and self.database is not None and self.wal_backlog() >= self.checkpoint_pages:
            # The commit is done: a checkpoint that fails (a full disk) leaves the log to the next
            # one, as SQLite's automatic checkpoint does, rather than fail a write that happened.
            try:
                self.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            except sqlite3.Error as exc:
                log.warning("checkpoint of %s failed, left to a later commit: %s", self.database, exc)

    def rollback(self) -> None:
        self._end_transaction(super().rollback)

    def _end_transaction(self, end) -> None:
        """``end()`` (commit or rollback), then the turn goes back if no transaction is left open."""
        try:
            end()
        finally:
            if not self.in_transaction:
                self.give_turn_back()

    def close(self) -> None:
        self.give_turn_back()
        if self._turn_pid == os.getpid():
            os.close(self._turn_fd)
            self._turn_pid = 0
        if self._shm_pid == os.getpid():
            os.close(self._shm_fd)
            self._shm_pid = 0
        super().close()


def _configure_sqlite(dbapi_conn, busy_timeout_ms: int, checkpoint_pages: int | None = None) -> None:
    """``checkpoint_pages``: see make_engine; SQLite's default (1000) when None."""
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    _use_wal(cur, busy_timeout_ms / 1000)
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    pages = 1000 if checkpoint_pages is None else int(checkpoint_pages)
    database = cur.execute("PRAGMA database_list").fetchone()[2]
    if isinstance(dbapi_conn, TurnTakingConnection) and database:  # not an in-memory database
        cur.execute("PRAGMA wal_autocheckpoint=0")
        dbapi_conn.database = database
        dbapi_conn.turn_timeout = busy_timeout_ms / 1000
        dbapi_conn.checkpoint_pages = pages
    else:
        cur.execute(f"PRAGMA wal_autocheckpoint={pages}")
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
            connect_args={"check_same_thread": False, "timeout": settings.sqlite_busy_timeout,
                          "factory": TurnTakingConnection},
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
