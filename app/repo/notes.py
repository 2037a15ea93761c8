"""SQL for notes."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Item, Note


def notes_of_item(session: Session, item_id: int) -> list[Note]:
    stmt = select(Note).where(Note.item_id == item_id).order_by(Note.created_at, Note.id)
    return list(session.scalars(stmt))


def get_note(session: Session, note_id: int) -> Note | None:
    return session.get(Note, note_id)


def add_note(session: Session, note: Note) -> Note:
    session.add(note)
    session.flush()
    return note


def note_bodies_of_item(session: Session, item_id: int) -> list[str]:
    stmt = select(Note.body).where(Note.item_id == item_id, Note.deleted_at.is_(None)).order_by(Note.id)
    return list(session.scalars(stmt))


def latest_notes(session: Session, limit: int = 50, offset: int = 0) -> list[tuple[Note, Item]]:
    """The newest notes across the library with their items (one query)."""
    stmt = (
        select(Note, Item)
        .join(Item, Item.id == Note.item_id)
        .where(Note.deleted_at.is_(None), Item.trashed_at.is_(None))
        .order_by(Note.created_at.desc(), Note.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return [(note, item) for note, item in session.execute(stmt)]
