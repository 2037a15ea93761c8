from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, utcnow


class SavedSearch(Base):
    """A search the user named; pinned ones show in the sidebar."""

    __tablename__ = "saved_searches"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    query: Mapped[str] = mapped_column(String(500))
    sort: Mapped[str] = mapped_column(String(16), default="relevance")
    pinned: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
