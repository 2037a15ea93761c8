"""Use cases on tags: tag and untag items (one or many), rename and merge tags.

Every change marks the touched items for re-indexing in the same transaction (the search index
carries tag names), then asks the worker to apply it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from app.models import Tag
from app.repo import index_queue as index_repo
from app.repo import items as items_repo
from app.repo import tags as tags_repo
from app.services.jobs import JobQueue

MAX_TAG = 128


class TagError(ValueError):
    """A tag change Lectern refuses, with a message for the user."""


@dataclass(slots=True)
class TagCount:
    tag: Tag
    count: int


def _clean(name: str) -> str:
    clean = tags_repo.normalise_tag_name(name or "")
    if not clean:
        raise TagError("A tag needs a name.")
    if len(clean) > MAX_TAG:
        raise TagError(f"A tag name is at most {MAX_TAG} characters.")
    return clean


def _reindex(session: Session, item_ids: Sequence[int]) -> bool:
    if item_ids:
        index_repo.mark_for_index(session, list(item_ids))
    return bool(item_ids)


def tag_items(factory: sessionmaker[Session], jobs: JobQueue, item_ids: Sequence[int], name: str) -> Tag:
    """Add the tag ``name`` (created if new, matched case-insensitively) to these items."""
    clean = _clean(name)
    with factory() as session:
        ids = list(items_repo.get_items_by_ids(session, item_ids))
        (tag,) = tags_repo.get_or_create_tags(session, [clean])
        tags_repo.add_tag_to_items(session, ids, tag)
        changed = _reindex(session, ids)
        session.commit()
        session.refresh(tag)
        session.expunge(tag)
    if changed:
        jobs.enqueue_index()
    return tag


def tag_item(factory: sessionmaker[Session], jobs: JobQueue, item_id: int, name: str) -> Tag:
    return tag_items(factory, jobs, [item_id], name)


def untag_items(factory: sessionmaker[Session], jobs: JobQueue, item_ids: Sequence[int], tag_id: int) -> None:
    with factory() as session:
        tags_repo.remove_tag_from_items(session, list(item_ids), tag_id)
        changed = _reindex(session, item_ids)
        session.commit()
    if changed:
        jobs.enqueue_index()


def untag_item(factory: sessionmaker[Session], jobs: JobQueue, item_id: int, tag_id: int) -> None:
    untag_items(factory, jobs, [item_id], tag_id)


def untag_items_by_name(factory: sessionmaker[Session], jobs: JobQueue, item_ids: Sequence[int], name: str) -> None:
    with factory() as session:
        tag = tags_repo.get_tag_by_name(session, name)
    if tag is not None:
        untag_items(factory, jobs, item_ids, tag.id)


def rename_tag(factory: sessionmaker[Session], jobs: JobQueue, tag_id: int, new_name: str) -> Tag:
    """Rename a tag; renaming onto another tag's name merges the two."""
    clean = _clean(new_name)
    with factory() as session:
        tag = tags_repo.get_tag(session, tag_id)
        if tag is None:
            raise TagError("No such tag.")
        other = tags_repo.get_tag_by_name(session, clean)
    if other is not None and other.id != tag_id:
        return merge_tags(factory, jobs, [tag_id], other.id)
    with factory() as session:
        tag = tags_repo.get_tag(session, tag_id)
        assert tag is not None
        tags_repo.rename_tag(session, tag, clean)
        changed = _reindex(session, tags_repo.item_ids_with_tags(session, [tag_id]))
        session.commit()
        session.refresh(tag)
        session.expunge(tag)
    if changed:
        jobs.enqueue_index()
    return tag


def merge_tags(factory: sessionmaker[Session], jobs: JobQueue, source_ids: Sequence[int], target_id: int) -> Tag:
    """Move every item of the source tags onto the target tag and delete the sources."""
    sources = [s for s in dict.fromkeys(source_ids) if s != target_id]
    with factory() as session:
        target = tags_repo.get_tag(session, target_id)
        if target is None:
            raise TagError("No such tag to merge into.")
        affected = tags_repo.item_ids_with_tags(session, sources)
        for source_id in sources:
            source = tags_repo.get_tag(session, source_id)
            if source is None:
                continue
            tags_repo.move_tag_links(session, source_id, target_id)
            tags_repo.delete_tag(session, source)
        changed = _reindex(session, affected)
        session.commit()
        session.refresh(target)
        session.expunge(target)
    if changed:
        jobs.enqueue_index()
    return target


def merge_into_name(factory: sessionmaker[Session], jobs: JobQueue, source_id: int, target_name: str) -> Tag:
    """Merge a tag into the tag called ``target_name`` (created if new: then it is a rename)."""
    clean = _clean(target_name)
    with factory() as session:
        target = tags_repo.get_tag_by_name(session, clean)
    if target is None:
        return rename_tag(factory, jobs, source_id, clean)
    return merge_tags(factory, jobs, [source_id], target.id)


def tags_with_counts(session: Session) -> list[TagCount]:
    return [TagCount(tag, n) for tag, n in tags_repo.list_tags_with_counts(session)]


def suggest_tags(session: Session, prefix: str, limit: int = 10) -> list[Tag]:
    """Existing tags starting with ``prefix`` (any level: "diff" finds "ml/diffusion" too)."""
    prefix = tags_repo.normalise_tag_name(prefix or "")
    if not prefix:
        return [t for t, _ in tags_repo.top_tags(session, limit)]
    found = tags_repo.find_tags_by_prefix(session, prefix, limit)
    if len(found) < limit:
        seen = {t.id for t in found}
        found += [t for t in tags_repo.find_tags_by_segment(session, prefix, limit) if t.id not in seen]
    return found[:limit]
