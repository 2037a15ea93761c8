"""Searching the library: parse the user's query, ask the engine, join hits with their items."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from app.models import Item
from app.repo import items as items_repo
from app.search.base import SearchBackend, SearchHit, SearchUnavailable
from app.search.query import parse_query

PAGE_SIZE = 20


@dataclass(slots=True)
class SearchRow:
    hit: SearchHit
    item: Item


@dataclass(slots=True)
class SearchPage:
    query: str
    rows: list[SearchRow] = field(default_factory=list)
    total: int = 0
    facets: dict[str, dict[str, int]] = field(default_factory=dict)
    unavailable: bool = False
    took_ms: float = 0.0
    page: int = 1
    page_size: int = PAGE_SIZE

    @property
    def has_next(self) -> bool:
        return self.page * self.page_size < self.total


def search_library(
    session: Session, backend: SearchBackend, raw: str, *, sort: str = "relevance", page: int = 1,
    page_size: int = PAGE_SIZE,
) -> SearchPage:
    page = max(page, 1)
    result = SearchPage(query=raw, page=page, page_size=page_size)
    if not raw.strip():
        return result
    sort = sort if sort in ("relevance", "saved", "published") else "relevance"
    query = parse_query(raw, sort=sort, limit=page_size, offset=(page - 1) * page_size)  # type: ignore[arg-type]
    try:
        found = backend.search(query)
    except SearchUnavailable:
        result.unavailable = True
        return result
    items = items_repo.get_items_by_ids(session, [h.item_id for h in found.hits])
    result.rows = [SearchRow(hit=h, item=items[h.item_id]) for h in found.hits if h.item_id in items]
    result.total, result.facets, result.took_ms = found.total, found.facets, found.took_ms
    return result
