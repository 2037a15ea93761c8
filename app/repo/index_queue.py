"""SQL for the index outbox: items whose search entry must be rebuilt or removed."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, func, insert, literal, select, update
from sqlalchemy.orm import Session

from app.models import IndexPending, Item, utcnow


def mark_for_index(session: Session, item_ids: Sequence[int], op: str = "upsert") -> None:
    """Record that these items' search entries are stale (merged with any earlier mark)."""
    for item_id in dict.fromkeys(item_ids):
        row = session.get(IndexPending, item_id)
        if row is None:
            session.add(IndexPending(item_id=item_id, op=op))
        else:
            row.op = op
            row.queued_at = utcnow()
    session.flush()


def mark_all_for_index(session: Session) -> int:
    """Queue every item in the library for (re)indexing, in two statements whatever its size."""
    session.execute(delete(IndexPending))
    now = utcnow()
    result = session.execute(
        insert(IndexPending).from_select(
            ["item_id", "op", "queued_at", "attempts", "error"],
            select(Item.id, literal("upsert"), literal(now, type_=IndexPending.queued_at.type), literal(0), literal(""))
            .where(Item.trashed_at.is_(None)),
        )
    )
    session.flush()
    return result.rowcount or 0


def pending_batch(session: Session, limit: int = 200) -> list[IndexPending]:
    stmt = select(IndexPending).order_by(IndexPending.queued_at).limit(limit)
    return list(session.scalars(stmt))


def clear_pending(session: Session, rows: Sequence[IndexPending]) -> None:
    """Delete the rows that were handled, unless they were marked again meanwhile."""
    for row in rows:
        session.execute(
            delete(IndexPending).where(
                IndexPending.item_id == row.item_id, IndexPending.queued_at == row.queued_at
            )
        )


def record_index_failure(session: Session, item_ids: Sequence[int], error: str) -> None:
    if item_ids:
        session.execute(
            update(IndexPending)
            .where(IndexPending.item_id.in_(item_ids))
            .values(attempts=IndexPending.attempts + 1, error=error[:2000])
        )


def count_pending(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(IndexPending)) or 0


def pending_batch_for(session: Session, item_ids: Sequence[int]) -> list[IndexPending]:
    stmt = select(IndexPending).where(IndexPending.item_id.in_(item_ids))
    return list(session.scalars(stmt))
