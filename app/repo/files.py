"""SQL for stored files and their extracted pages."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from app.models import File, FilePage, Item


def get_file(session: Session, file_id: int) -> File | None:
    return session.get(File, file_id)


def get_file_by_sha256(session: Session, sha256: str) -> File | None:
    return session.scalars(select(File).where(File.sha256 == sha256)).first()


def add_file(session: Session, file: File) -> File:
    session.add(file)
    session.flush()
    return file


def replace_pages(session: Session, file_id: int, pages: Sequence[str]) -> None:
    session.execute(delete(FilePage).where(FilePage.file_id == file_id))
    if pages:
        session.execute(
            insert(FilePage),
            [{"file_id": file_id, "page_no": i + 1, "text": text} for i, text in enumerate(pages)],
        )


def page_texts(session: Session, file_id: int) -> list[str]:
    stmt = select(FilePage.text).where(FilePage.file_id == file_id).order_by(FilePage.page_no)
    return list(session.scalars(stmt))


def count_pages_with_text(session: Session, file_id: int) -> int:
    return len([t for t in page_texts(session, file_id) if t.strip()])


def all_files(session: Session) -> list[File]:
    return list(session.scalars(select(File).order_by(File.id)))


def files_without_items(session: Session) -> list[File]:
    used = select(Item.file_id).where(Item.file_id.is_not(None))
    return list(session.scalars(select(File).where(File.id.not_in(used))))
