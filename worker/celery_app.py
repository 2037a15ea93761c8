"""make_celery(settings): the Celery app, JSON only, late acks; and the JobQueue the web app uses."""

from __future__ import annotations

import logging
import os
import tempfile
from functools import cached_property

from celery import Celery
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.db import make_engine, make_session_factory
from worker.broker import SLOW_SQL_OPTION, embedded_broker_url
from worker.broker import register as register_embedded_broker

log = logging.getLogger(__name__)

PROCESS_ITEM = "lectern.process_item"
INDEX_PENDING = "lectern.index_pending"
SWEEP = "lectern.sweep"
RUN_IMPORT = "lectern.run_import"

# redis:// brokers: kombu's transport keeping its Redis client; a name, so that kombu imports it
# (and redis-py) only in processes that use Redis.
REDIS_TRANSPORT = "worker.redis_transport:Transport"


class WorkerContext:
    """What tasks need, built lazily in each worker process (never shared across a fork)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @cached_property
    def factory(self) -> sessionmaker[Session]:
        return make_session_factory(make_engine(self.settings))

    @cached_property
    def search(self):
        from app.search.factory import make_search_backend

        return make_search_backend(self.settings)

    @cached_property
    def http(self):
        from app.ingest.http import SafeClient

        return SafeClient(self.settings)

    @cached_property
    def resolvers(self):
        from app.ingest.registry import default_resolvers

        return default_resolvers(self.settings)

    def reset(self) -> None:
        """Forget per-process resources (after a fork)."""
        for name in ("factory", "search", "http", "resolvers"):
            self.__dict__.pop(name, None)


def make_celery(settings: Settings) -> Celery:
    broker_url = settings.effective_broker_url
    transport_options: dict = {}
    transport = None
    if broker_url.startswith(("sqla+", "sqlite")):
        register_embedded_broker()
        broker_url = embedded_broker_url(broker_url)
        transport_options["polling_interval"] = settings.broker_polling_interval
        transport_options[SLOW_SQL_OPTION] = settings.slow_sql_ms
    else:
        transport_options["socket_connect_timeout"] = 2
        transport_options["socket_timeout"] = 5
        if broker_url.startswith("redis://"):
            transport = REDIS_TRANSPORT
    app = Celery("lectern", set_as_current=False)
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_url=broker_url,
        broker_transport=transport,
        broker_transport_options=transport_options,
        broker_connection_timeout=2,
        broker_connection_retry_on_startup=True,
        task_publish_retry=False,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        beat_schedule={
            "sweep": {"task": SWEEP, "schedule": settings.sweep_interval},
        },
        beat_schedule_filename=os.path.join(tempfile.gettempdir(), f"lectern-beat-{os.getpid()}"),
    )
    app.lectern = WorkerContext(settings)  # type: ignore[attr-defined]
    from worker.tasks import register_tasks

    register_tasks(app)
    return app


class CeleryJobQueue:
    """The JobQueue services use: sends task messages by name; never raises."""

    def __init__(self, app: Celery) -> None:
        self.app = app

    def _send(self, name: str, args: list) -> bool:
        try:
            self.app.send_task(name, args=args)
            return True
        except Exception as exc:  # noqa: BLE001 - a down broker must not fail the save
            log.warning("could not reach the broker (%s); the sweeper will enqueue later", exc)
            return False

    def enqueue_item(self, item_id: int) -> bool:
        return self._send(PROCESS_ITEM, [item_id])

    def enqueue_index(self) -> bool:
        return self._send(INDEX_PENDING, [])

    def enqueue_import(self, job_id: int) -> bool:
        return self._send(RUN_IMPORT, [job_id])
