"""The library as the reader sees it: a page of items with everything a row shows, views, bulk
actions with undo (deleting moves items to the trash; Undo restores them), and reading stats."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.models import Item, ReadState, Tag, utcnow
from app.repo import index_queue as index_repo
from app.repo import items as items_repo
from app.repo import tags as tags_repo
from app.repo.items import ItemListFilter, LibraryRow
from app.services.jobs import JobQueue

PAGE_SIZE = 50
TRASH_KEEP = timedelta(days=30)
SORT_LABELS = {
    "saved_desc": "Newest saved",
    "saved_asc": "Oldest saved",
    "published_desc": "Newest published",
    "read_desc": "Recently read",
    "title": "Title",
}
# Named views: the reading queue (unread, oldest first) and what was read lately.
VIEWS = {
    "queue": {"read_state": "unread", "sort": "saved_asc"},
    "recent": {"read_state": "read", "sort": "read_desc"},
    "starred": {"starred": True},
    "trash": {"trashed": True},
}


class LibraryError(ValueError):
    pass


@dataclass(slots=True)
class LibraryQuery:
    """What the URL asks for; ``url()`` writes it back, so links keep every filter."""

    view: str = ""
    kind: str = ""
    tag: str = ""
    state: str = ""
    starred: bool = False
    sort: str = ""
    page: int = 1
    per_page: int = PAGE_SIZE

    def __post_init__(self) -> None:
        self.page = max(self.page, 1)
        self.per_page = min(max(self.per_page, 5), 200)

    def filter(self, page_size: int | None = None) -> ItemListFilter:
        page_size = page_size or self.per_page
        flt = ItemListFilter(limit=page_size, offset=(max(self.page, 1) - 1) * page_size)
        for key, value in VIEWS.get(self.view, {}).items():
            setattr(flt, key, value)
        flt.kind = self.kind if self.kind in ("paper", "tweet", "post", "link") else flt.kind
        flt.tag = self.tag or flt.tag
        flt.read_state = self.state if self.state in ReadState.__members__ else flt.read_state
        flt.starred = True if self.starred else flt.starred
        flt.sort = self.sort if self.sort in SORT_LABELS else flt.sort
        return flt

    def params(self, **changes) -> dict[str, str]:
        values = {"view": self.view, "kind": self.kind, "tag": self.tag, "state": self.state,
                  "starred": "1" if self.starred else "", "sort": self.sort, "page": str(self.page),
                  "per_page": str(self.per_page) if self.per_page != PAGE_SIZE else ""}
        values.update({k: ("" if v is None else str(v)) for k, v in changes.items()})
        if values.get("page") == "1":
            values["page"] = ""
        return {k: v for k, v in values.items() if v}

    def url(self, **changes) -> str:
        """This query with some values changed; changing a filter goes back to page 1."""
        if any(k != "page" for k in changes):
            changes.setdefault("page", 1)
        query = urlencode(self.params(**changes))
        return "/" + (f"?{query}" if query else "")


@dataclass(slots=True)
class LibraryPage:
    query: LibraryQuery
    items: list[LibraryRow]
    note_counts: dict[int, int]
    thumbs: set[int]
    total: int
    page_size: int
    totals: dict[str, int]
    tags: list[tuple[TagRef, int]]
    flash: str = ""
    undo_ids: list[int] = field(default_factory=list)

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))

    @property
    def has_next(self) -> bool:
        return self.query.page < self.pages


def thumbnail_path(settings: Settings, sha256: str) -> Path:
    """The first-page PNG, next to its PDF: files/ab/cd/<sha>.png."""
    return settings.files_dir / sha256[:2] / sha256[2:4] / f"{sha256}.png"


def items_with_thumbnails(settings: Settings, items: Sequence[Item | LibraryRow]) -> set[int]:
    return {i.id for i in items if i.file is not None and thumbnail_path(settings, i.file.sha256).exists()}


@dataclass(frozen=True, slots=True)
class TagRef:
    """A tag as the sidebar shows it (plain data, safe to keep between requests)."""

    id: int
    name: str
    name_key: str


@dataclass(frozen=True, slots=True)
class Sidebar:
    totals: dict[str, int]
    tags: list[tuple[TagRef, int]]


def sidebar_counts(session: Session, tag_limit: int = 25) -> Sidebar:
    """The library's totals and most used tags, computed now."""
    tags = [(TagRef(t.id, t.name, t.name_key), n) for t, n in tags_repo.top_tags(session, tag_limit)]
    return Sidebar(totals=items_repo.library_totals(session), tags=tags)


class CountsCache:
    """The library's counts as of the latest library version seen, kept by the web app (Services):
    the sidebar's totals and tags, and the total of each filtered list recently shown.

    Counting a 100k library takes tens of milliseconds (a common tag's items: 15 ms); the version
    (bumped by database triggers on every change that can move a count: items added, deleted,
    trashed, read, starred, re-kinded, tagged, untagged, tags renamed) takes one indexed read, so
    counts are recomputed only after a change, and a page never shows counts older than the last
    committed change.
    """

    MAX_TOTALS = 64

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._version: int | None = None
        self._sidebar: Sidebar | None = None
        self._totals: dict[tuple, int] = {}

    def _at(self, version: int) -> None:
        """Forget what an older version counted (call with the lock held)."""
        if self._version != version:
            self._version, self._sidebar, self._totals = version, None, {}

    def sidebar(self, session: Session, version: int | None = None) -> Sidebar:
        """``version``: the library version the caller already read in this request, if any."""
        version = items_repo.library_version(session) if version is None else version
        with self._lock:
            self._at(version)
            if self._sidebar is not None:
                return self._sidebar
        value = sidebar_counts(session)
        with self._lock:
            self._at(version)
            self._sidebar = value
        return value

    def total(self, session: Session, flt: ItemListFilter, version: int | None = None) -> int:
        """count_items(flt), for the filters the version covers (not the worker's status)."""
        if flt.status is not None:
            return items_repo.count_items(session, flt)
        key = (flt.kind, flt.tag, flt.read_state, flt.starred, flt.trashed)
        version = items_repo.library_version(session) if version is None else version
        with self._lock:
            self._at(version)
            if key in self._totals:
                return self._totals[key]
        value = items_repo.count_items(session, flt)
        with self._lock:
            self._at(version)
            if len(self._totals) >= self.MAX_TOTALS:
                self._totals.clear()
            self._totals[key] = value
        return value


def library_page(
    session: Session, settings: Settings, query: LibraryQuery, counts: CountsCache | None = None
) -> LibraryPage:
    """Everything the library page shows, in a fixed number of queries whatever the page size.

    The counts come first: the filter's total and the sidebar's totals also choose how the rows
    are found (a common tag walks the sort index, see items_repo.tag_filter_probes).
    """
    page_size = query.per_page
    flt = query.filter()
    if counts is not None:
        version = items_repo.library_version(session)  # read once for both
        side, total = counts.sidebar(session, version), counts.total(session, flt, version)
    else:
        side, total = sidebar_counts(session), items_repo.count_items(session, flt)
    among = side.totals["trash" if flt.trashed else "all"]
    rows = items_repo.library_rows(session, flt, matching=total, among=among)
    return LibraryPage(
        query=query,
        items=rows,
        note_counts=items_repo.note_counts(session, [r.id for r in rows]),
        thumbs=items_with_thumbnails(settings, rows),
        total=total,
        page_size=page_size,
        totals=side.totals,
        tags=side.tags,
    )


# Toggles and bulk actions ---------------------------------------------------------------------------


def _changed(session: Session, jobs: JobQueue, ids: Sequence[int]) -> None:
    if ids:
        index_repo.mark_for_index(session, list(ids))
    session.commit()
    if ids:
        jobs.enqueue_index()


def set_read(factory: sessionmaker[Session], jobs: JobQueue, item_ids: Sequence[int], read: bool) -> list[int]:
    with factory() as session:
        ids = list(items_repo.get_items_by_ids(session, item_ids))
        items_repo.update_items(
            session, ids, read_state=ReadState.read if read else ReadState.unread, read_at=utcnow() if read else None
        )
        _changed(session, jobs, ids)
    return ids


def toggle_read(factory: sessionmaker[Session], jobs: JobQueue, item_id: int) -> bool | None:
    """Read <-> unread (an item being read becomes read); returns the new state, None if no item."""
    with factory() as session:
        item = items_repo.get_item(session, item_id)
        if item is None or item.trashed_at is not None:
            return None
        read = item.read_state != ReadState.read
    set_read(factory, jobs, [item_id], read)
    return read


def toggle_star(factory: sessionmaker[Session], jobs: JobQueue, item_id: int) -> bool | None:
    with factory() as session:
        item = items_repo.get_item(session, item_id)
        if item is None or item.trashed_at is not None:
            return None
        item.starred = not item.starred
        starred = item.starred
        _changed(session, jobs, [item_id])
    return starred


def trash_items(factory: sessionmaker[Session], jobs: JobQueue, item_ids: Sequence[int]) -> list[int]:
    """Delete items the undoable way: they leave the library and the search index at once, and
    come back with ``restore_items``; the trash is emptied after TRASH_KEEP (or by hand)."""
    with factory() as session:
        ids = items_repo.set_trashed(session, list(item_ids), utcnow())
        if ids:
            index_repo.mark_for_index(session, ids, op="delete")
        session.commit()
    if ids:
        jobs.enqueue_index()
    purge_trash(factory, jobs, older_than=TRASH_KEEP)
    return ids


def restore_items(factory: sessionmaker[Session], jobs: JobQueue, item_ids: Sequence[int]) -> list[int]:
    with factory() as session:
        ids = items_repo.set_trashed(session, list(item_ids), None)
        _changed(session, jobs, ids)
    return ids


def purge_trash(factory: sessionmaker[Session], jobs: JobQueue, *, older_than: timedelta = TRASH_KEEP) -> int:
    """Delete for good what has been in the trash longer than ``older_than``."""
    with factory() as session:
        old = items_repo.trashed_before(session, utcnow() - older_than)
        for item in old:
            items_repo.delete_item(session, item)
        if old:
            index_repo.mark_for_index(session, [i.id for i in old], op="delete")
        session.commit()
    return len(old)


# Reading stats -----------------------------------------------------------------------------------


@dataclass(slots=True)
class WeekBar:
    start: date
    saved: int
    read: int


@dataclass(slots=True)
class ReadingStats:
    weeks: list[WeekBar]
    top_tags: list[tuple[Tag, int]]
    totals: dict[str, int]

    @property
    def peak(self) -> int:
        return max([1] + [max(w.saved, w.read) for w in self.weeks])


def _week_start(value: datetime | date) -> date:
    day = value.astimezone(UTC).date() if isinstance(value, datetime) else value
    return day - timedelta(days=day.weekday())


def reading_stats(session: Session, weeks: int = 12, now: datetime | None = None) -> ReadingStats:
    now = now or utcnow()
    first = _week_start(now) - timedelta(weeks=weeks - 1)
    since = datetime(first.year, first.month, first.day, tzinfo=UTC)
    saved, read = items_repo.saved_and_read_since(session, since)
    bars = {first + timedelta(weeks=i): WeekBar(first + timedelta(weeks=i), 0, 0) for i in range(weeks)}
    for when in saved:
        bar = bars.get(_week_start(when))
        if bar:
            bar.saved += 1
    for when in read:
        bar = bars.get(_week_start(when))
        if bar:
            bar.read += 1
    return ReadingStats(weeks=list(bars.values()), top_tags=tags_repo.top_tags(session, 15),
                        totals=items_repo.library_totals(session))
