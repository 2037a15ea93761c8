"""The PostgreSQL pool: healthy connections are reused as they are, dead ones are replaced at checkout.
The slow-statement log (LECTERN_SLOW_SQL_MS) on SQLite and PostgreSQL. SQLite connections switch a
new database to WAL even while another process writes to it."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError, OperationalError

from app.db import make_engine
from tests.fixtures.app import make_settings
from tests.fixtures.services import PG_URL
from tests.fixtures.sql import logged_slow_statements


def _backend_pid(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT pg_backend_pid()")).scalar_one()


def test_a_pooled_connection_is_reused_without_reconnecting(tmp_path, pg_database_url):
    engine = make_engine(make_settings(tmp_path, database_url=pg_database_url))
    try:
        assert _backend_pid(engine) == _backend_pid(engine) == _backend_pid(engine)
    finally:
        engine.dispose()


def test_a_connection_the_server_ended_is_replaced_at_checkout_without_an_error(tmp_path, pg_database_url):
    """As after a PostgreSQL restart: the pooled connection's backend is gone; the next request
    must get a working connection, not an OperationalError."""
    engine = make_engine(make_settings(tmp_path, database_url=pg_database_url))
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        old = _backend_pid(engine)
        with admin.connect() as conn:
            assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": old}).scalar_one()
            deadline = time.monotonic() + 10
            while conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"), {"pid": old}).scalar():
                assert time.monotonic() < deadline, "the backend did not end"
                time.sleep(0.05)
        new = _backend_pid(engine)
        assert new != old
        assert _backend_pid(engine) == new
    finally:
        engine.dispose()
        admin.dispose()


def test_an_autocommit_lookup_opens_no_transaction_and_does_not_leak_into_other_sessions(tmp_path, pg_database_url):
    from psycopg.pq import TransactionStatus

    from app.db import make_autocommit_session_factory, make_session_factory

    engine = make_engine(make_settings(tmp_path, database_url=pg_database_url))
    try:
        with make_autocommit_session_factory(engine)() as session:
            pid = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
            raw = session.connection().connection.dbapi_connection
            assert raw.info.transaction_status == TransactionStatus.IDLE  # no BEGIN was sent
        with make_session_factory(engine)() as session:  # the same pooled connection, transactional again
            assert session.execute(text("SELECT pg_backend_pid()")).scalar_one() == pid
            session.execute(text("CREATE TABLE scratch (x int)"))
            session.rollback()
        with make_session_factory(engine)() as session:
            assert session.execute(text("SELECT to_regclass('scratch')")).scalar() is None
    finally:
        engine.dispose()


def test_a_connection_to_a_new_sqlite_database_another_process_is_writing_waits_and_switches_it_to_wal(tmp_path):
    """As when `lectern serve` and `lectern worker` start together on a new data directory: while
    one writes to the database, still in rollback-journal mode, SQLite refuses the other's switch
    to WAL at once ("database is locked"), busy timeout or not. The connection tries again."""
    settings = make_settings(tmp_path)
    settings.ensure_data_dir()
    path = settings.effective_database_url.removeprefix("sqlite:///")
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("CREATE TABLE first (x)")
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO first VALUES (1)")
    release = threading.Timer(0.3, lambda: writer.execute("COMMIT"))
    release.start()
    engine = make_engine(settings)
    try:
        started = time.monotonic()
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
            assert conn.execute(text("SELECT count(*) FROM first")).scalar_one() == 1
        assert time.monotonic() - started >= 0.25  # it waited for the writer
    finally:
        release.join()
        writer.close()
        engine.dispose()


# The slow-statement log (LECTERN_SLOW_SQL_MS) ------------------------------------------------------


def test_a_write_that_waits_for_the_sqlite_lock_is_logged_with_its_wait_and_little_cpu(tmp_path, caplog):
    """Another connection holds SQLite's write lock for 300 ms: the INSERT waits for it, and the
    log says so (wall time above the threshold, CPU time far below it). Quick statements, and a
    statement that failed, leave no line and do not confuse the next one's times."""
    with pytest.raises(ValidationError):
        make_settings(tmp_path, slow_sql_ms=-1)
    settings = make_settings(tmp_path, slow_sql_ms=100)
    engine = make_engine(settings)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
        caplog.set_level("WARNING", logger="lectern.sql")
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO t VALUES (1)"))
            with pytest.raises(OperationalError):
                conn.execute(text("SELECT * FROM no_such_table"))
        assert logged_slow_statements(caplog) == []

        holder = sqlite3.connect(settings.data_dir / "lectern.db", isolation_level=None, check_same_thread=False)
        holder.execute("BEGIN IMMEDIATE")
        holder.execute("INSERT INTO t VALUES (2)")
        release = threading.Timer(0.3, lambda: holder.execute("COMMIT"))
        release.start()
        try:
            with engine.begin() as conn:
                conn.execute(text("INSERT INTO t VALUES (3)"))
        finally:
            release.join()
            holder.close()
        [slow] = logged_slow_statements(caplog)
        assert slow.statement == "INSERT INTO t VALUES (3)"
        assert slow.wall_ms >= 250 and slow.cpu_ms < slow.wall_ms / 4 and slow.waited
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM t")).scalar_one() == 3
    finally:
        engine.dispose()


def test_a_slow_postgresql_statement_is_logged_and_none_is_by_default(tmp_path, caplog, pg_database_url):
    caplog.set_level("WARNING", logger="lectern.sql")
    quiet = make_engine(make_settings(tmp_path, database_url=pg_database_url))
    traced = make_engine(make_settings(tmp_path, database_url=pg_database_url, slow_sql_ms=50))
    try:
        for engine in (quiet, traced):
            with engine.connect() as conn:
                conn.execute(text("SELECT pg_sleep(0.2)"))
                conn.execute(text("SELECT 1"))
        [slow] = logged_slow_statements(caplog)
        assert slow.statement == "SELECT pg_sleep(0.2)"
        assert slow.wall_ms >= 190 and slow.cpu_ms < slow.wall_ms / 4
    finally:
        quiet.dispose()
        traced.dispose()


def _wal_pages_after_writes(engine, settings, commits: int = 30) -> int:
    """Commit ``commits`` transactions of about 100 pages each; the write-ahead log's size in pages."""
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS blobs (id INTEGER PRIMARY KEY, data BLOB)"))
    for _ in range(commits):
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO blobs (data) VALUES (randomblob(400000))"))
    wal = settings.data_dir / "lectern.db-wal"
    return wal.stat().st_size // 4096


def test_the_web_process_leaves_sqlite_checkpoints_to_the_worker(tmp_path):
    """The web's engine (Services) lets the write-ahead log grow to LECTERN_SQLITE_WEB_CHECKPOINT_PAGES
    before a commit of its own copies it into the database; the worker's engine keeps SQLite's
    1000 pages, so its commits checkpoint and the log starts over. The commit checkpoints after
    giving the turn back (SQLite's own automatic checkpoint is off)."""
    from app.main import Services

    web_settings = make_settings(tmp_path / "web")
    services = Services(web_settings)
    worker_settings = make_settings(tmp_path / "worker")
    worker = make_engine(worker_settings)
    never = Services(make_settings(tmp_path / "never", sqlite_web_checkpoint_pages=0))
    try:
        for engine, pages in ((services.engine, 10_000), (worker, 1000), (never.engine, 0)):
            with engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one() == 0
                assert conn.connection.driver_connection.checkpoint_pages == pages
        # ~3000 pages written: the web's log holds them all, the worker's was checkpointed and reused.
        assert _wal_pages_after_writes(services.engine, web_settings) > 2500
        assert _wal_pages_after_writes(worker, worker_settings) < 1500
        with worker.connect() as conn:
            assert conn.connection.driver_connection.wal_backlog() < 1000
        # The setting reaches the web's connections: 0, the web never checkpoints.
        assert _wal_pages_after_writes(never.engine, never.settings) > 2500
    finally:
        services.engine.dispose()
        never.engine.dispose()
        worker.dispose()


# Turns to write (TurnTakingConnection) ----------------------------------------------------------


def _turn_is_free(settings) -> bool:
    """Whether a writer could take its turn now (another open file description tries the lock)."""
    fd = os.open(settings.data_dir / "lectern.db-writer", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # closing drops the lock if it was taken
    return True


@pytest.fixture
def turn_db(tmp_path):
    """make(**settings) -> (settings, engine) on a new SQLite database with a table t (x INTEGER
    PRIMARY KEY); the engines are disposed of after the test."""
    engines = []

    def make(**overrides):
        settings = make_settings(tmp_path, **overrides)
        engine = make_engine(settings)
        engines.append(engine)
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (x INTEGER PRIMARY KEY)"))
        return settings, engine

    yield make
    for engine in engines:
        engine.dispose()


def test_a_writer_waits_for_its_turn_and_writes_once_the_holder_commits(turn_db):
    settings, engine = turn_db()
    assert _turn_is_free(settings)
    events: list[str] = []

    def second_writer() -> None:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO t VALUES (2)"))
            events.append("second wrote")

    with engine.connect() as holder:
        holder.execute(text("SELECT count(*) FROM t"))
        assert _turn_is_free(settings), "a read takes no turn"
        holder.execute(text("INSERT INTO t VALUES (1)"))
        assert not _turn_is_free(settings)
        writer = threading.Thread(target=second_writer)
        writer.start()
        time.sleep(0.3)
        assert events == [] and writer.is_alive()
        events.append("holder commits")
        holder.commit()
        writer.join(5)
    assert events == ["holder commits", "second wrote"]
    assert _turn_is_free(settings)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT x FROM t ORDER BY x")).scalars().all() == [1, 2]


def test_a_failed_or_abandoned_write_gives_its_turn_back(turn_db):
    settings, engine = turn_db()
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (1)"))
    assert _turn_is_free(settings)
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (1)"))
    assert _turn_is_free(settings)
    with engine.connect() as conn:  # closed without commit: the pool rolls it back
        conn.execute(text("INSERT INTO t VALUES (2)"))
        assert not _turn_is_free(settings)
    assert _turn_is_free(settings)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT x FROM t")).scalars().all() == [1]
    raw = engine.raw_connection()  # a write outside a transaction (autocommit) holds no turn after it
    try:
        raw.driver_connection.isolation_level = None
        raw.driver_connection.execute("INSERT INTO t VALUES (3)")
        assert _turn_is_free(settings)
    finally:
        raw.driver_connection.isolation_level = ""
        raw.close()


def test_a_thread_that_holds_a_turn_and_writes_on_a_second_connection_gets_an_error_not_a_hang(turn_db):
    settings, engine = turn_db(sqlite_busy_timeout=0.3)
    with engine.connect() as first:
        first.execute(text("INSERT INTO t VALUES (1)"))
        started = time.monotonic()
        with pytest.raises(OperationalError, match="locked"), engine.begin() as second:
            second.execute(text("INSERT INTO t VALUES (2)"))
        assert 0.3 <= time.monotonic() - started < 5
        first.commit()
    assert _turn_is_free(settings)


def test_the_turn_of_a_process_that_died_is_free(turn_db, tmp_path):
    settings, engine = turn_db()
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from sqlalchemy import text; from app.db import make_engine; "
         "from tests.fixtures.app import make_settings; from pathlib import Path; "
         "e = make_engine(make_settings(Path(sys.argv[1]))); c = e.connect(); "
         "c.execute(text('INSERT INTO t VALUES (1)')); print('holding', flush=True); time.sleep(60)",
         str(tmp_path)],
        stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parent.parent,
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        assert not _turn_is_free(settings)
    finally:
        holder.kill()
        holder.wait()
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (2)"))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT x FROM t")).scalars().all() == [2]


def test_a_forked_process_that_ends_an_inherited_connections_turn_leaves_the_parents_turn_alone(turn_db):
    settings, engine = turn_db()
    with engine.connect() as conn:
        conn.execute(text("INSERT INTO t VALUES (1)"))
        pid = os.fork()
        if pid == 0:  # the child: what the end of a transaction on an inherited connection does
            try:
                conn.connection.driver_connection.give_turn_back()
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        assert not _turn_is_free(settings)
        conn.commit()
    assert _turn_is_free(settings)
