"""The SearchBackend interface every search engine implements, and the values it passes around.

The database is the source of truth: a backend only ever receives SearchDocuments built from it
(app.search.documents) and answers SearchQuery objects with item ids, highlights and facets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, Protocol, runtime_checkable

Sort = Literal["relevance", "saved", "published"]

FACETS = ("kind", "tags", "read_state", "starred", "year", "has_pdf")


class SearchUnavailable(RuntimeError):
    """The engine cannot be reached or refused the request; callers show "search is unavailable"."""


def epoch_seconds(value: datetime | None) -> float | None:
    """A document's date as Unix seconds (naive datetimes are UTC), for sorting in either engine."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


@dataclass(slots=True)
class SearchDocument:
    """Everything searchable about one item, flattened from the database."""

    item_id: int
    kind: str
    title: str = ""
    authors: list[str] = field(default_factory=list)
    abstract: str = ""
    tags: list[str] = field(default_factory=list)  # tag names as the user wrote them, e.g. "ml/diffusion"
    notes: list[str] = field(default_factory=list)  # note bodies (Markdown, LaTeX kept)
    body: str = ""  # main text of a page, post or tweet (not the PDF)
    pages: list[str] = field(default_factory=list)  # PDF text, pages[0] is page 1
    site: str = ""
    url: str = ""
    read_state: str = "unread"
    starred: bool = False
    year: int | None = None  # year published
    has_pdf: bool = False
    saved_at: datetime | None = None
    published_at: datetime | None = None


@dataclass(slots=True)
class SearchQuery:
    """A parsed query: free text plus structured filters (see app.search.query for the syntax)."""

    terms: list[str] = field(default_factory=list)  # plain words, in order; the last may be a prefix
    phrases: list[str] = field(default_factory=list)  # "exact phrase"s
    excluded: list[str] = field(default_factory=list)  # -word
    kinds: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)  # a tag matches itself and its children ("a" finds "a/b")
    read_state: str | None = None
    starred: bool | None = None
    years: list[int] = field(default_factory=list)
    has_pdf: bool | None = None
    authors: list[str] = field(default_factory=list)  # author:Song matches an author name word
    sort: Sort = "relevance"
    limit: int = 20
    offset: int = 0
    with_facets: bool = True
    # The caller will ask SearchBackend.count for the total and the facets when this page does not
    # hold every match, so a backend whose count is a second round trip may leave it out.
    count_later: bool = False

    @property
    def has_text(self) -> bool:
        return bool(self.terms or self.phrases)


@dataclass(slots=True)
class SearchHit:
    item_id: int
    title_html: str  # HTML-escaped title with <mark> around matched words
    snippet_html: str  # HTML-escaped snippet cropped around the best match, with <mark>
    page: int | None = None  # 1-based PDF page of the best body match, when it is in the PDF
    score: float = 0.0


@dataclass(slots=True)
class SearchResults:
    hits: list[SearchHit]
    total: int
    facets: dict[str, dict[str, int]] = field(default_factory=dict)  # facet -> value -> count
    took_ms: float = 0.0
    exhaustive: bool = True  # False when total and facet counts are estimates (very common words)
    more: bool = False  # items match after this page
    # False when total and facets were left for SearchBackend.count (SearchQuery.count_later);
    # ``matched`` is then the engine's estimate of the documents that matched, for count to use.
    counted: bool = True
    matched: int = 0


@runtime_checkable
class SearchBackend(Protocol):
    name: str
    # Set by setup() when it found an index laid out by another release and emptied it: every item
    # must be indexed again (app.services.indexing.prepare_search queues them).
    rebuilt: bool
    # Items per upsert when many are written (lectern reindex, app.services.indexing.apply_pending).
    batch_size: int

    def setup(self) -> None:
        """Create the index and apply its settings; idempotent, called on every start."""

    def upsert(self, docs: list[SearchDocument]) -> None:
        """Add or replace documents; returns once the engine has applied them (raise on failure)."""

    def delete(self, item_ids: list[int]) -> None:
        """Remove items; unknown ids are ignored."""

    def search(self, query: SearchQuery) -> SearchResults: ...

    def count(self, query: SearchQuery, matched: int | None = None) -> SearchResults:
        """The total and facets of a query, without hits: what search() left out under
        ``count_later``. ``matched`` is that search's SearchResults.matched, if known."""

    def indexed_ids(self) -> set[int]:
        """Every item id the index holds (for `lectern check`)."""

    def clear(self) -> None:
        """Drop every document (used by `lectern reindex`)."""

    def healthy(self) -> bool: ...

    def close(self) -> None: ...
