"""Keeping the search index in step with the database (the source of truth)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from app.models import Item
from app.repo import files as files_repo
from app.repo import index_queue as index_repo
from app.repo import items as items_repo
from app.repo import notes as notes_repo
from app.search.base import SearchBackend, SearchDocument, SearchUnavailable
from app.services.jobs import JobQueue

log = logging.getLogger(__name__)


def build_document(session: Session, item: Item) -> SearchDocument:
    """Flatten an item (with tags loaded) into what the search engine indexes."""
    pages = files_repo.page_texts(session, item.file_id) if item.file_id else []
    published = (
        datetime(item.published_at.year, item.published_at.month, item.published_at.day, tzinfo=UTC)
        if item.published_at
        else None
    )
    return SearchDocument(
        item_id=item.id,
        kind=item.kind,
        title=item.title or "",
        authors=list(item.authors or []),
        abstract=item.abstract or "",
        tags=[t.name for t in item.tags],
        notes=notes_repo.note_bodies_of_item(session, item.id),
        body=item.text or "",
        pages=pages,
        site=item.site or "",
        url=item.url,
        read_state=item.read_state,
        starred=bool(item.starred),
        year=item.published_at.year if item.published_at else None,
        has_pdf=item.file_id is not None,
        saved_at=item.saved_at,
        published_at=published,
    )


@dataclass(slots=True)
class IndexRun:
    upserted: int = 0
    deleted: int = 0
    failed: bool = False
    error: str = ""


def apply_pending(
    factory: sessionmaker[Session],
    backend: SearchBackend,
    *,
    batch: int | None = None,
    leave_jobs_sent_within: timedelta | None = None,
) -> IndexRun:
    """Push every pending index update to the engine; rows stay pending while it is down.

    The worker's sweeper and index task pass ``leave_jobs_sent_within`` (the requeue delay): an
    item whose processing job is under way is indexed by that job when it ends, not twice
    (index_repo.pending_batch). ``batch``: items per upsert (default: the backend's batch_size)."""
    batch = batch or backend.batch_size
    run = IndexRun()
    while True:
        with factory() as session:
            rows = index_repo.pending_batch(session, limit=batch, leave_jobs_sent_within=leave_jobs_sent_within)
            if not rows:
                return run
            ids = [r.item_id for r in rows]
            items = items_repo.get_items_by_ids(session, ids)
            docs = [build_document(session, items[i]) for i in ids if i in items]
            gone = [i for i in ids if i not in items]
            try:
                if docs:
                    backend.upsert(docs)
                if gone:
                    backend.delete(gone)
            except SearchUnavailable as exc:
                index_repo.record_index_failure(session, ids, str(exc))
                session.commit()
                run.failed, run.error = True, str(exc)
                log.warning("search engine unavailable, %d index updates kept pending: %s", len(ids), exc)
                return run
            index_repo.clear_pending(session, rows)
            session.commit()
            run.upserted += len(docs)
            run.deleted += len(gone)


def prepare_search(factory: sessionmaker[Session], backend: SearchBackend, jobs: JobQueue | None = None) -> int:
    """Set the backend up (idempotent). When that emptied an index laid out by another release,
    queue the whole library in the index outbox (and wake the worker, if given): search fills back
    in on its own, with no command to remember. Returns the number of items queued."""
    backend.rebuilt = False
    backend.setup()
    if not backend.rebuilt:
        return 0
    with factory() as session:
        queued = index_repo.mark_all_for_index(session)
        session.commit()
    log.warning("the search index was emptied for a new layout; %d items are queued for indexing", queued)
    if jobs is not None:
        jobs.enqueue_index()  # the sweeper applies the outbox anyway if the broker is down
    return queued


def reindex_all(
    factory: sessionmaker[Session],
    backend: SearchBackend,
    *,
    batch: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Rebuild the whole index from the database: clear, then upsert every item in batches
    (``batch`` items each; default: the backend's batch_size)."""
    batch = batch or backend.batch_size
    backend.setup()
    backend.clear()
    with factory() as session:
        ids = items_repo.all_item_ids(session)
    done = 0
    for start in range(0, len(ids), batch):
        chunk = ids[start : start + batch]
        with factory() as session:
            items = items_repo.get_items_by_ids(session, chunk)
            backend.upsert([build_document(session, items[i]) for i in chunk if i in items])
        done += len(chunk)
        if progress:
            progress(done, len(ids))
    return done


def missing_from_index(factory: sessionmaker[Session], backend: SearchBackend) -> tuple[list[int], list[int]]:
    """(items the index lacks, index entries with no item)."""
    with factory() as session:
        ids = set(items_repo.all_item_ids(session))
    indexed = backend.indexed_ids()
    return sorted(ids - indexed), sorted(indexed - ids)
