"""The PostgreSQL pool: healthy connections are reused as they are, dead ones are replaced at checkout."""

from __future__ import annotations

import time

from sqlalchemy import create_engine, text

from app.db import make_engine
from tests.fixtures.app import make_settings
from tests.fixtures.services import PG_URL


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
