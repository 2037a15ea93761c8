"""SQL for imports: the job rows, and the batch lookups and inserts an import of 10,000 entries needs."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import insert, or_, select, update
from sqlalchemy.orm import Session

from app.models import ImportJob, IndexPending, Item, item_tags, utcnow


def add_job(session: Session, job: ImportJob) -> ImportJob:
    session.add(job)
    session.flush()
    return job


def get_job(session: Session, job_id: int) -> ImportJob | None:
    return session.get(ImportJob, job_id)


def recent_jobs(session: Session, limit: int = 20) -> list[ImportJob]:
    return list(session.scalars(select(ImportJob).order_by(ImportJob.id.desc()).limit(limit)))


def claim_job(session: Session, job_id: int) -> bool:
    """queued -> running in one UPDATE, so two workers never run the same import."""
    result = session.execute(
        update(ImportJob).where(ImportJob.id == job_id, ImportJob.status == "queued")
        .values(status="running", started_at=utcnow()).execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def queued_job_ids(session: Session) -> list[int]:
    return list(session.scalars(select(ImportJob.id).where(ImportJob.status == "queued").order_by(ImportJob.id)))


def update_job(session: Session, job_id: int, **values) -> None:
    session.execute(update(ImportJob).where(ImportJob.id == job_id).values(**values)
                    .execution_options(synchronize_session=False))


def existing_items(
    session: Session, canonical_urls: Sequence[str], arxiv_ids: Sequence[str], dois: Sequence[str]
) -> list[Item]:
    """Items already holding any of these identities (one query per batch)."""
    conditions = []
    if canonical_urls:
        conditions.append(Item.canonical_url.in_(list(canonical_urls)))
    if arxiv_ids:
        conditions.append(Item.arxiv_id.in_(list(arxiv_ids)))
    if dois:
        conditions.append(Item.doi.in_(list(dois)))
    if not conditions:
        return []
    return list(session.scalars(select(Item).where(or_(*conditions))))


def insert_items(session: Session, items: Sequence[Item]) -> None:
    """Insert many items at once (SQLAlchemy batches them into multi-row INSERT ... RETURNING)."""
    session.add_all(list(items))
    session.flush()


def tag_links_of(session: Session, item_ids: Sequence[int]) -> set[tuple[int, int]]:
    if not item_ids:
        return set()
    rows = session.execute(select(item_tags.c.item_id, item_tags.c.tag_id).where(item_tags.c.item_id.in_(list(item_ids))))
    return {(i, t) for i, t in rows}


def insert_tag_links(session: Session, pairs: Sequence[tuple[int, int]]) -> None:
    if pairs:
        session.execute(insert(item_tags), [{"item_id": i, "tag_id": t} for i, t in pairs])


def insert_index_pending(session: Session, item_ids: Sequence[int]) -> None:
    """Mark brand-new items for indexing (they cannot have a pending row yet)."""
    if item_ids:
        now = utcnow()
        session.execute(insert(IndexPending), [{"item_id": i, "op": "upsert", "queued_at": now, "attempts": 0,
                                                "error": ""} for i in item_ids])
