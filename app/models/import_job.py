from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, utcnow


class ImportJob(Base):
    """One import of a file (BibTeX, CSL-JSON, bookmarks, X archive, URL list) and its progress.

    The worker updates the counters as it goes; the import page polls this row. ``skipped`` holds
    ``{"entry": ..., "reason": ...}`` for every entry that was not imported.
    """

    __tablename__ = "import_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    format: Mapped[str] = mapped_column(String(32))
    filename: Mapped[str] = mapped_column(String(512), default="")
    path: Mapped[str] = mapped_column(Text, default="")  # the uploaded file, under <data_dir>/imports
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)  # queued|running|done|failed
    total: Mapped[int] = mapped_column(Integer, default=0)
    processed: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[int] = mapped_column(Integer, default=0)
    merged: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
