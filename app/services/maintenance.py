"""`lectern check`: find (and with repair, fix) what a crash can leave behind.

- stored files no database row names (a web process stopped between writing an upload and committing
  its item), and half-written uploads (``.upload-*.part``);
- file rows whose PDF is gone from the data directory, and the items pointing at them;
- items the search index lacks, and index entries with no item.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.models import ItemStatus
from app.repo import files as files_repo
from app.repo import index_queue as index_repo
from app.repo import items as items_repo
from app.search.base import SearchBackend, SearchUnavailable
from app.services.indexing import missing_from_index

UPLOAD_PREFIX = "lectern:file/"
GRACE_SECONDS = 3600  # an upload younger than this may still be on its way to the database


@dataclass
class CheckReport:
    orphan_files: list[Path] = field(default_factory=list)
    partial_uploads: list[Path] = field(default_factory=list)
    missing_files: list[str] = field(default_factory=list)  # sha256 of file rows without their PDF
    items_with_missing_file: list[int] = field(default_factory=list)
    missing_from_index: list[int] = field(default_factory=list)
    stray_in_index: list[int] = field(default_factory=list)
    index_error: str = ""
    repaired: bool = False

    @property
    def problems(self) -> int:
        return (
            len(self.orphan_files) + len(self.partial_uploads) + len(self.missing_files)
            + len(self.items_with_missing_file) + len(self.missing_from_index) + len(self.stray_in_index)
        )

    def lines(self) -> list[str]:
        return [
            f"stored files without a database row: {len(self.orphan_files)}",
            f"half-written uploads: {len(self.partial_uploads)}",
            f"file rows whose PDF is missing: {len(self.missing_files)}",
            f"items pointing at a missing PDF: {len(self.items_with_missing_file)} {self.items_with_missing_file[:20] or ''}".rstrip(),
            f"items missing from the search index: {len(self.missing_from_index)} {self.missing_from_index[:20] or ''}".rstrip(),
            f"index entries without an item: {len(self.stray_in_index)} {self.stray_in_index[:20] or ''}".rstrip(),
        ] + ([f"search index not checked: {self.index_error}"] if self.index_error else [])


def check_library(
    factory: sessionmaker[Session],
    settings: Settings,
    search: SearchBackend | None,
    *,
    repair: bool = False,
    grace_seconds: float = GRACE_SECONDS,
) -> CheckReport:
    report = CheckReport()
    now = time.time()
    with factory() as session:
        files = files_repo.all_files(session)
        known = {f.sha256 for f in files}
        root = settings.files_dir
        if root.exists():
            for path in root.rglob("*"):
                if not path.is_file() or now - path.stat().st_mtime < grace_seconds:
                    continue
                if path.name.startswith(".upload-"):
                    report.partial_uploads.append(path)
                elif path.suffix == ".pdf" and path.stem not in known:
                    report.orphan_files.append(path)
        for file in files:
            if not (root / file.relative_path).exists():
                report.missing_files.append(file.sha256)
                report.items_with_missing_file += items_repo.item_ids_with_file(session, file.id)
        if repair:
            _repair_files(session, report, files)
            session.commit()
    if search is not None:
        try:
            report.missing_from_index, report.stray_in_index = missing_from_index(factory, search)
        except SearchUnavailable as exc:
            report.index_error = str(exc)
        if repair and (report.missing_from_index or report.stray_in_index):
            with factory() as session:
                index_repo.mark_for_index(session, report.missing_from_index)
                index_repo.mark_for_index(session, report.stray_in_index, op="delete")
                session.commit()
    report.repaired = repair
    return report


def _repair_files(session: Session, report: CheckReport, files) -> None:
    for path in report.orphan_files + report.partial_uploads:
        path.unlink(missing_ok=True)
        thumb = path.with_suffix(".png")
        thumb.unlink(missing_ok=True)
    missing = {f.id for f in files if f.sha256 in report.missing_files}
    for item_id in report.items_with_missing_file:
        item = items_repo.get_item(session, item_id)
        if item is None:
            continue
        item.file_id = None
        if item.canonical_url.startswith(UPLOAD_PREFIX):
            item.status = ItemStatus.failed
            item.error = "The uploaded PDF is missing from the data directory; upload it again."
        else:  # it came from the web: fetch it again
            item.status = ItemStatus.queued
            item.error = "The stored PDF was missing; it will be downloaded again."
            item.attempts = 0
            item.enqueued_at = None
    session.flush()
    for file in files:
        if file.id in missing:
            session.delete(file)
