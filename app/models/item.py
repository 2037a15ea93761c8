from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, utcnow


class ItemKind(enum.StrEnum):
    paper = "paper"
    tweet = "tweet"
    post = "post"  # a blog post or note
    link = "link"


class ReadState(enum.StrEnum):
    unread = "unread"
    reading = "reading"
    read = "read"


class ItemStatus(enum.StrEnum):
    queued = "queued"
    fetching = "fetching"
    extracting = "extracting"
    indexing = "indexing"
    ready = "ready"
    failed = "failed"


ACTIVE_STATUSES = (ItemStatus.fetching, ItemStatus.extracting, ItemStatus.indexing)


class Item(Base):
    __tablename__ = "items"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), default=ItemKind.link)
    title: Mapped[str] = mapped_column(Text, default="")
    authors: Mapped[list[str]] = mapped_column(JSON, default=list)
    abstract: Mapped[str] = mapped_column(Text, default="")
    text: Mapped[str] = mapped_column(Text, default="")  # the page's (or tweet's) main text
    site: Mapped[str] = mapped_column(String(255), default="")
    url: Mapped[str] = mapped_column(Text)
    canonical_url: Mapped[str] = mapped_column(String(2048), unique=True)
    arxiv_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    doi: Mapped[str | None] = mapped_column(String(255), unique=True)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # venue, categories, handle ...
    captured: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # what the client sent (text/html)
    published_at: Mapped[date | None] = mapped_column(Date)
    saved_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    read_state: Mapped[str] = mapped_column(String(16), default=ReadState.unread)
    read_at: Mapped[datetime | None] = mapped_column()
    starred: Mapped[bool] = mapped_column(Boolean, default=False)
    trashed_at: Mapped[datetime | None] = mapped_column(index=True)  # deleted, restorable until purged

    status: Mapped[str] = mapped_column(String(16), default=ItemStatus.queued, index=True)
    error: Mapped[str] = mapped_column(Text, default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_until: Mapped[datetime | None] = mapped_column()
    enqueued_at: Mapped[datetime | None] = mapped_column()

    file_id: Mapped[int | None] = mapped_column(ForeignKey("files.id", ondelete="SET NULL"))
    file: Mapped[File | None] = relationship(lazy="raise")  # noqa: F821
    tags: Mapped[list[Tag]] = relationship(  # noqa: F821
        secondary="item_tags", lazy="raise", order_by="Tag.name"
    )

    __table_args__ = (
        Index("ix_items_status_lease", "status", "lease_until"),
        # The library list in saved order and the sidebar counts read only these indexes, never
        # the rows (on SQLite a row's later columns sit behind its long text on overflow pages).
        Index("ix_items_live_saved", "trashed_at", "saved_at", "id"),
        Index("ix_items_live_counts", "trashed_at", "kind", "read_state", "starred"),
    )

    def __repr__(self) -> str:
        return f"<Item {self.id} {self.kind} {self.canonical_url!r} {self.status}>"
