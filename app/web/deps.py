"""Request dependencies as Annotated aliases: SessionDep, SettingsDep, ServicesDep, CurrentUser ..."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from app.config import Settings
from app.main import Services
from app.models import User
from app.services import auth as auth_service

SESSION_COOKIE = "lectern_session"


class LoginRequired(Exception):
    """Raised by the web auth dependency; answered with a redirect to /login (or /setup)."""

    def __init__(self, next_path: str, needs_setup: bool = False) -> None:
        self.next_path = next_path
        self.needs_setup = needs_setup


class CsrfFailed(Exception):
    pass


async def get_services(request: Request) -> Services:
    # async: nothing here blocks, and a sync dependency costs a trip through the thread pool
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_settings(services: ServicesDep) -> Settings:
    return services.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


async def get_session(services: ServicesDep) -> AsyncIterator[Session]:
    """The request's session. async: making a Session does no I/O (it connects at its first
    query, in whichever thread runs that), so it costs no trip through the thread pool. Closing
    one that holds a connection (its rollback) does, and runs after the answer is sent; a route
    that closed it already, in its own trip through the pool, saves that trip."""
    session = services.factory()
    try:
        yield session
    finally:
        if session.in_transaction():
            await run_in_threadpool(session.close)
        else:
            session.close()  # holds no connection: nothing to release, no I/O


SessionDep = Annotated[Session, Depends(get_session)]


def current_user(request: Request, services: ServicesDep, session: SessionDep) -> User:
    cookie = request.cookies.get(SESSION_COOKIE, "")
    user = auth_service.user_for_web_session(session, cookie) if cookie else None
    if user is None:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(path, needs_setup=not auth_service.owner_exists(session))
    request.state.csrf_token = auth_service.csrf_token_for(services.secret_key, cookie)
    return user


CurrentUser = Annotated[User, Depends(current_user)]


async def csrf_protect(request: Request, services: ServicesDep) -> None:
    """Unsafe methods need the session's CSRF token (form field or X-CSRF-Token header)."""
    if request.method in {"GET", "HEAD", "OPTIONS"}:
        return
    cookie = request.cookies.get(SESSION_COOKIE, "")
    token = request.headers.get("x-csrf-token", "")
    if not token and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        token = str(form.get("csrf_token", ""))
    if not cookie or not auth_service.csrf_token_valid(services.secret_key, cookie, token):
        raise CsrfFailed()


CsrfProtected = Depends(csrf_protect)
