"""First-run setup, log in, log out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse

from app.services import auth as auth_service
from app.services.throttle import client_address
from app.web.deps import SESSION_COOKIE, ServicesDep, SessionDep
from app.web.render import render

router = APIRouter(tags=["web: auth"])


def safe_next(value: str | None) -> str:
    """Only a local path: no scheme, no host, no //evil or /\\evil."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")) or "\\" in value:
        return "/"
    return value


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    return origin.rstrip("/") == str(request.base_url).rstrip("/")


def _login_response(request: Request, services, cookie: str, next_path: str) -> RedirectResponse:
    response = RedirectResponse(safe_next(next_path), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        httponly=True,
        samesite="lax",
        secure=services.settings.environment == "production",
        max_age=int(auth_service.SESSION_LIFETIME.total_seconds()),
    )
    return response


@router.get("/setup")
def setup_page(request: Request, session: SessionDep):
    if auth_service.owner_exists(session):
        return RedirectResponse("/login", status_code=303)
    return render(request, "auth/setup.html", {"error": ""})


@router.post("/setup")
def setup_submit(
    request: Request,
    services: ServicesDep,
    session: SessionDep,
    password: Annotated[str, Form()],
    password2: Annotated[str, Form()],
):
    if not _same_origin(request):
        return render(request, "auth/setup.html", {"error": "Cross-site request refused."}, status_code=403)
    if auth_service.owner_exists(session):
        return RedirectResponse("/login", status_code=303)
    if password != password2:
        return render(request, "auth/setup.html", {"error": "The two passwords differ."}, status_code=400)
    try:
        user = auth_service.create_owner(session, password)
    except auth_service.AuthError as exc:
        return render(request, "auth/setup.html", {"error": str(exc)}, status_code=400)
    cookie = auth_service.start_web_session(session, user)
    session.commit()
    return _login_response(request, services, cookie, "/")


@router.get("/login")
def login_page(request: Request, session: SessionDep, next: str = "/"):
    if not auth_service.owner_exists(session):
        return RedirectResponse("/setup", status_code=303)
    return render(request, "auth/login.html", {"error": "", "next": safe_next(next)})


@router.post("/login")
def login_submit(
    request: Request,
    services: ServicesDep,
    session: SessionDep,
    password: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/",
):
    if not _same_origin(request):
        return render(request, "auth/login.html", {"error": "Cross-site request refused.", "next": "/"},
                      status_code=403)
    address = client_address(request.client.host if request.client else None,
                             request.headers.get("x-forwarded-for"), services.settings.trusted_proxies)
    throttle = services.login_throttle
    wait = throttle.retry_after(address)
    if wait:
        message = f"Too many failed logins from your address. Try again in {int(wait // 60) + 1} minutes."
        return render(request, "auth/login.html", {"error": message, "next": safe_next(next)},
                      status_code=429, headers={"Retry-After": str(int(wait))})
    user = auth_service.check_login(session, password)
    if user is None:
        throttle.failed(address)
        return render(request, "auth/login.html", {"error": "Wrong password.", "next": safe_next(next)},
                      status_code=401)
    throttle.succeeded(address)
    cookie = auth_service.start_web_session(session, user)
    session.commit()
    return _login_response(request, services, cookie, next)


@router.post("/logout")
def logout(request: Request, session: SessionDep):
    cookie = request.cookies.get(SESSION_COOKIE, "")
    if cookie and _same_origin(request):
        auth_service.end_web_session(session, cookie)
        session.commit()
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response
