"""Turning imported entries into items, in batches, and the import job the worker runs.

- Nothing is fetched: each entry's identity comes from ``identify_url`` (offline), and the item is
  created as ``queued`` with the file's metadata; the worker's sweeper fetches it later. An entry
  with no link at all (a book with only a title) is identified by title, year and first author
  and is ``ready`` at once.
- An entry whose URL, arXiv id or DOI is already in the library is merged: its tags are added and
  the item's empty fields filled. So running the same import twice creates nothing new.
- Inserts are batched (one lookup, one multi-row insert per batch), so 10,000 entries take seconds.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.ingest.registry import identify_url
from app.models import ImportJob, Item, ItemKind, ItemStatus, ReadState, utcnow
from app.repo import imports as imports_repo
from app.repo import index_queue as index_repo
from app.repo import tags as tags_repo
from app.search.base import SearchBackend
from app.services.imports import get_importer
from app.services.imports.base import Entry, Importer, Skipped, UnreadableFile, short
from app.services.imports.zipsafe import SafeZip, UnsafeZip, is_zip
from app.services.items import SaveError, get_or_create_file, store_pdf_bytes
from app.services.jobs import JobQueue

log = logging.getLogger(__name__)
# Entries per transaction. On SQLite a batch holds the one write lock while it inserts, and a save
# waits for it; the worker runs niced, so under load a batch holds it many times its CPU time (a
# batch of 100 held it 330-530 ms in bench/run's figure 8). Measured in-process at 100k items, per
# 10,000 entries: batches of 500 held it 52 ms (median) for 2.8 s in all, of 100 11 ms for 2.8 s,
# of 25 3.2 ms for 3.3 s. PostgreSQL has no such lock.
BATCH = 25
IMPORTED_PREFIX = "lectern:import/"
FILE_PREFIX = "lectern:file/"
MAX_TITLE = 1000

Progress = Callable[["ImportSummary"], None]


@dataclass(slots=True)
class ImportSummary:
    total: int = 0
    processed: int = 0
    created: int = 0
    merged: int = 0
    skipped: list[dict[str, str]] = field(default_factory=list)
    item_ids: list[int] = field(default_factory=list)  # created or merged, in file order

    def skip(self, entry: str, reason: str) -> None:
        self.skipped.append({"entry": entry, "reason": reason})


def read_entries(importer: Importer, data: bytes) -> tuple[list[Entry], list[Skipped], SafeZip | None]:
    """Parse a file (or the documents in a zip upload); raises UnreadableFile / UnsafeZip for the
    whole file, never for one entry."""
    archive = None
    documents = [data]
    if is_zip(data):
        archive = SafeZip(data)
        names = archive.find(importer.suffixes)
        if not names:
            raise UnreadableFile(f"the zip holds no {' / '.join(importer.suffixes)} file")
        documents = [archive.read(n) for n in names]
    entries: list[Entry] = []
    skipped: list[Skipped] = []
    for doc in documents:
        for value in importer.parse(doc):
            (skipped if isinstance(value, Skipped) else entries).append(value)
    return entries, skipped, archive


def _fallback_key(entry: Entry) -> str:
    year = entry.published_at.year if entry.published_at else ""
    first = entry.authors[0].split()[-1].lower() if entry.authors else ""
    basis = f"{' '.join(entry.title.lower().split())}|{year}|{first}"
    return IMPORTED_PREFIX + hashlib.sha256(basis.encode()).hexdigest()[:32]


@dataclass(slots=True)
class _Planned:
    entry: Entry
    canonical: str
    url: str
    kind: str
    arxiv_id: str | None
    doi: str | None
    file_id: int | None = None

    def keys(self) -> list[str]:
        keys = [f"u:{self.canonical}"]
        if self.arxiv_id:
            keys.append(f"a:{self.arxiv_id}")
        if self.doi:
            keys.append(f"d:{self.doi}")
        return keys


def _plan(session: Session, settings: Settings, entry: Entry, archive: SafeZip | None,
          summary: ImportSummary) -> _Planned | None:
    file_id, pdf_canonical = None, ""
    if entry.pdf_paths and archive is not None:
        for path in entry.pdf_paths:
            name = archive.resolve(path)
            if name is None:
                continue
            try:
                data = archive.read(name)
                digest, _ = store_pdf_bytes(settings, data)
            except (SaveError, UnsafeZip) as exc:
                summary.skip(entry.label, f"PDF {short(path, 60)} not attached: {exc}")
                continue
            file_id = get_or_create_file(session, digest, len(data), Path(name).name).id
            pdf_canonical = FILE_PREFIX + digest
            break
    if entry.ref:
        try:
            identity = identify_url(entry.ref)
        except ValueError as exc:
            summary.skip(entry.label, str(exc))
            return None
        url = entry.ref if entry.ref.lower().startswith(("http://", "https://")) else identity.canonical_url
        kind = entry.kind if entry.kind in ItemKind.__members__ else identity.kind
        return _Planned(entry, identity.canonical_url, url, kind, identity.arxiv_id or entry.arxiv_id,
                        identity.doi or entry.doi, file_id)
    if not entry.title.strip():
        summary.skip(entry.label, "no title, DOI, arXiv id or URL")
        return None
    canonical = pdf_canonical if file_id is not None else _fallback_key(entry)
    return _Planned(entry, canonical, canonical, entry.kind or ItemKind.paper, entry.arxiv_id, entry.doi, file_id)


def _capture(p: _Planned) -> dict[str, Any] | None:
    e = p.entry
    if not e.text:
        return None
    return {"url": p.url, "title": e.title, "kind": p.kind, "text": e.text, "html": "", "selection": "",
            "extra": dict(e.extra)}


def _new_item(p: _Planned, source: str) -> Item:
    e = p.entry
    fetchable = not p.canonical.startswith(IMPORTED_PREFIX)
    return Item(
        kind=p.kind, title=e.title.strip()[:MAX_TITLE], authors=list(e.authors), abstract=e.abstract,
        text=e.text, url=p.url, canonical_url=p.canonical, arxiv_id=p.arxiv_id, doi=p.doi,
        site="upload" if p.canonical.startswith(FILE_PREFIX) else "",
        extra={**e.extra, "imported_from": source}, captured=_capture(p), published_at=e.published_at,
        saved_at=e.saved_at or utcnow(), read_state=ReadState.unread,
        status=ItemStatus.queued if fetchable else ItemStatus.ready, file_id=p.file_id,
    )


def _merge(item: Item, p: _Planned) -> None:
    """Fill what the item lacks from the entry; what is there already stays."""
    e = p.entry
    if e.title and not item.title:
        item.title = e.title[:MAX_TITLE]
    if e.authors and not item.authors:
        item.authors = list(e.authors)
    if e.abstract and not item.abstract:
        item.abstract = e.abstract
    if e.text and not item.text:
        item.text = e.text
    if e.published_at and not item.published_at:
        item.published_at = e.published_at
    if p.file_id and not item.file_id:
        item.file_id = p.file_id
    missing = {k: v for k, v in e.extra.items() if k not in (item.extra or {})}
    if missing:
        item.extra = {**(item.extra or {}), **missing}


def _import_batch(session: Session, settings: Settings, batch: list[Entry], archive: SafeZip | None,
                  source: str, summary: ImportSummary, seen: dict[str, int]) -> None:
    planned = [p for e in batch if (p := _plan(session, settings, e, archive, summary)) is not None]
    found = imports_repo.existing_items(
        session, [p.canonical for p in planned], [p.arxiv_id for p in planned if p.arxiv_id],
        [p.doi for p in planned if p.doi],
    )
    by_key: dict[str, Item] = {}
    for item in found:
        by_key[f"u:{item.canonical_url}"] = item
        if item.arxiv_id:
            by_key[f"a:{item.arxiv_id}"] = item
        if item.doi:
            by_key[f"d:{item.doi}"] = item
    new: list[tuple[_Planned, Item]] = []
    merged: list[tuple[_Planned, Item]] = []
    pending: dict[str, Item] = {}  # keys of items created in this batch
    for p in planned:
        keys = p.keys()
        existing = next((by_key[k] for k in keys if k in by_key), None) or next(
            (pending[k] for k in keys if k in pending), None)
        if existing is None and any(k in seen for k in keys):
            existing = session.get(Item, next(seen[k] for k in keys if k in seen))
        if existing is not None:
            _merge(existing, p)
            merged.append((p, existing))
            continue
        item = _new_item(p, source)
        new.append((p, item))
        for k in keys:
            pending[k] = item
    imports_repo.insert_items(session, [item for _, item in new])
    for p, item in new:
        for k in p.keys():
            seen[k] = item.id
    names = [t for p in planned for t in p.entry.tags if 0 < len(tags_repo.normalise_tag_name(t)) <= 128]
    tags = {t.name_key: t for t in tags_repo.get_or_create_tags(session, names)} if names else {}
    touched = [item.id for _, item in merged]
    have = imports_repo.tag_links_of(session, touched)
    links: set[tuple[int, int]] = set()
    for p, item in [*new, *merged]:
        for name in p.entry.tags:
            tag = tags.get(tags_repo.normalise_tag_name(name).lower()[:128])
            if tag is not None and (item.id, tag.id) not in have:
                links.add((item.id, tag.id))
    imports_repo.insert_tag_links(session, sorted(links))
    imports_repo.insert_index_pending(session, [item.id for _, item in new])
    if touched:
        index_repo.mark_for_index(session, touched)
    summary.created += len(new)
    summary.merged += len(merged)
    summary.item_ids += [item.id for _, item in new] + [item.id for _, item in merged]


def import_entries(
    factory: sessionmaker[Session], settings: Settings, entries: Iterable[Entry], *, source: str,
    archive: SafeZip | None = None, summary: ImportSummary | None = None, progress: Progress | None = None,
    batch: int = BATCH,
) -> ImportSummary:
    entries = list(entries)
    summary = summary or ImportSummary()
    summary.total += len(entries)
    seen: dict[str, int] = {}
    for start in range(0, len(entries), batch):
        chunk = entries[start : start + batch]
        with factory() as session:
            _import_batch(session, settings, chunk, archive, source, summary, seen)
            session.commit()
        summary.processed += len(chunk)
        if progress:
            progress(summary)
    return summary


# Import jobs -----------------------------------------------------------------------------------


def imports_dir(settings: Settings) -> Path:
    return settings.data_dir / "imports"


def start_import(factory: sessionmaker[Session], settings: Settings, jobs: JobQueue, fmt: str,
                 filename: str, data: bytes) -> ImportJob:
    """Keep the upload and queue an import job for the worker; answers at once."""
    importer = get_importer(fmt)
    if not data:
        raise UnreadableFile("The file is empty.")
    folder = imports_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{uuid.uuid4().hex}{Path(filename or '').suffix[:16]}"
    path.write_bytes(data)
    with factory() as session:
        job = imports_repo.add_job(session, ImportJob(format=importer.name, filename=Path(filename or "").name[:512],
                                                      path=str(path), status="queued", skipped=[]))
        session.commit()
        session.refresh(job)
        session.expunge(job)
    jobs.enqueue_import(job.id)
    return job


def run_import_job(factory: sessionmaker[Session], settings: Settings, job_id: int,
                   search: SearchBackend | None = None, progress: Progress | None = None) -> ImportJob | None:
    """Run a queued import (in the worker, or in `lectern import`); the job row shows progress."""
    with factory() as session:
        if not imports_repo.claim_job(session, job_id):
            session.rollback()
            return None
        session.commit()
        job = imports_repo.get_job(session, job_id)
        assert job is not None
        fmt, path = job.format, Path(job.path)

    def report(summary: ImportSummary) -> None:
        with factory() as session:
            imports_repo.update_job(session, job_id, total=summary.total, processed=summary.processed,
                                    created=summary.created, merged=summary.merged, skipped=list(summary.skipped))
            session.commit()
        if progress:
            progress(summary)

    summary = ImportSummary()
    try:
        entries, skipped, archive = read_entries(get_importer(fmt), path.read_bytes())
        summary.skipped += [{"entry": s.entry, "reason": s.reason} for s in skipped]
        summary.total = len(skipped)
        summary.processed = len(skipped)
        report(summary)
        import_entries(factory, settings, entries, source=fmt, archive=archive, summary=summary, progress=report)
        status, error = "done", ""
    except (UnreadableFile, UnsafeZip, OSError) as exc:
        status, error = "failed", str(exc)
    except Exception as exc:  # noqa: BLE001 - the job row must say what happened
        log.exception("import %s failed", job_id)
        status, error = "failed", f"unexpected error: {exc}"
    report(summary)
    with factory() as session:
        imports_repo.update_job(session, job_id, status=status, error=error, finished_at=utcnow())
        session.commit()
    path.unlink(missing_ok=True)
    if search is not None and status == "done":
        from app.services.indexing import apply_pending, prepare_search

        prepare_search(factory, search)  # a fresh instance (or `lectern import` before any start) has no index yet
        apply_pending(factory, search, batch=500)
    with factory() as session:
        job = imports_repo.get_job(session, job_id)
        session.expunge(job)
    return job
