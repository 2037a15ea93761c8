"""The embedded broker: kombu's SQLAlchemy transport on a SQLite file, tuned for two processes.

kombu passes every transport option to ``create_engine``, so its own ``polling_interval`` option
breaks it; this transport keeps that option for kombu, and opens the SQLite file in WAL mode with a
busy timeout so the web process can publish while the worker polls. Publishing skips kombu's ORM
path (a queue lookup and a Message object per message): see ``Channel._put``. Polling an empty
queue takes no write lock: see ``Channel._get``.
"""

from __future__ import annotations

import json
from functools import cached_property
from queue import Empty

from kombu.transport import TRANSPORT_ALIASES
from kombu.transport.sqlalchemy import Channel as SqlaChannel
from kombu.transport.sqlalchemy import Transport as SqlaTransport
from sqlalchemy import bindparam, create_engine, event, insert, select, true

from app.db import log_slow_statements

ALIAS = "lectern-sqla"
SLOW_SQL_OPTION = "lectern_slow_sql_ms"  # Settings.slow_sql_ms: the broker's statements are logged too
KOMBU_ONLY_OPTIONS = (
    "queue_tablename", "message_tablename", "callback", "errback", "max_retries", "interval_start",
    "interval_step", "interval_max", "retry_errors", "polling_interval", SLOW_SQL_OPTION,
)


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=15000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


class Channel(SqlaChannel):
    def __init__(self, connection, **kwargs):
        self._queue_ids: dict[str, int] = {}
        super().__init__(connection, **kwargs)

    def _engine_from_config(self):
        conninfo = self.connection.client
        options = {k: v for k, v in conninfo.transport_options.items() if k not in KOMBU_ONLY_OPTIONS}
        url = conninfo.hostname
        if url.startswith("sqlite"):
            options.setdefault("connect_args", {"timeout": 15})
        engine = create_engine(url, **options)
        if url.startswith("sqlite"):
            event.listen(engine, "connect", _sqlite_pragmas)
        slow_ms = float(conninfo.transport_options.get(SLOW_SQL_OPTION) or 0)
        if slow_ms > 0:
            log_slow_statements(engine, slow_ms)
        return engine

    def _queue_id(self, queue: str) -> int | None:
        """The queue row's id, looked up (or created) by kombu once per channel (kombu never deletes
        a queue row); None when kombu could not create it."""
        queue_id = self._queue_ids.get(queue)
        if queue_id is None:
            queue_id = self._get_or_create(queue).id
            self.session.commit()  # end the lookup's transaction; nothing else is pending
            if queue_id is not None:
                self._queue_ids[queue] = queue_id
        return queue_id

    @cached_property
    def _insert_message(self):
        return insert(self.message_cls.__table__)

    def _put(self, queue, payload, **kwargs):
        """The row kombu's ``_put`` stores (``timestamp`` stays NULL until ``_get`` takes the
        message), as one core INSERT in its own short transaction on a pooled connection: kombu's
        ORM path (a queue query, a Message object, a session commit) was 44% of a save's samples."""
        queue_id = self._queue_id(queue)
        if queue_id is None:  # kombu's own path retries creating the queue along with the message
            return super()._put(queue, payload, **kwargs)
        engine, _ = self._open()
        row = {"payload": json.dumps(payload), "visible": True, "version": 1, "queue_id": queue_id}
        with engine.begin() as conn:  # an OperationalError propagates, as kombu's _put re-raises it
            conn.execute(self._insert_message, row)
        return None

    @cached_property
    def _any_visible(self):
        m = self.message_cls.__table__
        return select(m.c.id).where(m.c.queue_id == bindparam("queue_id"), m.c.visible == true()).limit(1)

    def _get(self, queue):
        """kombu's ``_get`` opens a write transaction (BEGIN IMMEDIATE on SQLite) on every poll,
        message or none, and the worker polls each queue every LECTERN_BROKER_POLLING_INTERVAL; a
        publish that comes during one waits for it (SQLite's busy handler retries after 1, 2, 5,
        10 ms). A read without a transaction looks first; only a queue with a message waiting is
        claimed, by kombu's own ``_get``. (Under bench figure 8's load, where the queue is seldom
        empty, the publish's waits did not measurably change: 7 over 1 ms in one probe run of each.)"""
        queue_id = self._queue_id(queue)
        if queue_id is not None:
            engine, _ = self._open()
            with engine.connect() as conn:
                waiting = conn.execute(self._any_visible, {"queue_id": queue_id}).first()
            if waiting is None:
                raise Empty()
        return super()._get(queue)


class Transport(SqlaTransport):
    Channel = Channel


def register() -> None:
    """Make ``lectern-sqla+sqlite:///...`` broker URLs resolve to this transport (idempotent)."""
    TRANSPORT_ALIASES[ALIAS] = "worker.broker:Transport"


def embedded_broker_url(sqlite_url: str) -> str:
    """``sqla+sqlite:///x`` (or ``sqlite:///x``) -> ``lectern-sqla+sqlite:///x``."""
    return f"{ALIAS}+{sqlite_url.split('+', 1)[-1]}"
