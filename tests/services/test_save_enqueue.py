"""A save is one transaction: the item is committed already marked as sent to the worker, then the
job is published. A publish the broker refuses leaves the item for the sweeper's next run (on
SQLite and PostgreSQL, with a real Redis broker)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import redis
from sqlalchemy import event

from app.models import Item
from app.repo import items as items_repo
from app.services.items import SaveRequest, retry_item, save_item
from tests.fixtures.services import free_port
from worker.celery_app import CeleryJobQueue, make_celery
from worker.tasks import sweep

HOUR = timedelta(hours=1)


@pytest.fixture
def broker(redis_url):
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.flushdb()


def _commits(factory) -> list[int]:
    seen: list[int] = []
    event.listen(factory.kw["bind"], "commit", lambda _conn: seen.append(1))
    return seen


def test_a_save_commits_once_and_its_job_is_on_the_broker(db_settings, db_factory, broker, redis_url):
    jobs = CeleryJobQueue(make_celery(db_settings.model_copy(update={"broker_url": redis_url})))
    commits = _commits(db_factory)
    result = save_item(db_factory, jobs, SaveRequest(url="https://blog.example.org/one-commit", tags=["b", "a"]))
    assert result.created and result.enqueued
    assert len(commits) == 1
    assert broker.llen("celery") == 1
    assert [t.name for t in result.tags] == ["a", "b"]
    with db_factory() as session:
        assert session.get(Item, result.item.id).enqueued_at is not None
        # Sent: the sweeper leaves it to the worker until the requeue delay has passed.
        assert result.item.id not in items_repo.items_needing_a_job(session, requeue_after=HOUR)


def test_a_save_the_broker_refused_is_sent_by_the_next_sweep(db_settings, db_factory, broker, redis_url):
    down = db_settings.model_copy(update={"broker_url": f"redis://127.0.0.1:{free_port()}/0"})
    result = save_item(db_factory, CeleryJobQueue(make_celery(down)), SaveRequest(url="https://blog.example.org/down"))
    assert result.created and not result.enqueued
    with db_factory() as session:
        assert session.get(Item, result.item.id).enqueued_at is None
        assert items_repo.items_needing_a_job(session, requeue_after=HOUR) == [result.item.id]

    up = make_celery(db_settings.model_copy(update={"broker_url": redis_url}))
    assert sweep(up) == 1
    assert broker.llen("celery") == 1
    with db_factory() as session:
        assert session.get(Item, result.item.id).enqueued_at is not None
        assert items_repo.items_needing_a_job(session, requeue_after=HOUR) == []


def test_a_retry_the_broker_refused_is_left_for_the_sweeper(db_settings, db_factory, redis_url):
    down = CeleryJobQueue(make_celery(db_settings.model_copy(update={"broker_url": f"redis://127.0.0.1:{free_port()}/0"})))
    item_id = save_item(db_factory, down, SaveRequest(url="https://blog.example.org/retry")).item.id
    with db_factory() as session:
        session.get(Item, item_id).status = "failed"
        session.commit()
    retry_item(db_factory, down, item_id)
    with db_factory() as session:
        assert session.get(Item, item_id).status == "queued"
        assert items_repo.items_needing_a_job(session, requeue_after=HOUR) == [item_id]


def test_the_sweeper_leaves_indexing_a_sent_item_to_its_job(db_settings, db_factory, broker, redis_url):
    """The job indexes the item when it ends; the sweeper indexing it meanwhile would index a page
    not fetched yet and put a second write ahead of the job's in the engine's queue. Once the item
    is no longer on its way (here: ready, its update still pending), the sweeper applies it."""
    from app.repo import index_queue as index_repo
    from app.search.query import parse_query

    app = make_celery(db_settings.model_copy(update={"broker_url": redis_url}))
    search = app.lectern.search
    search.setup()
    result = save_item(db_factory, CeleryJobQueue(app), SaveRequest(url="https://blog.example.org/q", title="Quokka habits"))
    assert result.enqueued
    assert sweep(app) == 0
    assert search.search(parse_query("quokka")).hits == []
    with db_factory() as session:
        assert index_repo.count_pending(session) == 1
        session.get(Item, result.item.id).status = "ready"
        session.commit()
    sweep(app)
    assert [h.item_id for h in search.search(parse_query("quokka")).hits] == [result.item.id]
    with db_factory() as session:
        assert index_repo.count_pending(session) == 0
