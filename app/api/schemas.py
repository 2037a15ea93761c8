"""Request and response bodies of the JSON API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from app.models import Item


class ItemCreate(BaseModel):
    url: str = Field(..., min_length=1, max_length=4096, description="The page, paper, tweet or PDF to save.")
    title: str = Field("", max_length=1000)
    kind: Literal["paper", "tweet", "post", "link"] | None = None
    text: str = Field("", max_length=2_000_000, description="Text the client captured (e.g. a tweet thread).")
    html: str = Field("", max_length=5_000_000)
    selection: str = Field("", max_length=100_000, description="Selected text, kept as a quote note.")
    tags: list[str] = Field(default_factory=list, max_length=100)
    note: str = Field("", max_length=200_000)
    extra: dict[str, Any] = Field(default_factory=dict, description="Captured details: author handle, date ...")


class TagOut(BaseModel):
    id: int
    name: str


class ItemOut(BaseModel):
    id: int
    kind: str
    title: str
    authors: list[str]
    abstract: str
    url: str
    canonical_url: str
    site: str
    arxiv_id: str | None
    doi: str | None
    published_at: date | None
    saved_at: datetime
    read_state: str
    starred: bool
    status: str
    error: str
    attempts: int
    tags: list[TagOut]
    has_pdf: bool
    page_count: int | None
    extra: dict[str, Any]

    @classmethod
    def of(cls, item: Item, *, tags: list | None = None, page_count: int | None = None) -> ItemOut:
        return cls(
            id=item.id, kind=item.kind, title=item.title, authors=list(item.authors or []),
            abstract=item.abstract, url=item.url, canonical_url=item.canonical_url, site=item.site,
            arxiv_id=item.arxiv_id, doi=item.doi, published_at=item.published_at, saved_at=item.saved_at,
            read_state=item.read_state, starred=item.starred, status=item.status, error=item.error,
            attempts=item.attempts, tags=[TagOut(id=t.id, name=t.name) for t in (tags or [])],
            has_pdf=item.file_id is not None, page_count=page_count, extra=dict(item.extra or {}),
        )


class SaveOut(BaseModel):
    item: ItemOut
    created: bool
    queued: bool = Field(description="False when the worker could not be told yet; it will be picked up later.")


class SearchHitOut(BaseModel):
    item_id: int
    kind: str
    title: str
    title_html: str
    snippet_html: str
    page: int | None
    url: str


class SearchOut(BaseModel):
    query: str
    total: int
    hits: list[SearchHitOut]
    facets: dict[str, dict[str, int]]


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorOut(BaseModel):
    error: ErrorBody


class ItemListOut(BaseModel):
    query: str
    total: int
    page: int
    page_size: int
    items: list[ItemOut]


class ItemUpdate(BaseModel):
    """Fields to change; those left out stay as they are. ``tags`` replaces the item's tags."""

    title: str | None = Field(None, max_length=1000)
    tags: list[str] | None = Field(None, max_length=100)
    read_state: Literal["unread", "reading", "read"] | None = None
    starred: bool | None = None


class StatusOut(BaseModel):
    id: int
    status: str
    error: str
    attempts: int
    final: bool = Field(description="True when the item is ready or failed (nothing more will happen by itself).")


class TagCountOut(BaseModel):
    id: int
    name: str
    count: int


class TagRename(BaseModel):
    name: str = Field(..., min_length=1, max_length=128, description="The new name; an existing tag's name merges the two.")


class TagMerge(BaseModel):
    source_ids: list[int] = Field(..., min_length=1, max_length=1000, description="Tags merged into this one and deleted.")


class NoteCreate(BaseModel):
    body: str = Field(..., min_length=1, max_length=100_000, description="Markdown (LaTeX between $ or $$ kept).")
    parent_id: int | None = Field(None, description="Reply to this note of the same item.")


class NoteEdit(BaseModel):
    body: str = Field(..., min_length=1, max_length=100_000)


class NoteOut(BaseModel):
    id: int
    item_id: int
    parent_id: int | None
    body: str
    created_at: datetime
    edited_at: datetime | None
    deleted: bool
    replies: list[NoteOut] = Field(default_factory=list)

