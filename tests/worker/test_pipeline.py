"""The pipeline's steps run directly (no broker), against a local web stand-in, real SQLite and
PostgreSQL, and the real embedded search index."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import event

from app.db import make_engine, make_session_factory
from app.ingest.http import SafeClient
from app.ingest.pipeline import process_item
from app.ingest.registry import default_resolvers
from app.migrate import upgrade_database
from app.models import File, FilePage, Item
from app.repo import items as items_repo
from app.search.embedded import EmbeddedBackend
from app.search.query import parse_query
from app.services.items import SaveRequest, save_item, save_uploaded_pdf
from app.services.jobs import NoJobQueue
from tests.fixtures.fakeweb import make_test_pdf, settings_for

PAGES = ["First page about diffusion.", "Second page 第二页 推理.", "Third page mentions quokkas."]


@pytest.fixture(params=["sqlite", "postgresql"])
def env(request, tmp_path: Path, fakeweb):
    overrides = {"job_lease_seconds": 5, "job_max_attempts": 3}
    if request.param == "postgresql":
        overrides["database_url"] = request.getfixturevalue("pg_database_url")
    settings = settings_for(fakeweb, tmp_path, **overrides)
    engine = make_engine(settings)
    upgrade_database(engine)
    factory = make_session_factory(engine)
    search = EmbeddedBackend(settings.search_db_path)
    search.setup()

    def run(item_id: int, owner: str = "test-worker"):
        return process_item(item_id=item_id, owner=owner, settings=settings, factory=factory,
                            http=SafeClient(settings), resolvers=default_resolvers(settings), search=search)

    yield settings, factory, search, run, fakeweb
    search.close()
    engine.dispose()


def _save(factory, url: str) -> int:
    return save_item(factory, NoJobQueue(), SaveRequest(url=url)).item.id


def _snapshot(factory, item_id: int):
    with factory() as s:
        item = s.get(Item, item_id)
        files = s.query(File).count()
        pages = [(p.file_id, p.page_no, p.text) for p in s.query(FilePage).order_by(FilePage.file_id, FilePage.page_no)]
        return (item.status, item.title, item.kind, item.file_id, item.error, files, pages)


def test_direct_pdf_link_is_downloaded_extracted_and_indexed(env):
    settings, factory, search, run, web = env
    url = web.add("/papers/quokka.pdf", make_test_pdf(PAGES, title="Quokka Dynamics"), "application/pdf")
    item_id = _save(factory, url)
    outcome = run(item_id)
    assert outcome.state == "ready", outcome
    status, title, kind, file_id, error, files, pages = _snapshot(factory, item_id)
    assert (status, kind, error, files) == ("ready", "paper", "", 1)
    assert title == "Quokka Dynamics"
    assert [p[1] for p in pages] == [1, 2, 3] and "quokkas" in pages[2][2]
    hits = search.search(parse_query("quokkas")).hits
    assert [h.item_id for h in hits] == [item_id] and hits[0].page == 3


def test_each_status_is_written_once_as_the_steps_reach_it(env):
    """Six steps, three statuses (then ready): a status change is a write transaction (on SQLite it holds the
    one write lock), so steps in a row that share a status do not write it again."""
    settings, factory, search, run, web = env
    url = web.add("/papers/wombat.pdf", make_test_pdf(PAGES, title="Wombat Burrows"), "application/pdf")
    item_id = _save(factory, url)
    written: list[str] = []

    def record(_conn, _cursor, statement, parameters, _context, _many) -> None:
        if re.fullmatch(r"UPDATE items SET updated_at=[^,]+, status=\S+ WHERE items\.id = \S+", statement):
            written.append(parameters["status"] if isinstance(parameters, dict) else parameters[1])

    engine = factory.kw["bind"]
    event.listen(engine, "before_cursor_execute", record)
    try:
        assert run(item_id).state == "ready"
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert written == ["fetching", "extracting", "indexing", "ready"]


def test_running_the_job_twice_changes_nothing(env):
    settings, factory, search, run, web = env
    url = web.add("/p.pdf", make_test_pdf(PAGES), "application/pdf")
    item_id = _save(factory, url)
    assert run(item_id).state == "ready"
    before = _snapshot(factory, item_id)
    assert run(item_id, owner="another-worker").state == "skipped"
    assert _snapshot(factory, item_id) == before


def test_a_transient_failure_is_retried_and_recorded_then_gives_up(env):
    settings, factory, search, run, web = env
    url = web.add("/flaky", "upstream is down", "text/plain", status=503)
    item_id = _save(factory, url)
    first = run(item_id)
    assert first.state == "retry" and first.retry_in > 0
    with factory() as s:
        item = s.get(Item, item_id)
        assert item.status == "queued" and "Attempt 1 failed" in item.error and "503" in item.error
        assert item.attempts == 1 and item.lease_owner is None
    run(item_id)
    last = run(item_id)
    assert last.state == "failed" and "503" in last.message
    with factory() as s:
        assert s.get(Item, item_id).status == "failed"


def test_a_job_that_keeps_dying_is_failed_after_the_attempt_limit(env):
    settings, factory, search, run, web = env
    item_id = _save(factory, web.add("/p.pdf", make_test_pdf(PAGES), "application/pdf"))
    with factory() as s:
        item = s.get(Item, item_id)
        item.attempts = settings.job_max_attempts  # three earlier runs died without finishing
        s.commit()
    outcome = run(item_id)
    assert outcome.state == "failed" and "killed or crashed" in outcome.message


def test_uploaded_pdf_keeps_the_item_and_file_and_takes_title_from_the_first_page(env):
    settings, factory, search, run, web = env
    pdf = make_test_pdf(PAGES, title="Attention Is Not All You Need")
    result = save_uploaded_pdf(factory, settings, NoJobQueue(), pdf, "upload.pdf")
    assert run(result.item.id).state == "ready"
    status, title, kind, file_id, error, files, pages = _snapshot(factory, result.item.id)
    assert status == "ready" and title.startswith("Attention Is Not All You Need") and len(pages) == 3


def test_search_engine_down_still_ends_ready_and_keeps_the_update_pending(env, tmp_path):
    settings, factory, search, run, web = env
    from app.ingest.pipeline import process_item as run_with
    from app.repo import index_queue as index_repo
    from app.search.meili import MeiliBackend
    from app.services.indexing import apply_pending

    down = MeiliBackend("http://127.0.0.1:9", "key", "lectern")  # nothing listens on port 9
    item_id = _save(factory, web.add("/p.pdf", make_test_pdf(PAGES), "application/pdf"))
    outcome = run_with(item_id=item_id, owner="w", settings=settings, factory=factory, http=SafeClient(settings),
                       resolvers=default_resolvers(settings), search=down)
    assert outcome.state == "ready"
    with factory() as s:
        assert index_repo.count_pending(s) == 1
    assert apply_pending(factory, search).upserted == 1  # the engine is back
    with factory() as s:
        assert index_repo.count_pending(s) == 0
    assert [h.item_id for h in search.search(parse_query("quokkas")).hits] == [item_id]


def test_item_moved_to_the_trash_while_processed_is_not_indexed(env):
    """The user deletes the item while the worker extracts it: the job ends, and the search index
    gets the removal the trash queued, not the item."""
    from app.ingest.pipeline import DEFAULT_STEPS
    from app.repo import index_queue as index_repo
    from app.services.indexing import apply_pending
    from app.services.library import trash_items

    settings, factory, search, run, web = env
    item_id = _save(factory, web.add("/q.pdf", make_test_pdf(PAGES), "application/pdf"))

    class UserDeletesIt:
        name, status = "user", "extracting"

        def able_to_run(self, job, item) -> bool:
            return True

        def run(self, job, item, session) -> None:
            session.commit()  # the step's read ends; the user's request writes meanwhile
            trash_items(factory, NoJobQueue(), [item.id])

    steps = [*DEFAULT_STEPS[:-1], UserDeletesIt(), DEFAULT_STEPS[-1]]
    outcome = process_item(item_id=item_id, owner="w", settings=settings, factory=factory,
                           http=SafeClient(settings), resolvers=default_resolvers(settings), search=search,
                           steps=steps)
    assert outcome.state == "ready"
    assert search.search(parse_query("quokkas")).hits == []
    with factory() as s:
        assert [(r.item_id, r.op) for r in index_repo.pending_batch(s)] == [(item_id, "delete")]
    assert apply_pending(factory, search).deleted == 1
    assert search.search(parse_query("quokkas")).hits == []


def test_item_deleted_while_queued_is_skipped(env):
    settings, factory, search, run, web = env
    item_id = _save(factory, web.add("/p.pdf", make_test_pdf(PAGES), "application/pdf"))
    with factory() as s:
        items_repo.delete_item(s, s.get(Item, item_id))
        s.commit()
    assert run(item_id).state == "skipped"
