"""Exports: BibTeX, Netscape bookmarks, Markdown (zip), a full backup (zip) and Atom feeds per tag."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings

FORMATS = ("bibtex", "bookmarks", "markdown", "backup")


@dataclass(slots=True)
class ExportResult:
    data: bytes
    filename: str
    media_type: str
    binary: bool = False


def export_library(factory: sessionmaker[Session], settings: Settings, fmt: str, *, tag: str | None = None,
                   item_ids: Sequence[int] | None = None) -> ExportResult:
    from app.repo.exports import items_for_export

    if fmt == "backup":
        from app.services.exports.backup import make_backup

        return ExportResult(make_backup(factory, settings), "lectern-backup.zip", "application/zip", True)
    with factory() as session:
        if fmt == "bibtex":
            from app.services.exports.bibtex import to_bibtex

            items = items_for_export(session, tag=tag, item_ids=item_ids, kind=None if item_ids else "paper")
            return ExportResult(to_bibtex(items).encode(), "lectern.bib", "application/x-bibtex; charset=utf-8")
        items = items_for_export(session, tag=tag, item_ids=item_ids)
        if fmt == "bookmarks":
            from app.services.exports.bookmarks import to_netscape

            return ExportResult(to_netscape(items).encode(), "lectern-bookmarks.html", "text/html; charset=utf-8")
        if fmt == "markdown":
            from app.repo.exports import notes_by_item
            from app.services.exports.markdown import to_markdown_zip

            notes = notes_by_item(session, [i.id for i in items])
            return ExportResult(to_markdown_zip(items, notes), "lectern-markdown.zip", "application/zip", True)
    raise ValueError(f"unknown export format {fmt!r}; one of: {', '.join(FORMATS)}")
