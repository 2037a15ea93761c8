"""create_app(settings): the FastAPI app with its routers, static files and templates."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from functools import cached_property
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.db import make_autocommit_session_factory, make_engine, make_session_factory
from app.migrate import upgrade_database
from app.search.base import SearchBackend
from app.services import auth as auth_service
from app.services.jobs import JobQueue

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parent.parent


class Services:
    """Everything a request may need, built from Settings once per app (tests build their own)."""

    def __init__(self, settings: Settings, jobs: JobQueue | None = None) -> None:
        self.settings = settings
        self.engine: Engine = make_engine(settings, checkpoint_pages=settings.sqlite_web_checkpoint_pages)
        self.factory: sessionmaker[Session] = make_session_factory(self.engine)
        self.autocommit_factory: sessionmaker[Session] = make_autocommit_session_factory(self.engine)
        self._jobs = jobs

    @cached_property
    def jobs(self) -> JobQueue:
        if self._jobs is not None:
            return self._jobs
        from worker.celery_app import CeleryJobQueue, make_celery

        return CeleryJobQueue(make_celery(self.settings))

    @cached_property
    def search(self) -> SearchBackend:
        from app.search.factory import make_search_backend

        return make_search_backend(self.settings)

    @cached_property
    def counts(self):
        from app.services.library import CountsCache

        return CountsCache()

    @cached_property
    def token_throttle(self):
        from app.services.throttle import LoginThrottle

        return LoginThrottle(self.settings.login_max_failures, self.settings.login_window_seconds)

    @cached_property
    def login_throttle(self):
        from app.services.throttle import LoginThrottle

        return LoginThrottle(self.settings.login_max_failures, self.settings.login_window_seconds)

    @cached_property
    def secret_key(self) -> str:
        return self.settings.effective_secret_key()

    def start(self) -> None:
        self.settings.ensure_data_dir()
        upgrade_database(self.engine)
        auth_service.ensure_owner_on_start(self.factory, self.settings.password)
        from app.services.indexing import prepare_search

        try:
            prepare_search(self.factory, self.search, self.jobs)
        except Exception as exc:  # noqa: BLE001 - search may come up later; saving must still work
            log.warning("search backend not ready at start: %s", exc)

    def close(self) -> None:
        if "search" in self.__dict__:
            self.search.close()
        self.engine.dispose()


def create_app(settings: Settings | None = None, *, jobs: JobQueue | None = None) -> FastAPI:
    settings = settings or Settings()
    services = Services(settings, jobs)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        services.start()
        yield
        services.close()

    app = FastAPI(
        title="Lectern",
        version="0.1.0",
        lifespan=lifespan,
        docs_url="/api/docs",
        openapi_url="/api/openapi.json",
        redoc_url=None,
    )
    app.state.services = services

    from app.api.errors import install_error_handlers
    from app.api.routes import PREFIX as API_PREFIX
    from app.api.routes import ROUTERS as API_ROUTERS
    from app.api.routes import THROTTLED
    from app.web.middleware import SecurityHeadersMiddleware
    from app.web.routes import AHEAD as WEB_AHEAD
    from app.web.routes import ROUTERS as WEB_ROUTERS

    install_error_handlers(app)
    app.add_middleware(SecurityHeadersMiddleware, max_body=settings.upload_max_bytes)
    app.mount("/static", StaticFiles(directory=ROOT / "static"), name="static")
    for router in WEB_AHEAD:
        app.include_router(router)
    for router in API_ROUTERS:
        app.include_router(router, prefix=API_PREFIX, responses=THROTTLED)
    for router in WEB_ROUTERS:
        app.include_router(router)
    return app
