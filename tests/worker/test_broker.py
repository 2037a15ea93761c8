"""The embedded broker (kombu's SQLAlchemy transport on a SQLite file): what ``Channel._put`` writes
with one core INSERT is what kombu's own ``_get`` reads back, in order, per queue; its statements
are in the slow-statement log (LECTERN_SLOW_SQL_MS); polling an empty queue takes no write lock."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from queue import Empty

import pytest
from kombu import Connection
from kombu.transport.sqlalchemy import Channel as KombuChannel
from sqlalchemy import event, func, select

from tests.fixtures.app import make_settings
from tests.fixtures.sql import logged_slow_statements
from worker.broker import embedded_broker_url, register


@pytest.fixture
def channel(tmp_path: Path):
    register()
    with Connection(embedded_broker_url(f"sqla+sqlite:///{tmp_path / 'broker.db'}")) as conn:
        yield conn.default_channel


def statements_on(engine) -> list[str]:
    seen: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda _c, _cur, sql, *_a: seen.append(sql))
    return seen


def test_messages_put_on_two_queues_come_back_from_kombus_get_in_order(channel):
    sent = {"a": [], "b": []}
    for i in range(5):
        for queue in ("a", "b"):
            payload = {"body": f"{queue}-{i}", "headers": {"n": i}, "properties": {"priority": 0}}
            channel._put(queue, payload)
            sent[queue].append(payload)

    assert [channel._get("a") for _ in range(5)] == sent["a"]
    assert [channel._get("b") for _ in range(5)] == sent["b"]
    assert channel._size("a") == channel._size("b") == 0


def test_each_queue_row_is_made_once_and_each_put_is_one_insert(channel):
    channel._put("a", {"body": "first"})
    engine, _ = channel._open()
    seen = statements_on(engine)
    for i in range(3):
        channel._put("a", {"body": i})

    assert len(seen) == 3 and all(sql.lstrip().upper().startswith("INSERT INTO KOMBU_MESSAGE") for sql in seen)
    queue_cls = channel.queue_cls
    names = channel.session.scalars(select(queue_cls.name).order_by(queue_cls.name)).all()
    assert names == ["a"]
    assert channel._size("a") == 4


def test_the_row_put_stores_is_the_row_kombus_put_stores(channel):
    payload = {"body": "eyJhcmdzIjogWzQyXX0=", "content-encoding": "utf-8", "headers": {"task": "t"}}
    KombuChannel._put(channel, "q", payload)
    channel._put("q", payload)

    message_cls = channel.message_cls
    columns = [c for c in message_cls.__table__.columns if c.name != "id"]
    rows = channel.session.execute(select(*columns).order_by(message_cls.id)).all()
    assert rows[0] == rows[1]
    assert json.loads(rows[1].payload) == payload
    assert rows[1].visible is True and rows[1].version == 1 and rows[1].timestamp is None
    channel.session.commit()
    assert channel._get("q") == channel._get("q") == payload


def test_a_saved_items_task_goes_through_the_celery_app_to_the_queue(settings):
    from worker.celery_app import PROCESS_ITEM, CeleryJobQueue, make_celery

    settings.ensure_data_dir()
    app = make_celery(settings)
    jobs = CeleryJobQueue(app)
    assert jobs.enqueue_item(41) and jobs.enqueue_item(42)

    with app.connection_for_read() as conn:
        ch = conn.default_channel
        got = [ch._get("celery"), ch._get("celery")]
        queue_rows = ch.session.scalar(select(func.count()).select_from(ch.queue_cls))
    assert [m["headers"]["task"] for m in got] == [PROCESS_ITEM, PROCESS_ITEM]
    assert [m["headers"]["argsrepr"] for m in got] == ["[41]", "[42]"]
    assert queue_rows == 1


def test_with_slow_sql_ms_a_publish_that_waits_for_the_broker_file_is_logged(tmp_path, caplog):
    """LECTERN_SLOW_SQL_MS covers the embedded broker's statements: the broker file is held by
    another connection (as the worker's poll does) for 300 ms, and the publish's INSERT is logged
    with that wait. The job still reaches the queue."""
    from worker.celery_app import CeleryJobQueue, make_celery

    settings = make_settings(tmp_path, slow_sql_ms=100)
    settings.ensure_data_dir()
    app = make_celery(settings)
    jobs = CeleryJobQueue(app)
    assert jobs.enqueue_item(1)  # creates the broker file and its queue row
    caplog.set_level("WARNING", logger="lectern.sql")
    assert jobs.enqueue_item(2)
    assert logged_slow_statements(caplog) == []

    holder = sqlite3.connect(settings.data_dir / "broker.db", isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.3, lambda: holder.execute("COMMIT"))
    release.start()
    try:
        assert jobs.enqueue_item(3)
    finally:
        release.join()
        holder.close()
    [slow] = logged_slow_statements(caplog)
    assert slow.statement.startswith("INSERT INTO kombu_message")
    assert slow.wall_ms >= 250 and slow.waited

    with app.connection_for_read() as conn:
        ch = conn.default_channel
        got = [ch._get("celery")["headers"]["argsrepr"] for _ in range(3)]
    assert got == ["[1]", "[2]", "[3]"]


def test_polling_an_empty_queue_does_not_wait_for_the_write_lock(channel, tmp_path):
    """The worker polls every queue several times a second; kombu's own _get took SQLite's write
    lock each time, so a save publishing meanwhile waited for it. Here another connection holds the
    lock for 2 s: a poll of the empty queue answers at once, and a message put after it is claimed."""
    channel._put("a", {"body": "first"})
    assert channel._get("a") == {"body": "first"}  # the queue row exists; the queue is empty
    holder = sqlite3.connect(tmp_path / "broker.db", isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    release = threading.Timer(2.0, lambda: holder.execute("COMMIT"))
    release.start()
    try:
        t = time.perf_counter()
        with pytest.raises(Empty):
            channel._get("a")
        assert time.perf_counter() - t < 1.0
    finally:
        release.join()
        holder.close()
    channel._put("a", {"body": "second"})
    assert channel._get("a") == {"body": "second"}
    with pytest.raises(Empty):
        channel._get("a")
