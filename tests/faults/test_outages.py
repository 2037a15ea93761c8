"""Nothing is lost when the broker, the search engine or the database misbehaves: each outage ends
with every item intact and processed once the component is back."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest

from app.db import make_engine, make_session_factory
from app.models import Item
from app.repo.users import get_owner
from app.services.auth import create_api_token
from tests.faults.servers import MeiliServer, RedisServer
from tests.fixtures.app import csrf_of, login, make_settings, wait_for
from tests.fixtures.fakeweb import make_test_pdf


def _token(settings) -> str:
    factory = make_session_factory(make_engine(settings))
    with factory() as session:
        token = create_api_token(session, get_owner(session), "faults").plaintext
        session.commit()
    return token


def _status(settings, item_id: int) -> str:
    factory = make_session_factory(make_engine(settings))
    with factory() as session:
        return session.get(Item, item_id).status


def test_broker_down_while_saving_then_the_sweeper_sends_the_job_when_it_returns(
    tmp_path, fakeweb, make_client, start_worker
):
    redis = RedisServer()  # not started yet: the broker is down
    # A requeue delay longer than the test: the sweeper must send the job on its next run because
    # the save recorded that it never reached the broker, not because an hour went by.
    settings = make_settings(tmp_path, broker_url=redis.url, fetch_allow_hosts=["127.0.0.1"], sweep_interval=0.5,
                             job_requeue_seconds=3600)
    client = make_client(settings)
    url = fakeweb.add("/paper.pdf", make_test_pdf(["A page about wombats."]), "application/pdf")
    saved = client.post("/api/v1/items", json={"url": url}, headers={"Authorization": f"Bearer {_token(settings)}"})
    assert saved.status_code == 201
    body = saved.json()
    assert body["queued"] is False and body["item"]["status"] == "queued"  # committed, told it waits
    page = login(client).post("/items", data={"url": fakeweb.url("/second.pdf"), "csrf_token": csrf_of(client)},
                              headers={"HX-Request": "true"})
    assert "unreachable" in page.text  # the page says it will be processed later
    try:
        redis.start()
        worker = start_worker(settings)
        wait_for(lambda: _status(settings, body["item"]["id"]) == "ready", timeout=60,
                 what=f"the item to be processed after the broker returned\n{worker.log()}")
    finally:
        redis.stop()


def test_search_engine_down_saving_works_search_says_unavailable_and_catches_up(
    tmp_path, fakeweb, make_client, start_worker
):
    meili = MeiliServer(tmp_path / "meili-db")
    meili.start()
    settings = make_settings(tmp_path, search_backend="meilisearch", meili_url=meili.url, meili_key=meili.KEY,
                             meili_index="faults")
    client = login(make_client(settings))
    worker = start_worker(settings)
    token = _token(settings)
    try:
        meili.stop()
        url = fakeweb.add("/paper.pdf", make_test_pdf(["Numbats dig termites."]), "application/pdf")
        saved = client.post("/api/v1/items", json={"url": url}, headers={"Authorization": f"Bearer {token}"})
        assert saved.status_code == 201
        item_id = saved.json()["item"]["id"]
        wait_for(lambda: _status(settings, item_id) == "ready", timeout=60, what=f"ready\n{worker.log()}")
        page = client.get("/search", params={"q": "numbats"})
        assert page.status_code == 503 and "Search is unavailable" in page.text
        api = client.get("/api/v1/search", params={"q": "numbats"}, headers={"Authorization": f"Bearer {token}"})
        assert api.status_code == 503 and api.json()["error"]["code"] == "unavailable"

        meili.start()  # the sweeper applies the pending index update
        def found():
            r = client.get("/api/v1/search", params={"q": "numbats"}, headers={"Authorization": f"Bearer {token}"})
            return r.status_code == 200 and [h["item_id"] for h in r.json()["hits"]] == [item_id]

        wait_for(found, timeout=60, what=f"the pending index update after the engine returned\n{worker.log()}")
    finally:
        meili.stop()


def test_a_locked_sqlite_database_makes_saves_wait_not_fail(settings, make_client):
    client = make_client(settings)
    token = _token(settings)
    blocker = sqlite3.connect(settings.sqlite_path, timeout=1, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    released = threading.Timer(1.5, blocker.rollback)
    released.start()
    started = time.monotonic()
    response = client.post("/api/v1/items", json={"url": "https://example.org/locked"},
                           headers={"Authorization": f"Bearer {token}"})
    waited = time.monotonic() - started
    released.join()
    blocker.close()
    assert response.status_code == 201, response.text
    assert waited >= 1.0  # it waited for the lock instead of failing
    assert _status(settings, response.json()["item"]["id"]) == "queued"


def test_a_database_locked_for_too_long_answers_503_and_writes_nothing(tmp_path, make_client):
    settings = make_settings(tmp_path, sqlite_busy_timeout=0.3)  # the web process gives up after 0.3 s
    client = make_client(settings)
    token = _token(settings)
    blocker = sqlite3.connect(settings.sqlite_path, timeout=1)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        response = client.post("/api/v1/items", json={"url": "https://example.org/locked"},
                               headers={"Authorization": f"Bearer {token}"})
    finally:
        blocker.rollback()
        blocker.close()
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "unavailable"
    factory = make_session_factory(make_engine(settings))
    with factory() as session:
        assert session.query(Item).count() == 0


@pytest.mark.parametrize("origin", ["upload", "web"])
def test_check_finds_and_repairs_orphans_and_missing_files(tmp_path, fakeweb, origin):
    from app.migrate import upgrade_database
    from app.services.items import SaveRequest, save_item, save_uploaded_pdf, store_pdf_bytes
    from app.services.jobs import NoJobQueue
    from app.services.maintenance import check_library

    settings = make_settings(tmp_path)
    engine = make_engine(settings)
    upgrade_database(engine)
    factory = make_session_factory(engine)
    # A web process that died after writing an upload but before committing its item:
    _, orphan = store_pdf_bytes(settings, make_test_pdf(["orphan"]))
    # An item whose stored PDF has vanished:
    pdf = make_test_pdf(["kept"])
    if origin == "upload":
        item_id = save_uploaded_pdf(factory, settings, NoJobQueue(), pdf, "kept.pdf").item.id
    else:
        item_id = save_item(factory, NoJobQueue(), SaveRequest(url=fakeweb.url("/kept.pdf"))).item.id
        from app.services.items import get_or_create_file

        digest, _ = store_pdf_bytes(settings, pdf)
        with factory() as s:
            s.get(Item, item_id).file_id = get_or_create_file(s, digest, len(pdf)).id
            s.commit()
    with factory() as s:
        sha = s.get(Item, item_id).file.sha256 if False else None  # noqa: F841 - relationships are lazy=raise
    kept = next(p for p in settings.files_dir.rglob("*.pdf") if p != orphan)
    kept.unlink()

    report = check_library(factory, settings, None, grace_seconds=0)
    assert report.orphan_files == [orphan] and report.items_with_missing_file == [item_id]
    assert orphan.exists()  # checking changes nothing

    repaired = check_library(factory, settings, None, repair=True, grace_seconds=0)
    assert repaired.repaired and not orphan.exists()
    with factory() as s:
        item = s.get(Item, item_id)
        assert item is not None and item.file_id is None
        if origin == "upload":
            assert item.status == "failed" and "upload it again" in item.error
        else:
            assert item.status == "queued"
    assert check_library(factory, settings, None, grace_seconds=0).problems == 0
