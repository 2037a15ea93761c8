"""Thin tasks: they take ids, open a session and run app.ingest.pipeline or the indexer."""

from __future__ import annotations

import logging
import os
import socket
from datetime import timedelta

from celery import Celery
from celery.signals import worker_process_init

from app.ingest.pipeline import process_item
from app.repo import index_queue as index_repo
from app.repo import items as items_repo
from app.repo.imports import queued_job_ids as queued_import_ids
from app.services.indexing import apply_pending

log = logging.getLogger(__name__)


def register_tasks(app: Celery) -> None:
    from worker.celery_app import INDEX_PENDING, PROCESS_ITEM, RUN_IMPORT, SWEEP

    ctx = app.lectern  # type: ignore[attr-defined]

    @worker_process_init.connect(weak=False)
    def _fresh_resources(**_kwargs) -> None:
        ctx.reset()

    @app.task(name=PROCESS_ITEM, bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None)
    def process_item_task(self, item_id: int) -> str:
        owner = f"{socket.gethostname()}:{os.getpid()}:{self.request.id}"
        outcome = process_item(
            item_id=item_id,
            owner=owner,
            settings=ctx.settings,
            factory=ctx.factory,
            http=ctx.http,
            resolvers=ctx.resolvers,
            search=ctx.search,
        )
        log.info("item %s: %s %s", item_id, outcome.state, outcome.message)
        if outcome.state == "retry":
            raise self.retry(countdown=outcome.retry_in)
        return outcome.state

    @app.task(name=INDEX_PENDING, acks_late=True)
    def index_pending_task() -> int:
        run = apply_pending(ctx.factory, ctx.search, leave_jobs_sent_within=_requeue_delay(ctx.settings))
        return run.upserted + run.deleted

    @app.task(name=SWEEP)
    def sweep_task() -> int:
        return sweep(app)

    @app.task(name=RUN_IMPORT, acks_late=True)
    def run_import_task(job_id: int) -> str:
        from app.services.imports.run import run_import_job

        job = run_import_job(ctx.factory, ctx.settings, job_id, search=ctx.search)
        return job.status if job else "skipped"


def sweep(app: Celery) -> int:
    """Re-enqueue items whose jobs were lost and apply index updates still pending."""
    from worker.celery_app import CeleryJobQueue

    ctx = app.lectern  # type: ignore[attr-defined]
    queue = CeleryJobQueue(app)
    with ctx.factory() as session:
        ids = items_repo.items_needing_a_job(
            session, requeue_after=_requeue_delay(ctx.settings)
        )
    sent = [i for i in ids if queue.enqueue_item(i)]
    if sent:
        with ctx.factory() as session:
            items_repo.mark_enqueued(session, sent)
            session.commit()
        log.info("sweeper re-enqueued items %s", sent)
    with ctx.factory() as session:
        pending = index_repo.count_pending(session)
        imports = queued_import_ids(session)
    for job_id in imports:  # an import whose message was lost (the broker was down at upload)
        queue.enqueue_import(job_id)
    if pending:
        apply_pending(ctx.factory, ctx.search, leave_jobs_sent_within=_requeue_delay(ctx.settings))
    return len(sent)


def _requeue_delay(settings) -> timedelta:
    """How long a job sent to the broker counts as on its way (past it the sweeper sends it again)."""
    return timedelta(seconds=settings.job_requeue_seconds)
