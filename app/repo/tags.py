"""SQL for tags and item–tag links."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from app.models import Tag, item_tags


def normalise_tag_name(name: str) -> str:
    """Trim, collapse spaces and slashes: " ML / Diffusion " -> "ML/Diffusion"."""
    parts = [" ".join(part.split()) for part in name.strip().split("/")]
    return "/".join(p for p in parts if p)


def get_or_create_tags(session: Session, names: Sequence[str]) -> list[Tag]:
    wanted: dict[str, str] = {}
    for raw in names:
        name = normalise_tag_name(raw)
        if name and name.lower() not in wanted:
            wanted[name.lower()] = name[:128]
    if not wanted:
        return []
    found = {t.name_key: t for t in session.scalars(select(Tag).where(Tag.name_key.in_(wanted)))}
    for key, name in wanted.items():
        if key not in found:
            tag = Tag(name=name, name_key=key)
            session.add(tag)
            found[key] = tag
    session.flush()
    return [found[k] for k in wanted]


def add_tags_to_item(session: Session, item_id: int, tags: Sequence[Tag]) -> None:
    have = set(session.scalars(select(item_tags.c.tag_id).where(item_tags.c.item_id == item_id)))
    rows = [{"item_id": item_id, "tag_id": t.id} for t in tags if t.id not in have]
    if rows:
        session.execute(insert(item_tags), rows)


def remove_tag_from_item(session: Session, item_id: int, tag_id: int) -> None:
    session.execute(delete(item_tags).where(item_tags.c.item_id == item_id, item_tags.c.tag_id == tag_id))


def tags_of_item(session: Session, item_id: int) -> list[Tag]:
    stmt = (
        select(Tag)
        .join(item_tags, item_tags.c.tag_id == Tag.id)
        .where(item_tags.c.item_id == item_id)
        .order_by(Tag.name_key)
    )
    return list(session.scalars(stmt))


def list_tags_with_counts(session: Session) -> list[tuple[Tag, int]]:
    stmt = (
        select(Tag, func.count(item_tags.c.item_id))
        .outerjoin(item_tags, item_tags.c.tag_id == Tag.id)
        .group_by(Tag.id)
        .order_by(Tag.name_key)
    )
    return [(tag, n) for tag, n in session.execute(stmt)]


def find_tags_by_prefix(session: Session, prefix: str, limit: int = 10) -> list[Tag]:
    key = prefix.strip().lower()
    stmt = select(Tag).where(Tag.name_key.startswith(key)).order_by(Tag.name_key).limit(limit)
    return list(session.scalars(stmt))
