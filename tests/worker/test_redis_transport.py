"""The Redis broker (kombu's transport keeping one Redis client per channel): tasks published
through the Celery app reach the queue in order, with no Redis client made per message, and
publishing goes on after Redis drops the connections."""

from __future__ import annotations

import json

import pytest
import redis

from tests.fixtures.app import make_settings
from worker.celery_app import PROCESS_ITEM, CeleryJobQueue, make_celery
from worker.redis_transport import Channel


@pytest.fixture
def jobs(tmp_path, redis_url):
    redis.Redis.from_url(redis_url).flushdb()
    app = make_celery(make_settings(tmp_path, broker_url=redis_url))
    yield CeleryJobQueue(app)
    redis.Redis.from_url(redis_url).flushdb()


def queued(redis_url: str) -> list[dict]:
    """The messages on the default queue, oldest first (kombu LPUSHes, the worker BRPOPs)."""
    return [json.loads(m) for m in reversed(redis.Redis.from_url(redis_url).lrange("celery", 0, -1))]


def test_tasks_reach_the_queue_through_lecterns_channel_with_one_client_for_all(jobs, redis_url, monkeypatch):
    made: list[redis.Redis] = []
    real_init = redis.Redis.__init__

    def counted_init(self, *args, **kwargs):
        made.append(self)
        real_init(self, *args, **kwargs)

    assert jobs.enqueue_item(1)  # the connection, its channel and pool are made here
    monkeypatch.setattr(redis.Redis, "__init__", counted_init)
    for item_id in range(2, 22):
        assert jobs.enqueue_item(item_id)
    assert made == []  # kombu's own channel made one per message: 20
    messages = queued(redis_url)
    assert [m["headers"]["task"] for m in messages] == [PROCESS_ITEM] * 21
    assert [m["headers"]["argsrepr"] for m in messages] == [f"[{i}]" for i in range(1, 22)]
    with jobs.app.connection_for_write() as conn:
        assert isinstance(conn.default_channel, Channel)


def test_publishing_goes_on_after_redis_drops_every_connection(jobs, redis_url):
    assert jobs.enqueue_item(1)
    admin = redis.Redis.from_url(redis_url)
    admin.client_setname("lectern-test-admin")
    db = admin.connection_pool.connection_kwargs["db"]
    mine = [c["id"] for c in admin.client_list() if int(c["db"]) == db and c["name"] != "lectern-test-admin"]
    assert mine  # the channel's connection, kept in its pool
    for client_id in mine:
        admin.client_kill_filter(_id=client_id)
    sent = [jobs.enqueue_item(2), jobs.enqueue_item(3)]
    # redis-py retries a command once on a connection the server closed: no message is lost
    assert sent == [True, True]
    assert [m["headers"]["argsrepr"] for m in queued(redis_url)] == ["[1]", "[2]", "[3]"]


def test_rediss_and_the_embedded_broker_keep_their_own_transports(tmp_path):
    assert make_celery(make_settings(tmp_path, broker_url="rediss://127.0.0.1:6380/0")).conf.broker_transport is None
    assert make_celery(make_settings(tmp_path)).conf.broker_transport is None
