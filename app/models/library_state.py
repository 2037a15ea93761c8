from __future__ import annotations

from sqlalchemy import Integer
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class LibraryState(Base):
    """One row whose ``version`` goes up whenever what the sidebar counts can change.

    Database triggers bump it (migration 0005) on inserting or deleting items, on changing an
    item's kind, read state, star or trash, on adding or removing a tag, and on renaming or
    deleting tags, so every writer (web, worker, imports, bulk SQL) is covered. Readers keep
    sidebar counts keyed by it (app.services.library.CountsCache).
    """

    __tablename__ = "library_state"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
