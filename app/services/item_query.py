"""Listing items with the search box's syntax (``tag:ml kind:paper is:unread diffusion``).

A query the database can answer by itself (at most one kind and one tag, read state, star, no words)
is listed from the database, the source of truth, so items saved a moment ago are there at once;
anything else (words, phrases, years, authors, has:pdf, several kinds or tags) goes to the search
engine through ``search_library``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from app.models import Item
from app.repo import items as items_repo
from app.repo.items import ItemListFilter
from app.search.base import SearchBackend, SearchQuery
from app.search.query import parse_query
from app.services.search import search_library

LIST_SORTS = {"saved": "saved_desc", "saved_asc": "saved_asc", "published": "published_desc", "title": "title"}


@dataclass(slots=True)
class ItemPage:
    items: list[Item] = field(default_factory=list)
    total: int = 0
    unavailable: bool = False  # the search engine was needed and could not be reached


def _database_filter(q: SearchQuery) -> ItemListFilter | None:
    """The database filter equal to ``q``, or None when only the search engine can answer it."""
    if q.terms or q.phrases or q.excluded or q.years or q.authors or q.has_pdf is not None:
        return None
    if len(q.kinds) > 1 or len(q.tags) > 1:
        return None
    return ItemListFilter(
        kind=q.kinds[0] if q.kinds else None,
        tag=q.tags[0] if q.tags else None,
        read_state=q.read_state,
        starred=q.starred,
    )


def list_items_by_query(
    session: Session, backend: SearchBackend, raw: str, *, sort: str = "saved", page: int = 1,
    page_size: int = 20, status: str | None = None,
) -> ItemPage:
    page, page_size = max(page, 1), max(1, min(page_size, 100))
    flt = _database_filter(parse_query(raw))
    if flt is not None:
        flt.status = status
        flt.sort = LIST_SORTS.get(sort, "saved_desc")
        flt.limit, flt.offset = page_size, (page - 1) * page_size
        return ItemPage(items=items_repo.list_items(session, flt), total=items_repo.count_items(session, flt))
    engine_sort = {"saved": "saved", "published": "published"}.get(sort, "relevance")
    found = search_library(session, backend, raw, sort=engine_sort, page=page, page_size=page_size, full_items=True)
    items = [r.item for r in found.rows if status is None or r.item.status == status]
    return ItemPage(items=items, total=found.total, unavailable=found.unavailable)
