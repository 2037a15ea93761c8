"""SQL for items: every query on the items table lives here."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Text, bindparam, func, or_, select, type_coerce, update
from sqlalchemy.orm import Session, defer, raiseload, selectinload

from app.models import (
    ACTIVE_STATUSES,
    File,
    Item,
    ItemStatus,
    LibraryState,
    Note,
    Tag,
    item_tags,
    utcnow,
)


def get_item(session: Session, item_id: int, *, with_relations: bool = False) -> Item | None:
    stmt = select(Item).where(Item.id == item_id)
    if with_relations:
        stmt = stmt.options(selectinload(Item.tags), selectinload(Item.file))
    return session.scalars(stmt).first()


def _existing_item_statement(by_arxiv_id: bool, by_doi: bool):
    conditions = [Item.canonical_url == bindparam("canonical_url")]
    if by_arxiv_id:
        conditions.append(Item.arxiv_id == bindparam("arxiv_id"))
    if by_doi:
        conditions.append(Item.doi == bindparam("doi"))
    return select(Item).where(or_(*conditions)).order_by(Item.id).limit(1)


# Built once per shape, as _ITEM_ROWS below: every save looks its identity up first, and building
# and keying the statement cost more than running it (0.5 of 0.6 ms on SQLite).
_EXISTING_ITEM = {(a, d): _existing_item_statement(a, d) for a in (False, True) for d in (False, True)}


def find_existing_item(
    session: Session, *, canonical_url: str, arxiv_id: str | None = None, doi: str | None = None
) -> Item | None:
    """The item this identity already names, by canonical URL, arXiv id or DOI."""
    params = {"canonical_url": canonical_url}
    if arxiv_id:
        params["arxiv_id"] = arxiv_id
    if doi:
        params["doi"] = doi
    return session.scalars(_EXISTING_ITEM[bool(arxiv_id), bool(doi)], params).first()


def add_item(session: Session, item: Item) -> Item:
    session.add(item)
    session.flush()
    return item


def delete_item(session: Session, item: Item) -> None:
    session.delete(item)
    session.flush()


@dataclass(slots=True)
class ItemListFilter:
    kind: str | None = None
    tag: str | None = None  # a tag name: matches itself and its children ("ml" finds "ml/rl")
    read_state: str | None = None
    starred: bool | None = None
    status: str | None = None
    trashed: bool = False  # the trash (deleted, restorable) instead of the library
    sort: str = "saved_desc"  # saved_desc | saved_asc | published_desc | read_desc | title
    limit: int = 50
    offset: int = 0


SORTS = {
    "saved_desc": (Item.saved_at.desc(), Item.id.desc()),
    "saved_asc": (Item.saved_at.asc(), Item.id.asc()),
    "published_desc": (Item.published_at.desc(), Item.id.desc()),
    "read_desc": (Item.read_at.desc(), Item.id.desc()),
    "title": (Item.title.asc(), Item.id.asc()),
}


# The sorts the library walks an index for (ix_items_live_saved: trashed_at, saved_at, id).
WALKED_SORTS = frozenset({"saved_desc", "saved_asc"})


def tag_filter_probes(matching: int, among: int, need: int) -> bool:
    """Whether a page of a tag's items is cheaper found by walking the sort index and probing each
    item for the tag (EXISTS) than by reading all the tag's items and sorting them (IN).

    Walking passes about ``need * among / matching`` items to find ``need`` (the page's offset plus
    its size) of the ``matching`` ones among the ``among`` the index holds; reading costs about
    ``matching``. So probe when the tag is common: matching² ≥ need × among.
    """
    return matching * matching >= need * among


# A probing walk passes at most this many times the items it should pass (need × among /
# matching) before it gives up for reading all the tag's items: the estimate assumes the tag is
# spread over the sort order, and a recent import of 22,000 untagged items made an unbounded walk
# pass them all (100k library: 18-24 ms against 11-12 for reading the tag's 18,659 items).
WALK_SLACK = 2


def _tagged(tag: str):
    """The ids of the items carrying a tag or one of its children (a/b under a)."""
    key = tag.strip().lower()
    tag_ids = select(Tag.id).where(or_(Tag.name_key == key, Tag.name_key.startswith(key + "/")))
    return select(item_tags.c.item_id).where(item_tags.c.tag_id.in_(tag_ids))


def _filtered(stmt, flt: ItemListFilter, *, tag_probe: bool = False):
    """``stmt`` narrowed to the filter's items. ``tag_probe``: test the tag per item with EXISTS
    (for a walk of the sort index, see tag_filter_probes) instead of IN over all the tag's items."""
    stmt = stmt.where(Item.trashed_at.is_not(None) if flt.trashed else Item.trashed_at.is_(None))
    if flt.kind:
        stmt = stmt.where(Item.kind == flt.kind)
    if flt.read_state:
        stmt = stmt.where(Item.read_state == flt.read_state)
    if flt.starred is not None:
        stmt = stmt.where(Item.starred.is_(flt.starred))
    if flt.status:
        stmt = stmt.where(Item.status == flt.status)
    if flt.tag:
        tagged = _tagged(flt.tag)
        if tag_probe:
            stmt = stmt.where(tagged.where(item_tags.c.item_id == Item.id).exists())
        else:
            stmt = stmt.where(Item.id.in_(tagged))
    return stmt


# A list row never shows the long texts (page text, captured content): leave them in the database,
# and fail loudly if a template reaches for them.
ROWS_ONLY = (defer(Item.text, raiseload=True), defer(Item.captured, raiseload=True))


def list_items(session: Session, flt: ItemListFilter) -> list[Item]:
    """A page of items with tags and files loaded (a fixed number of queries for any page size).
    The library page reads its rows as plain data instead (library_rows)."""
    stmt = _filtered(select(Item), flt).order_by(*SORTS.get(flt.sort, SORTS["saved_desc"]))
    stmt = stmt.limit(flt.limit).offset(flt.offset)
    stmt = stmt.options(selectinload(Item.tags), selectinload(Item.file))
    return list(session.scalars(stmt))


def count_items(session: Session, flt: ItemListFilter) -> int:
    return session.scalar(_filtered(select(func.count(Item.id)), flt)) or 0


def note_counts(session: Session, item_ids: Sequence[int]) -> dict[int, int]:
    if not item_ids:
        return {}
    rows = session.execute(
        select(Note.item_id, func.count(Note.id))
        .where(Note.item_id.in_(item_ids), Note.deleted_at.is_(None))
        .group_by(Note.item_id)
    )
    return {item_id: n for item_id, n in rows}


def get_items_by_ids(
    session: Session, item_ids: Sequence[int], *, include_trashed: bool = False, rows_only: bool = False,
    with_file: bool = True,
) -> dict[int, Item]:
    """Items by id with tags and files; items in the trash are left out unless asked for.
    ``rows_only``: leave out the long texts (page text, captured content) a list row never shows
    (a page of search results); ``with_file=False`` leaves the
    file out (one query less) and fails loudly if something reaches for it."""
    if not item_ids:
        return {}
    stmt = select(Item).where(Item.id.in_(item_ids)).options(
        selectinload(Item.tags), selectinload(Item.file) if with_file else raiseload(Item.file)
    )
    if rows_only:
        stmt = stmt.options(*ROWS_ONLY)
    if not include_trashed:
        stmt = stmt.where(Item.trashed_at.is_(None))
    return {item.id: item for item in session.scalars(stmt)}


@dataclass(frozen=True, slots=True)
class TagRow:
    id: int
    name: str


def _tag_rows(session: Session, item_ids: Sequence[int]) -> dict[int, list[TagRow]]:
    """The tags of each item, in name order (as Item.tags), in one query."""
    tags: dict[int, list[TagRow]] = {}
    for item_id, tag_id, name in session.execute(
        select(item_tags.c.item_id, Tag.id, Tag.name)
        .join(Tag, Tag.id == item_tags.c.tag_id)
        .where(item_tags.c.item_id.in_(item_ids))
        .order_by(Tag.name)
    ):
        tags.setdefault(item_id, []).append(TagRow(tag_id, name))
    return tags


@dataclass(frozen=True, slots=True)
class ItemRow:
    """An item as a list of search results shows it: plain data read in two queries, no ORM
    objects (loading 20 Items with their tags through the ORM took 5.5 ms, these 0.9 ms)."""

    id: int
    kind: str
    title: str
    url: str
    authors: list[str]
    tags: list[TagRow]


# Built once: a statement SQLAlchemy has seen keeps its cache key, so a search pays for neither
# building it nor keying it again (two statements built per call cost 1.5 ms of a 15 ms search).
# The authors come as written (JSON text on SQLite) and are decoded once per item, not once per
# row of the join with the tags (which took a quarter of the call).
_ITEM_ROWS = (
    select(Item.id, Item.kind, Item.title, Item.url, type_coerce(Item.authors, Text), Tag.id, Tag.name)
    .outerjoin(item_tags, item_tags.c.item_id == Item.id)
    .outerjoin(Tag, Tag.id == item_tags.c.tag_id)
    .where(Item.id.in_(bindparam("ids", expanding=True)), Item.trashed_at.is_(None))
    .order_by(Item.id, Tag.name)
)


def item_rows(session: Session, item_ids: Sequence[int]) -> dict[int, ItemRow]:
    """Items by id (not those in the trash) as ItemRow, tags in name order, in one query."""
    if not item_ids:
        return {}
    out: dict[int, ItemRow] = {}
    for item_id, kind, title, url, authors, tag_id, tag_name in session.execute(_ITEM_ROWS, {"ids": list(item_ids)}):
        row = out.get(item_id)
        if row is None:
            if isinstance(authors, str):  # PostgreSQL's driver decodes JSON itself, SQLite's does not
                authors = json.loads(authors)
            row = out[item_id] = ItemRow(item_id, str(kind), title, url, list(authors or []), [])
        if tag_id is not None:
            row.tags.append(TagRow(tag_id, tag_name))
    return out


@dataclass(frozen=True, slots=True)
class FileRef:
    """An item's stored PDF as a row needs it: the sha256 names its thumbnail."""

    id: int
    sha256: str


@dataclass(frozen=True, slots=True)
class LibraryRow:
    """An item as a library row shows it (the row templates read it as they read an Item): plain
    data in two queries whatever the page size, no ORM objects or relationships."""

    id: int
    kind: str
    title: str
    url: str
    authors: list[str]
    extra: dict[str, Any]
    site: str
    saved_at: datetime
    read_state: str
    starred: bool
    status: str
    file: FileRef | None
    tags: list[TagRow]


def library_rows(
    session: Session, flt: ItemListFilter, *, matching: int | None = None, among: int | None = None
) -> list[LibraryRow]:
    """The page of items list_items(flt) answers, as LibraryRow, in two queries.

    With a tag filter, ``matching`` (how many items the filter matches) and ``among`` (how many
    items the walked index holds: the library's, or the trash's) choose the plan: a common tag on
    a walked sort probes each item of a bounded walk (tag_filter_probes, WALK_SLACK); otherwise,
    or when that walk holds no full page, all the tag's items are read.
    """
    probe = (
        bool(flt.tag) and flt.sort in WALKED_SORTS and matching is not None and among is not None
        and tag_filter_probes(matching, among, flt.offset + flt.limit)
    )
    columns = (Item.id, Item.kind, Item.title, Item.url, Item.authors, Item.extra, Item.site, Item.saved_at,
               Item.read_state, Item.starred, Item.status, File.id, File.sha256)
    rows = None
    if probe:
        # The walk is bounded (WALK_SLACK); when its items hold no full page, read the tag's.
        need = flt.offset + flt.limit
        cap = WALK_SLACK * need * among // max(matching, 1) + need  # type: ignore[operator]
        # The walk reads the sort index alone, the tag is probed per id, and only the page's
        # items are read.
        walk = (
            _filtered(select(Item.id.label("id"), Item.saved_at.label("saved_at")), replace(flt, tag=None))
            .order_by(*SORTS[flt.sort]).limit(cap).subquery("walk")
        )

        def key(t):
            return (t.c.saved_at.desc(), t.c.id.desc()) if flt.sort == "saved_desc" else (t.c.saved_at, t.c.id)

        found = (
            select(walk.c.id, walk.c.saved_at)
            .where(_tagged(flt.tag).where(item_tags.c.item_id == walk.c.id).exists())  # type: ignore[arg-type]
            .order_by(*key(walk)).limit(flt.limit).offset(flt.offset).subquery("found")
        )
        stmt = (select(*columns).select_from(found).join(Item, Item.id == found.c.id)
                .outerjoin(File, File.id == Item.file_id).order_by(*key(found)))
        rows = session.execute(stmt).all()
        if len(rows) < flt.limit:
            rows = None
    if rows is None:
        stmt = _filtered(select(*columns).outerjoin(File, File.id == Item.file_id), flt)
        stmt = stmt.order_by(*SORTS.get(flt.sort, SORTS["saved_desc"])).limit(flt.limit).offset(flt.offset)
        rows = session.execute(stmt).all()
    tags = _tag_rows(session, [r[0] for r in rows]) if rows else {}
    return [
        LibraryRow(item_id, kind, title, url, list(authors or []), extra or {}, site, saved_at, read_state, starred,
                   status, FileRef(file_id, sha256) if file_id is not None else None, tags.get(item_id, []))
        for (item_id, kind, title, url, authors, extra, site, saved_at, read_state, starred, status, file_id,
             sha256) in rows
    ]


def all_item_ids(session: Session) -> list[int]:
    """Every item in the library (not the trash)."""
    return list(session.scalars(select(Item.id).where(Item.trashed_at.is_(None)).order_by(Item.id)))


def set_trashed(session: Session, item_ids: Sequence[int], when: datetime | None) -> list[int]:
    """Move items to the trash (``when`` set) or restore them (None); returns the ids changed."""
    if not item_ids:
        return []
    wanted = Item.trashed_at.is_(None) if when is not None else Item.trashed_at.is_not(None)
    ids = list(session.scalars(select(Item.id).where(Item.id.in_(item_ids), wanted)))
    if ids:
        session.execute(
            update(Item).where(Item.id.in_(ids)).values(trashed_at=when).execution_options(synchronize_session=False)
        )
    return ids


def trashed_before(session: Session, cutoff: datetime) -> list[Item]:
    return list(session.scalars(select(Item).where(Item.trashed_at < cutoff)))


def update_items(session: Session, item_ids: Sequence[int], **values) -> None:
    if item_ids:
        session.execute(
            update(Item).where(Item.id.in_(item_ids)).values(**values).execution_options(synchronize_session=False)
        )


def saved_and_read_since(session: Session, since: datetime) -> tuple[list[datetime], list[datetime]]:
    """When items were saved, and when items were read, from ``since`` on (for the reading chart)."""
    saved = session.scalars(select(Item.saved_at).where(Item.saved_at >= since, Item.trashed_at.is_(None)))
    read = session.scalars(select(Item.read_at).where(Item.read_at >= since, Item.trashed_at.is_(None)))
    return list(saved), list(read)


def library_totals(session: Session) -> dict[str, int]:
    """Counts for the sidebar: all, unread, read, starred, per kind, trash.

    Grouped over the covering index ix_items_live_counts (never the rows), summed here.
    """
    totals = dict.fromkeys(("all", "unread", "reading", "read", "starred", "paper", "tweet", "post", "link"), 0)
    rows = session.execute(
        select(Item.kind, Item.read_state, Item.starred, func.count())
        .where(Item.trashed_at.is_(None))
        .group_by(Item.kind, Item.read_state, Item.starred)
    )
    for kind, state, starred, n in rows:
        totals["all"] += n
        totals[state] = totals.get(state, 0) + n
        totals[kind] = totals.get(kind, 0) + n
        if starred:
            totals["starred"] += n
    totals["trash"] = session.scalar(select(func.count()).where(Item.trashed_at.is_not(None))) or 0
    return totals


def library_version(session: Session) -> int:
    """Goes up whenever the sidebar's counts may have changed (database triggers bump it)."""
    return session.scalar(select(LibraryState.version).where(LibraryState.id == 1)) or 0


# Job bookkeeping ---------------------------------------------------------------------------------


def claim_item(session: Session, item_id: int, owner: str, lease: timedelta) -> int | None:
    """Take the item's lease if nobody holds a live one; returns the attempt this is (1 for the
    first), or None.

    One UPDATE decides, so two workers that receive the same job never both run it. It reads
    nothing more: on SQLite the transaction holds the write lock until the caller commits.
    """
    now = utcnow()
    return session.execute(
        update(Item)
        .where(
            Item.id == item_id,
            Item.status.not_in([ItemStatus.ready, ItemStatus.failed]),
            or_(Item.lease_until.is_(None), Item.lease_until < now, Item.lease_owner == owner),
        )
        .values(lease_owner=owner, lease_until=now + lease, attempts=Item.attempts + 1)
        .returning(Item.attempts)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()


def renew_lease(session: Session, item_id: int, owner: str, lease: timedelta) -> bool:
    result = session.execute(
        update(Item)
        .where(Item.id == item_id, Item.lease_owner == owner)
        .values(lease_until=utcnow() + lease)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def release_lease(session: Session, item_id: int, owner: str) -> None:
    session.execute(
        update(Item)
        .where(Item.id == item_id, Item.lease_owner == owner)
        .values(lease_owner=None, lease_until=None)
        .execution_options(synchronize_session=False)
    )


def set_status(session: Session, item_id: int, status: str, *, error: str | None = None) -> None:
    values: dict = {"status": status}
    if error is not None:
        values["error"] = error
    session.execute(
        update(Item).where(Item.id == item_id).values(**values).execution_options(synchronize_session=False)
    )


def mark_enqueued(session: Session, item_ids: Sequence[int], when: datetime | None = None) -> None:
    if item_ids:
        session.execute(
            update(Item)
            .where(Item.id.in_(item_ids))
            .values(enqueued_at=when or utcnow())
            .execution_options(synchronize_session=False)
        )


def items_needing_a_job(session: Session, *, requeue_after: timedelta, limit: int = 200) -> list[int]:
    """Items whose job was lost.

    - queued, never handed to the broker (it was down) or handed over long ago and not picked up;
    - being worked on, but the lease expired (the worker died) and nobody re-enqueued it since, or
      the re-enqueued job was itself not picked up within ``requeue_after`` (lost as well).
    """
    now = utcnow()
    free = Item.lease_until.is_(None) | (Item.lease_until < now)
    sent_long_ago = Item.enqueued_at.is_(None) | (Item.enqueued_at < now - requeue_after)
    queued = (Item.status == ItemStatus.queued) & free & sent_long_ago
    abandoned = Item.status.in_(list(ACTIVE_STATUSES)) & free & (
        sent_long_ago | Item.lease_until.is_(None) | (Item.enqueued_at < Item.lease_until)
    )
    stmt = select(Item.id).where(or_(queued, abandoned)).order_by(Item.id).limit(limit)
    return list(session.scalars(stmt))


def item_ids_with_file(session: Session, file_id: int) -> list[int]:
    return list(session.scalars(select(Item.id).where(Item.file_id == file_id).order_by(Item.id)))
