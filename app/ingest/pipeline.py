"""The ingest pipeline: resolve metadata -> download -> extract -> store -> index.

Each step has one interface (``able_to_run``, ``run``) and works on a Job that carries what earlier
steps learned. ``process_item`` wraps the steps with the item's lease and its status: every status
change is committed the moment it happens, so the page shows it. Running the pipeline twice on the
same item changes nothing the second time (a ready item is not claimed again; a stored PDF is reused
by its hash; pages already extracted are not extracted again).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Protocol

from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.extract.pdf import PdfText
from app.extract.sandbox import ExtractError, extract_in_child, thumbnail_in_child
from app.ingest.base import Capture, ResolveContext, Resolved, ResolveError, Resolver
from app.ingest.http import SafeClient
from app.ingest.registry import identify_url, pick_resolver
from app.ingest.resolvers.pdf import metadata_from_pdf
from app.models import Item, ItemStatus, utcnow
from app.repo import files as files_repo
from app.repo import index_queue as index_repo
from app.repo import items as items_repo
from app.search.base import SearchBackend, SearchUnavailable
from app.services.indexing import build_document
from app.services.items import (
    PDF_MAGIC,
    SaveError,
    StorageError,
    get_or_create_file,
    store_pdf_bytes,
)

log = logging.getLogger(__name__)

UPLOAD_PREFIX = "lectern:file/"


class PipelineError(Exception):
    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


@dataclass
class Job:
    """One run of the pipeline on one item, and what its steps learned so far."""

    item_id: int
    settings: Settings
    factory: sessionmaker[Session]
    http: SafeClient
    resolvers: Sequence[Resolver]
    search: SearchBackend | None
    report: Callable[[str], None]  # commits a status change
    resolved: Resolved | None = None
    pdf_path: Path | None = None
    pdf_sha256: str | None = None
    pdf_size: int = 0
    extraction: PdfText | None = None
    notices: list[str] = field(default_factory=list)


class Step(Protocol):
    name: str
    status: ItemStatus

    def able_to_run(self, job: Job, item: Item) -> bool: ...

    def run(self, job: Job, item: Item, session: Session) -> None: ...


def _fill(item: Item, resolved: Resolved, session: Session) -> None:
    """Copy what the resolver learned onto the item; empty values keep what is there."""
    if resolved.kind:
        item.kind = resolved.kind
    for name in ("title", "abstract", "text", "site"):
        value = getattr(resolved, name)
        if value:
            setattr(item, name, value[:1000] if name == "title" else value)
    if resolved.authors:
        item.authors = list(resolved.authors)
    if resolved.published_at:
        item.published_at = resolved.published_at
    if resolved.extra:
        item.extra = {**(item.extra or {}), **resolved.extra}
    _claim_external_ids(session, item, arxiv_id=resolved.arxiv_id, doi=resolved.doi)


def _claim_external_ids(session: Session, item: Item, *, arxiv_id: str | None, doi: str | None) -> None:
    """Set arXiv id / DOI unless another item already holds them (then remember which)."""
    for attr, value in (("arxiv_id", arxiv_id), ("doi", doi)):
        if not value or getattr(item, attr):
            continue
        other = items_repo.find_existing_item(session, canonical_url="\0", **{attr: value})
        if other is None or other.id == item.id:
            setattr(item, attr, value)
        else:
            item.extra = {**(item.extra or {}), "same_as": other.id}


class ResolveStep:
    name = "resolve"
    status = ItemStatus.fetching

    def able_to_run(self, job: Job, item: Item) -> bool:
        return not item.canonical_url.startswith(UPLOAD_PREFIX)

    def run(self, job: Job, item: Item, session: Session) -> None:
        identity = identify_url(item.url)
        capture = Capture(**item.captured) if item.captured else None
        resolver = pick_resolver(item.url, job.resolvers)
        ctx = ResolveContext(url=item.url, identity=identity, settings=job.settings, http=job.http, capture=capture)
        try:
            job.resolved = resolver.resolve(ctx)
        except ResolveError as exc:
            raise PipelineError(str(exc), transient=exc.transient) from exc
        _fill(item, job.resolved, session)


class DownloadStep:
    """Fetch the PDF (unless the item already has one) and store it content-addressed."""

    name = "download"
    status = ItemStatus.fetching

    def able_to_run(self, job: Job, item: Item) -> bool:
        if item.file_id is not None:
            return True  # re-use the stored file
        r = job.resolved
        return r is not None and bool(r.pdf_bytes or r.pdf_url)

    def run(self, job: Job, item: Item, session: Session) -> None:
        if item.file_id is not None:
            file = files_repo.get_file(session, item.file_id)
            assert file is not None
            path = job.settings.files_dir / file.relative_path
            if not path.exists():
                raise PipelineError(f"The stored PDF {file.sha256[:12]} is missing from the data directory.")
            job.pdf_path, job.pdf_sha256, job.pdf_size = path, file.sha256, file.size
            return
        r = job.resolved
        assert r is not None
        data = r.pdf_bytes
        if data is None:
            try:
                result = job.http.get(r.pdf_url)  # type: ignore[arg-type]
            except ResolveError as exc:
                raise PipelineError(f"Downloading the PDF failed: {exc}", transient=exc.transient) from exc
            data = result.content
            if not data.startswith(PDF_MAGIC):
                kind = result.content_type or "unknown content"
                raise PipelineError(f"The PDF link {r.pdf_url} answered with {kind}, not a PDF.")
        try:
            digest, path = store_pdf_bytes(job.settings, data)
        except StorageError as exc:  # disk full or the like: worth retrying once space is freed
            raise PipelineError(str(exc), transient=True) from exc
        except SaveError as exc:
            raise PipelineError(str(exc)) from exc
        job.pdf_path, job.pdf_sha256, job.pdf_size = path, digest, len(data)


class ExtractStep:
    name = "extract"
    status = ItemStatus.extracting

    def able_to_run(self, job: Job, item: Item) -> bool:
        return job.pdf_path is not None

    def run(self, job: Job, item: Item, session: Session) -> None:
        assert job.pdf_path is not None and job.pdf_sha256 is not None
        file = files_repo.get_file_by_sha256(session, job.pdf_sha256)
        if file is not None and file.page_count and files_repo.page_texts(session, file.id):
            return  # extracted before (same bytes): nothing to do
        try:
            job.extraction = extract_in_child(job.pdf_path, job.settings)
        except ExtractError as exc:
            raise PipelineError(str(exc)) from exc


class StoreStep:
    """Write the file row, its pages and what the PDF says about itself."""

    name = "store"
    status = ItemStatus.extracting

    def able_to_run(self, job: Job, item: Item) -> bool:
        return job.pdf_path is not None

    def run(self, job: Job, item: Item, session: Session) -> None:
        assert job.pdf_sha256 is not None
        filename = (item.extra or {}).get("filename", "")
        file = get_or_create_file(session, job.pdf_sha256, job.pdf_size, filename)
        item.file_id = file.id
        ext = job.extraction
        if ext is not None:
            file.page_count = ext.page_count
            file.has_text_layer = ext.has_text_layer
            files_repo.replace_pages(session, file.id, ext.pages)
            if ext.truncated:
                job.notices.append(
                    f"only the first {len(ext.pages)} of {ext.page_count} pages were extracted (page cap)"
                )
            title, authors, arxiv_id = metadata_from_pdf(ext)
            if title and not item.title:
                item.title = title[:1000]
            if authors and not item.authors:
                item.authors = authors
            _claim_external_ids(session, item, arxiv_id=arxiv_id, doi=None)
        if not file.has_text_layer:
            job.notices.append("no text layer")
        if item.kind == "link":
            item.kind = "paper"


class ThumbnailStep:
    """A PNG of the first page, next to the PDF (files/ab/cd/<sha>.png), rendered once; optional."""

    name = "thumbnail"
    status = ItemStatus.extracting

    def able_to_run(self, job: Job, item: Item) -> bool:
        return job.pdf_path is not None and not job.pdf_path.with_suffix(".png").exists()

    def run(self, job: Job, item: Item, session: Session) -> None:
        assert job.pdf_path is not None
        target = job.pdf_path.with_suffix(".png")
        try:
            png = thumbnail_in_child(job.pdf_path, job.settings)
            partial = target.with_suffix(".png.part")
            partial.write_bytes(png)
            partial.replace(target)
        except (ExtractError, OSError) as exc:  # a missing picture never fails the item
            log.warning("no thumbnail for item %s: %s", item.id, exc)


class IndexStep:
    name = "index"
    status = ItemStatus.indexing

    def able_to_run(self, job: Job, item: Item) -> bool:
        return True

    def run(self, job: Job, item: Item, session: Session) -> None:
        if item.trashed_at is not None:  # deleted meanwhile: the outbox holds its removal
            return
        index_repo.mark_for_index(session, [item.id])
        session.commit()
        if job.search is None:
            return
        item = items_repo.get_item(session, item.id, with_relations=True)  # type: ignore[assignment]
        try:
            job.search.upsert([build_document(session, item)])
        except SearchUnavailable as exc:
            # Kept in the outbox; the sweeper applies it when the engine is back.
            log.warning("item %s saved but not yet indexed: %s", item.id, exc)
            return
        index_repo.clear_pending(session, index_repo.pending_batch_for(session, [item.id]))


DEFAULT_STEPS: tuple[Step, ...] = (
    ResolveStep(), DownloadStep(), ExtractStep(), StoreStep(), ThumbnailStep(), IndexStep()
)


def run_steps(job: Job, steps: Sequence[Step] = DEFAULT_STEPS) -> None:
    """Run the steps in order; each step's status is reported (committed) before it runs."""
    for step in steps:
        with job.factory() as session:
            item = items_repo.get_item(session, job.item_id)
            if item is None:
                return  # deleted while we worked
            if not step.able_to_run(job, item):
                continue
            if item.status != step.status:  # steps in a row that share a status: one write for them
                job.report(step.status)
            step.run(job, item, session)
            session.commit()


# The job around the steps ------------------------------------------------------------------------


@dataclass(slots=True)
class Outcome:
    state: str  # "ready" | "failed" | "retry" | "skipped"
    message: str = ""
    retry_in: float = 0.0


class LeaseKeeper:
    """Renews the item's lease in the background while a job runs."""

    def __init__(self, factory: sessionmaker[Session], item_id: int, owner: str, lease: timedelta) -> None:
        self.factory, self.item_id, self.owner, self.lease = factory, item_id, owner, lease
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"lease-{item_id}", daemon=True)

    def _loop(self) -> None:
        interval = max(self.lease.total_seconds() / 3, 0.2)
        while not self._stop.wait(interval):
            try:
                with self.factory() as session:
                    items_repo.renew_lease(session, self.item_id, self.owner, self.lease)
                    session.commit()
            except Exception:  # noqa: BLE001 - a missed renewal only risks a duplicate run
                log.exception("renewing the lease of item %s failed", self.item_id)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def backoff_seconds(attempt: int) -> float:
    return float(min(5 * 3 ** max(attempt - 1, 0), 600))


def process_item(
    *,
    item_id: int,
    owner: str,
    settings: Settings,
    factory: sessionmaker[Session],
    http: SafeClient,
    resolvers: Sequence[Resolver],
    search: SearchBackend | None,
    steps: Sequence[Step] = DEFAULT_STEPS,
) -> Outcome:
    lease = timedelta(seconds=settings.job_lease_seconds)
    with factory() as session:
        attempts = items_repo.claim_item(session, item_id, owner, lease)
        session.commit()
    if attempts is None:
        return Outcome("skipped")
    if attempts > settings.job_max_attempts:
        message = (
            f"Gave up after {attempts - 1} attempts: the job stopped without finishing each time "
            "(the worker was killed or crashed while processing this item)."
        )
        _finish(factory, item_id, owner, ItemStatus.failed, message)
        return Outcome("failed", message)

    def report(status: str) -> None:
        with factory() as s:
            items_repo.set_status(s, item_id, status)
            s.commit()

    job = Job(item_id=item_id, settings=settings, factory=factory, http=http, resolvers=resolvers,
              search=search, report=report)
    try:
        with LeaseKeeper(factory, item_id, owner, lease):
            run_steps(job, steps)
    except PipelineError as exc:
        if exc.transient and attempts < settings.job_max_attempts:
            wait = backoff_seconds(attempts)
            message = f"Attempt {attempts} failed: {exc}. Retrying in {wait:.0f} s."
            _finish(factory, item_id, owner, ItemStatus.queued, message, retry_in=wait)
            return Outcome("retry", message, wait)
        _finish(factory, item_id, owner, ItemStatus.failed, str(exc))
        return Outcome("failed", str(exc))
    except Exception as exc:  # a bug must not leave the item stuck in "extracting"
        log.exception("processing item %s failed", item_id)
        message = f"Internal error while processing: {type(exc).__name__}: {exc}"
        _finish(factory, item_id, owner, ItemStatus.failed, message)
        return Outcome("failed", message)
    notice = "; ".join(job.notices)
    _finish(factory, item_id, owner, ItemStatus.ready, "", notice=notice)
    return Outcome("ready", notice)


def _finish(
    factory: sessionmaker[Session],
    item_id: int,
    owner: str,
    status: str,
    error: str,
    *,
    notice: str = "",
    retry_in: float = 0.0,
) -> None:
    with factory() as session:
        item = items_repo.get_item(session, item_id)
        if item is None:
            return
        item.status = status
        item.error = error
        extra = dict(item.extra or {})
        if notice:
            extra["notice"] = notice
        else:
            extra.pop("notice", None)
        item.extra = extra
        if status == ItemStatus.queued:
            # The task schedules the retry; the sweeper only steps in if that message is lost.
            item.enqueued_at = utcnow() + timedelta(seconds=retry_in)
        items_repo.release_lease(session, item_id, owner)
        session.commit()
