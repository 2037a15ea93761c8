"""SQL for tags and item–tag links."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from app.models import Item, Tag, item_tags


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


def get_tag(session: Session, tag_id: int) -> Tag | None:
    return session.get(Tag, tag_id)


def get_tag_by_name(session: Session, name: str) -> Tag | None:
    key = normalise_tag_name(name).lower()
    return session.scalars(select(Tag).where(Tag.name_key == key)).first() if key else None


def item_ids_with_tags(session: Session, tag_ids: Sequence[int]) -> list[int]:
    if not tag_ids:
        return []
    stmt = select(item_tags.c.item_id).where(item_tags.c.tag_id.in_(tag_ids)).distinct()
    return list(session.scalars(stmt))


def rename_tag(session: Session, tag: Tag, name: str) -> None:
    tag.name, tag.name_key = name, name.lower()
    session.flush()


def move_tag_links(session: Session, source_id: int, target_id: int) -> None:
    """Re-point every link of ``source`` at ``target`` (skipping items that already have it)."""
    have = select(item_tags.c.item_id).where(item_tags.c.tag_id == target_id)
    session.execute(
        update(item_tags)
        .where(item_tags.c.tag_id == source_id, item_tags.c.item_id.not_in(have))
        .values(tag_id=target_id)
    )
    session.execute(delete(item_tags).where(item_tags.c.tag_id == source_id))


def delete_tag(session: Session, tag: Tag) -> None:
    session.execute(delete(item_tags).where(item_tags.c.tag_id == tag.id))
    session.delete(tag)
    session.flush()


def add_tag_to_items(session: Session, item_ids: Sequence[int], tag: Tag) -> None:
    have = set(session.scalars(
        select(item_tags.c.item_id).where(item_tags.c.tag_id == tag.id, item_tags.c.item_id.in_(item_ids))
    ))
    rows = [{"item_id": i, "tag_id": tag.id} for i in dict.fromkeys(item_ids) if i not in have]
    if rows:
        session.execute(insert(item_tags), rows)


def remove_tag_from_items(session: Session, item_ids: Sequence[int], tag_id: int) -> None:
    if item_ids:
        session.execute(delete(item_tags).where(item_tags.c.tag_id == tag_id, item_tags.c.item_id.in_(item_ids)))


def top_tags(session: Session, limit: int = 30) -> list[tuple[Tag, int]]:
    """The most used tags on items in the library (not the trash), most used first.

    Counted over the item_tags index alone; the trash (small) is subtracted by id.
    """
    n = func.count(item_tags.c.item_id)
    trashed = select(Item.id).where(Item.trashed_at.is_not(None))
    counts = (
        select(item_tags.c.tag_id, n.label("n"))
        .where(item_tags.c.item_id.not_in(trashed))
        .group_by(item_tags.c.tag_id)
        .subquery()
    )
    stmt = (
        select(Tag, counts.c.n)
        .join(counts, counts.c.tag_id == Tag.id)
        .order_by(counts.c.n.desc(), Tag.name_key)
        .limit(limit)
    )
    return [(tag, count) for tag, count in session.execute(stmt)]


def find_tags_by_segment(session: Session, prefix: str, limit: int = 10) -> list[Tag]:
    """Tags with a path segment starting with ``prefix`` ("diff" finds "ml/diffusion")."""
    key = prefix.strip().lower()
    stmt = select(Tag).where(Tag.name_key.contains("/" + key, autoescape=True)).order_by(Tag.name_key).limit(limit)
    return list(session.scalars(stmt))
