"""SQL for exports and backups: whole tables read and written as plain rows, and item selections."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Table, func, insert, select, text
from sqlalchemy.orm import Session, selectinload

from app.models import Base, Item, Note, Tag, item_tags

# Tables a backup carries, parents before children.
BACKUP_TABLES = ("users", "api_tokens", "files", "file_pages", "items", "tags", "item_tags", "notes")


def table(name: str) -> Table:
    return Base.metadata.tables[name]


def table_rows(session: Session, name: str) -> list[dict]:
    t = table(name)
    order = list(t.primary_key.columns)
    return [dict(row._mapping) for row in session.execute(select(t).order_by(*order))]


def insert_rows(session: Session, name: str, rows: Sequence[dict], chunk: int = 500) -> None:
    t = table(name)
    for start in range(0, len(rows), chunk):
        session.execute(insert(t), list(rows[start : start + chunk]))


def count_rows(session: Session, name: str) -> int:
    return session.scalar(select(func.count()).select_from(table(name))) or 0


def reset_sequences(session: Session, names: Sequence[str]) -> None:
    """After inserting explicit ids on PostgreSQL, move each id sequence past the largest id."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for name in names:
        t = table(name)
        if "id" not in t.c or len(t.primary_key.columns) != 1:
            continue
        session.execute(text(
            f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), COALESCE((SELECT MAX(id) FROM {name}), 0) + 1, false)"
        ))


def items_for_export(session: Session, *, tag: str | None = None, item_ids: Sequence[int] | None = None,
                     kind: str | None = None) -> list[Item]:
    """Live items (not the trash) with tags and files, oldest first; by tag (and its children) or ids."""
    stmt = select(Item).where(Item.trashed_at.is_(None)).options(selectinload(Item.tags), selectinload(Item.file))
    if item_ids is not None:
        stmt = stmt.where(Item.id.in_(list(item_ids)))
    if kind:
        stmt = stmt.where(Item.kind == kind)
    if tag:
        key = tag.strip().lower()
        tag_ids = select(Tag.id).where((Tag.name_key == key) | Tag.name_key.startswith(key + "/"))
        stmt = stmt.where(Item.id.in_(select(item_tags.c.item_id).where(item_tags.c.tag_id.in_(tag_ids))))
    return list(session.scalars(stmt.order_by(Item.saved_at, Item.id)))


def notes_by_item(session: Session, item_ids: Sequence[int]) -> dict[int, list[Note]]:
    out: dict[int, list[Note]] = {}
    if not item_ids:
        return out
    for note in session.scalars(select(Note).where(Note.item_id.in_(list(item_ids))).order_by(Note.created_at, Note.id)):
        out.setdefault(note.item_id, []).append(note)
    return out
