"""SQL for saved searches."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import SavedSearch


def list_saved_searches(session: Session, *, pinned_only: bool = False) -> list[SavedSearch]:
    stmt = select(SavedSearch).order_by(SavedSearch.name, SavedSearch.id)
    if pinned_only:
        stmt = stmt.where(SavedSearch.pinned.is_(True))
    return list(session.scalars(stmt))


def get_saved_search(session: Session, search_id: int) -> SavedSearch | None:
    return session.get(SavedSearch, search_id)


def add_saved_search(session: Session, saved: SavedSearch) -> SavedSearch:
    session.add(saved)
    session.flush()
    return saved


def delete_saved_search(session: Session, saved: SavedSearch) -> None:
    session.delete(saved)
    session.flush()
