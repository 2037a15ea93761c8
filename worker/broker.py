"""The embedded broker: kombu's SQLAlchemy transport on a SQLite file, tuned for two processes.

kombu passes every transport option to ``create_engine``, so its own ``polling_interval`` option
breaks it; this transport keeps that option for kombu, and opens the SQLite file in WAL mode with a
busy timeout so the web process can publish while the worker polls.
"""

from __future__ import annotations

from kombu.transport import TRANSPORT_ALIASES
from kombu.transport.sqlalchemy import Channel as SqlaChannel
from kombu.transport.sqlalchemy import Transport as SqlaTransport
from sqlalchemy import create_engine, event

ALIAS = "lectern-sqla"
KOMBU_ONLY_OPTIONS = (
    "queue_tablename", "message_tablename", "callback", "errback", "max_retries", "interval_start",
    "interval_step", "interval_max", "retry_errors", "polling_interval",
)


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=15000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


class Channel(SqlaChannel):
    def _engine_from_config(self):
        conninfo = self.connection.client
        options = {k: v for k, v in conninfo.transport_options.items() if k not in KOMBU_ONLY_OPTIONS}
        url = conninfo.hostname
        if url.startswith("sqlite"):
            options.setdefault("connect_args", {"timeout": 15})
        engine = create_engine(url, **options)
        if url.startswith("sqlite"):
            event.listen(engine, "connect", _sqlite_pragmas)
        return engine


class Transport(SqlaTransport):
    Channel = Channel


def register() -> None:
    """Make ``lectern-sqla+sqlite:///...`` broker URLs resolve to this transport (idempotent)."""
    TRANSPORT_ALIASES[ALIAS] = "worker.broker:Transport"


def embedded_broker_url(sqlite_url: str) -> str:
    """``sqla+sqlite:///x`` (or ``sqlite:///x``) -> ``lectern-sqla+sqlite:///x``."""
    return f"{ALIAS}+{sqlite_url.split('+', 1)[-1]}"
