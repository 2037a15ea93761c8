"""Use cases on items: save (from a URL, captured content or an uploaded PDF), update, delete, retry."""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.ingest.base import Capture, Identity
from app.ingest.registry import identify_url
from app.models import File, Item, ItemKind, ItemStatus, Note, ReadState, Tag, utcnow
from app.repo import files as files_repo
from app.repo import index_queue as index_repo
from app.repo import items as items_repo
from app.repo import tags as tags_repo
from app.services.jobs import JobQueue

PDF_MAGIC = b"%PDF-"
MAX_TITLE = 1000


class SaveError(ValueError):
    """Input Lectern cannot save, with a message for the user."""


class StorageError(RuntimeError):
    """The data directory refused the write (disk full, permissions): nothing was saved.

    Not a SaveError: the input was fine, so callers answer 503 (try again later), not 400."""


@dataclass(slots=True)
class SaveRequest:
    url: str = ""
    title: str = ""
    kind: str | None = None
    text: str = ""
    html: str = ""
    selection: str = ""
    tags: list[str] = field(default_factory=list)
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class SaveResult:
    item: Item
    created: bool
    enqueued: bool
    # A created item's tags (by name) and its PDF's page count, as committed: enough to answer
    # without reading the item back. An existing item's are not known here (re-read it).
    tags: list[Tag] = field(default_factory=list)
    page_count: int | None = None


def _capture_of(req: SaveRequest) -> dict[str, Any] | None:
    if not (req.text or req.html or req.selection or req.extra):
        return None
    capture = Capture(
        url=req.url, title=req.title, kind=req.kind, text=req.text, html=req.html,
        selection=req.selection, extra=req.extra,
    )
    return {k: getattr(capture, k) for k in capture.__slots__}


def _new_item(req: SaveRequest, identity: Identity) -> Item:
    kind = req.kind if req.kind in ItemKind.__members__ else identity.kind
    return Item(
        kind=kind,
        title=req.title.strip()[:MAX_TITLE],
        url=req.url.strip(),
        canonical_url=identity.canonical_url,
        arxiv_id=identity.arxiv_id,
        doi=identity.doi,
        site=identity.site,
        text=req.text if kind == ItemKind.tweet else "",
        captured=_capture_of(req),
        status=ItemStatus.queued,
        enqueued_at=utcnow(),  # see _publish: the job is sent right after the commit
        read_state=ReadState.unread,
        authors=[],
        extra={},
    )


def save_item(
    factory: sessionmaker[Session], jobs: JobQueue, req: SaveRequest
) -> SaveResult:
    """Save a URL (with whatever the client captured); answers at once, the worker does the rest.

    The same thing saved twice, through any URL form or from two tabs at once, is one item: the
    canonical URL and external ids are unique, and a lost race re-reads the winner.
    """
    if not req.url.strip():
        raise SaveError("A URL is required.")
    try:
        identity = identify_url(req.url.strip())
    except ValueError as exc:
        raise SaveError(str(exc)) from exc

    for _ in range(2):
        with factory() as session:
            existing = items_repo.find_existing_item(
                session, canonical_url=identity.canonical_url, arxiv_id=identity.arxiv_id, doi=identity.doi
            )
            if existing is not None:
                _merge_into_existing(session, existing, req)
                session.commit()
                return SaveResult(item=existing, created=False, enqueued=False)
            try:
                # The INSERT (flushed by add_item) or a new tag's may hit a unique index that a
                # concurrent save filled after our look-up; the commit may too.
                item = items_repo.add_item(session, _new_item(req, identity))
                tags = _attach_tags_and_note(session, item, req)
                index_repo.mark_for_index(session, [item.id])
                session.commit()
            except IntegrityError:
                session.rollback()
                continue  # another request saved it first: answer with that one
        return SaveResult(item=item, created=True, enqueued=_publish(factory, jobs, item.id), tags=tags)
    raise SaveError("The item could not be saved; please try again.")


def _publish(factory: sessionmaker[Session], jobs: JobQueue, item_id: int) -> bool:
    """Send the job of an item committed with ``enqueued_at`` set (in the same transaction).

    When the broker cannot take it, ``enqueued_at`` is cleared so the sweeper sends the job on its
    next run. Should the process die between the commit and the send (or the clearing fail), the
    sweeper still sends it once ``enqueued_at`` is older than LECTERN_JOB_REQUEUE_SECONDS: nothing is
    lost, and a save that reaches the broker costs no second transaction."""
    if jobs.enqueue_item(item_id):
        return True
    with factory() as session:
        item = items_repo.get_item(session, item_id)
        if item is not None and item.status == ItemStatus.queued:
            item.enqueued_at = None
            session.commit()
    return False


def _attach_tags_and_note(session: Session, item: Item, req: SaveRequest) -> list[Tag]:
    """Add the request's tags and note to the item; returns the request's tags, by name."""
    tags: list[Tag] = []
    if req.tags:
        tags = tags_repo.get_or_create_tags(session, req.tags)
        tags_repo.add_tags_to_item(session, item.id, tags)
    body = req.note.strip()
    if req.selection.strip():
        quote = "\n".join("> " + line for line in req.selection.strip().splitlines())
        body = f"{quote}\n\n{body}".strip()
    if body:
        session.add(Note(item_id=item.id, body=body))
    return sorted(tags, key=lambda t: t.name)


def _merge_into_existing(session: Session, item: Item, req: SaveRequest) -> None:
    """A second save adds its tags and note to the item already there; nothing else changes."""
    if req.tags or req.note.strip() or req.selection.strip():
        _attach_tags_and_note(session, item, req)
        index_repo.mark_for_index(session, [item.id])


# Uploaded PDFs --------------------------------------------------------------------------------


def store_pdf_bytes(settings: Settings, data: bytes) -> tuple[str, Path]:
    """Write a PDF content-addressed under the data directory; an existing file is never rewritten."""
    if not data.startswith(PDF_MAGIC):
        raise SaveError("This file is not a PDF (it does not start with %PDF-).")
    digest = hashlib.sha256(data).hexdigest()
    target = settings.files_dir / digest[:2] / digest[2:4] / f"{digest}.pdf"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except OSError as exc:
            Path(tmp).unlink(missing_ok=True)
            raise StorageError(f"Storing the PDF failed: {exc.strerror or exc}. Nothing was saved.") from exc
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return digest, target


def get_or_create_file(session: Session, digest: str, size: int, original_name: str = "") -> File:
    existing = files_repo.get_file_by_sha256(session, digest)
    if existing is not None:
        return existing
    return files_repo.add_file(
        session, File(sha256=digest, size=size, mime="application/pdf", original_name=original_name[:512])
    )


def save_uploaded_pdf(
    factory: sessionmaker[Session],
    settings: Settings,
    jobs: JobQueue,
    data: bytes,
    filename: str,
    req: SaveRequest | None = None,
) -> SaveResult:
    """Save an uploaded PDF as a paper; the same file uploaded twice is one item."""
    req = req or SaveRequest()
    digest, _ = store_pdf_bytes(settings, data)
    canonical = f"lectern:file/{digest}"
    for _ in range(2):
        with factory() as session:
            existing = items_repo.find_existing_item(session, canonical_url=canonical)
            if existing is not None:
                _merge_into_existing(session, existing, req)
                session.commit()
                return SaveResult(item=existing, created=False, enqueued=False)
            try:
                file = get_or_create_file(session, digest, len(data), Path(filename or "").name)
                item = items_repo.add_item(
                    session,
                    Item(
                        kind=ItemKind.paper, title=(req.title or "").strip()[:MAX_TITLE], url=canonical,
                        canonical_url=canonical, file_id=file.id, status=ItemStatus.queued,
                        enqueued_at=utcnow(), authors=[], extra={"filename": Path(filename or "").name},
                        site="upload",
                    ),
                )
                tags = _attach_tags_and_note(session, item, req)
                index_repo.mark_for_index(session, [item.id])
                session.commit()
            except IntegrityError:
                session.rollback()
                continue
        return SaveResult(item=item, created=True, enqueued=_publish(factory, jobs, item.id), tags=tags,
                          page_count=file.page_count)
    raise SaveError("The upload could not be saved; please try again.")


# Changes ---------------------------------------------------------------------------------------


def retry_item(factory: sessionmaker[Session], jobs: JobQueue, item_id: int) -> Item | None:
    """Put a failed (or stuck) item back in the queue with a fresh attempt count."""
    with factory() as session:
        item = items_repo.get_item(session, item_id)
        if item is None:
            return None
        item.status = ItemStatus.queued
        item.error = ""
        item.attempts = 0
        item.lease_owner = None
        item.lease_until = None
        item.enqueued_at = utcnow()
        session.commit()
    _publish(factory, jobs, item_id)
    return item


def set_read_state(factory: sessionmaker[Session], jobs: JobQueue, item_id: int, state: str) -> Item | None:
    if state not in ReadState.__members__:
        raise SaveError(f"Unknown read state {state!r}.")
    with factory() as session:
        item = items_repo.get_item(session, item_id)
        if item is None:
            return None
        item.read_state = state
        item.read_at = utcnow() if state == ReadState.read else None
        index_repo.mark_for_index(session, [item_id])
        session.commit()
    jobs.enqueue_index()
    return item


def set_starred(factory: sessionmaker[Session], jobs: JobQueue, item_id: int, starred: bool) -> Item | None:
    with factory() as session:
        item = items_repo.get_item(session, item_id)
        if item is None:
            return None
        item.starred = starred
        index_repo.mark_for_index(session, [item_id])
        session.commit()
    jobs.enqueue_index()
    return item


def delete_item(factory: sessionmaker[Session], jobs: JobQueue, item_id: int) -> bool:
    """Delete an item with its notes and tag links; the stored PDF stays if another item uses it."""
    with factory() as session:
        item = items_repo.get_item(session, item_id)
        if item is None:
            return False
        items_repo.delete_item(session, item)
        index_repo.mark_for_index(session, [item_id], op="delete")
        session.commit()
    jobs.enqueue_index()
    return True


def update_item(
    factory: sessionmaker[Session],
    jobs: JobQueue,
    item_id: int,
    *,
    title: str | None = None,
    tags: list[str] | None = None,
    read_state: str | None = None,
    starred: bool | None = None,
) -> Item | None:
    """Change an item's title, tags (the list replaces them), read state or star in one transaction."""
    if read_state is not None and read_state not in ReadState.__members__:
        raise SaveError(f"Unknown read state {read_state!r}.")
    with factory() as session:
        item = items_repo.get_item(session, item_id)
        if item is None or item.trashed_at is not None:
            return None
        if title is not None:
            item.title = title.strip()[:MAX_TITLE]
        if read_state is not None and read_state != item.read_state:
            item.read_state = read_state
            item.read_at = utcnow() if read_state == ReadState.read else None
        if starred is not None:
            item.starred = starred
        if tags is not None:
            wanted = tags_repo.get_or_create_tags(session, tags)
            keep = {t.id for t in wanted}
            for old in tags_repo.tags_of_item(session, item_id):
                if old.id not in keep:
                    tags_repo.remove_tag_from_item(session, item_id, old.id)
            tags_repo.add_tags_to_item(session, item_id, wanted)
        index_repo.mark_for_index(session, [item_id])
        session.commit()
    jobs.enqueue_index()
    return item
