"""Searching the library: parse the user's query, ask the engine, join hits with their items."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from app.models import Item, SavedSearch
from app.repo import items as items_repo
from app.repo import saved_searches as saved_repo
from app.repo.items import ItemRow
from app.search.base import SearchBackend, SearchHit, SearchUnavailable
from app.search.query import SORTS, format_query, parse_query

PAGE_SIZE = 20


@dataclass(slots=True)
class SearchRow:
    hit: SearchHit
    item: Item | ItemRow  # ItemRow unless search_library was asked for full_items


@dataclass(slots=True)
class SearchPage:
    query: str
    rows: list[SearchRow] = field(default_factory=list)
    total: int = 0
    exact: bool = True  # False when total and facet counts are estimates
    facets: dict[str, dict[str, int]] = field(default_factory=dict)
    unavailable: bool = False
    took_ms: float = 0.0
    page: int = 1
    page_size: int = PAGE_SIZE
    more: bool = False  # results follow this page
    # False when total and facets were left for count_library (search_library's count_later);
    # ``matched`` is then the engine's estimate that count_library is handed back.
    counted: bool = True
    matched: int = 0

    @property
    def has_next(self) -> bool:
        return self.more


def search_library(
    session: Session, backend: SearchBackend, raw: str, *, sort: str = "relevance", page: int = 1,
    page_size: int = PAGE_SIZE, full_items: bool = False, count_later: bool = False,
) -> SearchPage:
    """A page of results. Each row's item is an ItemRow (what a results list shows), or with
    ``full_items`` the Item itself (list rows: long texts and the file left out).

    With ``count_later`` the engine may leave out the total and the facets (``counted`` False)
    when they cost it a second round trip; count_library gives them."""
    page = max(page, 1)
    result = SearchPage(query=raw, page=page, page_size=page_size)
    if not raw.strip():
        return result
    sort = sort if sort in SORTS else "relevance"
    query = parse_query(raw, sort=sort, limit=page_size, offset=(page - 1) * page_size)  # type: ignore[arg-type]
    query.count_later = count_later
    try:
        found = backend.search(query)
    except SearchUnavailable:
        result.unavailable = True
        return result
    ids = [h.item_id for h in found.hits]
    if full_items:
        items = items_repo.get_items_by_ids(session, ids, rows_only=True, with_file=False)
    else:
        items = items_repo.item_rows(session, ids)
    result.rows = [SearchRow(hit=h, item=items[h.item_id]) for h in found.hits if h.item_id in items]
    result.total, result.facets, result.took_ms = found.total, found.facets, found.took_ms
    result.exact, result.more = found.exhaustive, found.more
    result.counted, result.matched = found.counted, found.matched
    return result


def count_library(backend: SearchBackend, raw: str, *, sort: str = "relevance", matched: int | None = None) -> SearchPage:
    """The total and facets of a search, no rows: what search_library left out under
    ``count_later``. ``matched`` is that page's SearchPage.matched (a hint: any value gives a
    count, the right one saves the engine a search)."""
    result = SearchPage(query=raw)
    if not raw.strip():
        return result
    query = parse_query(raw, sort=sort if sort in SORTS else "relevance")  # type: ignore[arg-type]
    try:
        found = backend.count(query, matched)
    except SearchUnavailable:
        result.unavailable = True
        return result
    result.total, result.facets, result.took_ms, result.exact = found.total, found.facets, found.took_ms, found.exhaustive
    return result


# Facets as links ------------------------------------------------------------------------------

FACET_LABELS = {"kind": "Kind", "tags": "Tags", "read_state": "Read", "starred": "Starred",
                "year": "Year", "has_pdf": "PDF"}


@dataclass(slots=True)
class FacetLink:
    value: str
    label: str
    count: int
    query: str  # the query with this filter toggled
    active: bool


def _toggle(raw: str, facet: str, value: str) -> tuple[str, bool]:
    """The query with one facet value added, or removed when it is already there."""
    q = parse_query(raw)
    if facet == "kind":
        active = value in q.kinds
        q.kinds = [k for k in q.kinds if k != value] if active else [*q.kinds, value]
    elif facet == "tags":
        key = value.lower()
        active = key in q.tags
        q.tags = [t for t in q.tags if t != key] if active else [*q.tags, key]
    elif facet == "read_state":
        active = q.read_state == value
        q.read_state = None if active else value
    elif facet == "starred":
        active = q.starred is True
        q.starred = None if active else True
    elif facet == "has_pdf":
        active = q.has_pdf is True
        q.has_pdf = None if active else True
    elif facet == "year":
        year = int(value) if value.isdigit() else None
        active = year in q.years
        q.years = [y for y in q.years if y != year] if active else [*q.years, *([year] if year else [])]
    else:
        return raw, False
    return format_query(q), active


def facet_links(raw: str, facets: dict[str, dict[str, int]], limit: int = 12) -> dict[str, list[FacetLink]]:
    """Every facet value of the current results as a link that toggles its filter."""
    out: dict[str, list[FacetLink]] = {}
    for facet in ("kind", "tags", "read_state", "year", "starred", "has_pdf"):
        values = facets.get(facet) or {}
        if facet in ("starred", "has_pdf"):
            values = {k: v for k, v in values.items() if k == "true"}
        links = []
        for value, count in sorted(values.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]:
            query, active = _toggle(raw, facet, value)
            label = {"starred": "starred", "has_pdf": "has a PDF"}.get(facet, value)
            links.append(FacetLink(value=value, label=label, count=count, query=query, active=active))
        if links:
            out[FACET_LABELS[facet]] = links
    return out


# Saved searches -------------------------------------------------------------------------------


class SavedSearchError(ValueError):
    pass


def save_search(session: Session, name: str, query: str, sort: str = "relevance") -> SavedSearch:
    name, query = name.strip(), query.strip()
    if not name:
        raise SavedSearchError("A saved search needs a name.")
    if not query:
        raise SavedSearchError("There is nothing to save: the search is empty.")
    saved = saved_repo.add_saved_search(
        session, SavedSearch(name=name[:128], query=query[:500], sort=sort if sort in SORTS else "relevance",
                             pinned=True)
    )
    session.commit()
    return saved
