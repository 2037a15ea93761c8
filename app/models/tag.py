from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, String, Table
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base

item_tags = Table(
    "item_tags",
    Base.metadata,
    Column("item_id", ForeignKey("items.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True),
    # Items of a tag straight from the index (the library's tag filter and its count).
    Index("ix_item_tags_tag_item", "tag_id", "item_id"),
)


class Tag(Base):
    """A tag; ``name_key`` (lower-cased name) is unique, so tags are case-insensitive. "a/b" nests."""

    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    name_key: Mapped[str] = mapped_column(String(128), unique=True)
