"""SQL for the index outbox: items whose search entry must be rebuilt or removed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from functools import cache

from sqlalchemy import bindparam, delete, exists, func, insert, literal, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from app.models import ACTIVE_STATUSES, IndexPending, Item, ItemStatus, utcnow


def mark_for_index(session: Session, item_ids: Sequence[int], op: str = "upsert") -> None:
    """Record that these items' search entries are stale (merged with any earlier mark).

    One INSERT .. ON CONFLICT DO UPDATE (SQLite and PostgreSQL), executed for all the ids at once: no
    look-up first, and two transactions marking one item at the same moment both succeed."""
    ids = list(dict.fromkeys(item_ids))
    if not ids:
        return
    session.flush()  # the caller's pending changes first, as before any other statement
    now = utcnow()
    session.execute(
        _upsert_pending(session.get_bind().dialect.name),
        [{"item_id": i, "op": op, "queued_at": now, "attempts": 0, "error": ""} for i in ids],
    )
    for item_id in ids:  # rows this session loaded before the statement changed them
        row = session.identity_map.get(identity_key(IndexPending, item_id))
        if row is not None:
            session.expire(row)


@cache
def _upsert_pending(dialect: str):
    """The outbox upsert on the table (no ORM bulk machinery on the hot save path), built once."""
    table = IndexPending.__table__
    stmt = (pg_insert if dialect == "postgresql" else sqlite_insert)(table)
    return stmt.on_conflict_do_update(
        index_elements=[table.c.item_id], set_={"op": stmt.excluded.op, "queued_at": stmt.excluded.queued_at}
    )


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


def pending_batch(
    session: Session, limit: int = 200, *, leave_jobs_sent_within: timedelta | None = None
) -> list[IndexPending]:
    """The oldest pending updates. With ``leave_jobs_sent_within``, the upserts of items whose
    processing job will index them anyway are left out: items being worked on under a live lease,
    and queued items handed to the broker less than that long ago. Indexing those now would only
    index an unfinished item and put a second write ahead of the job's own in the engine's queue.
    A retry waiting for its time (``enqueued_at`` in the future), a lost job and a finished item
    are not left out, nor is any deletion."""
    stmt = select(IndexPending).order_by(IndexPending.queued_at).limit(limit)
    if leave_jobs_sent_within is not None:
        now = utcnow()
        job_will_index = exists().where(
            Item.id == IndexPending.item_id,
            or_(
                Item.status.in_(list(ACTIVE_STATUSES)) & (Item.lease_until > now),
                (Item.status == ItemStatus.queued)
                & Item.enqueued_at.between(now - leave_jobs_sent_within, now),
            ),
        )
        stmt = stmt.where(or_(IndexPending.op != "upsert", ~job_will_index))
    return list(session.scalars(stmt))


_CLEAR_PENDING = (
    delete(IndexPending.__table__)
    .where(IndexPending.item_id == bindparam("item"), IndexPending.queued_at == bindparam("queued"))
)


def clear_pending(session: Session, rows: Sequence[IndexPending]) -> None:
    """Delete the rows that were handled, unless they were marked again meanwhile: one statement
    run for every row (executemany). On SQLite this holds the write lock that saves wait for, and
    500 ORM deletes one by one held it about 0.5 s in a busy worker."""
    if rows:
        session.connection().execute(
            _CLEAR_PENDING, [{"item": row.item_id, "queued": row.queued_at} for row in rows]
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
