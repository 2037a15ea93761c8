from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, utcnow


class IndexPending(Base):
    """An item whose search entry must be rebuilt (or removed).

    Written in the same transaction as the change, so no update is lost when the search engine or the
    broker is down; the indexing job deletes the row once the engine has acknowledged the write.
    """

    __tablename__ = "index_pending"

    item_id: Mapped[int] = mapped_column(Integer, primary_key=True)  # no FK: outlives a deleted item
    op: Mapped[str] = mapped_column(String(8), default="upsert")  # upsert | delete
    queued_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str] = mapped_column(Text, default="")
