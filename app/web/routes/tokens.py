"""API tokens in the web app: create a named token (shown once), list, revoke."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse

from app.repo import users as users_repo
from app.services import auth as auth_service
from app.web.deps import CsrfProtected, CurrentUser, SessionDep
from app.web.render import is_htmx, render

router = APIRouter(tags=["web: tokens"])


def _page(request: Request, session, user, status_code: int = 200, **extra):
    ctx = {"tokens": users_repo.list_tokens(session, user.id), **extra}
    return render(request, "tokens/page.html", ctx, fragment="tokens/_list.html", status_code=status_code)


@router.get("/settings/tokens")
def tokens_page(request: Request, user: CurrentUser, session: SessionDep):
    return _page(request, session, user)


@router.post("/settings/tokens", dependencies=[CsrfProtected])
def create_token(request: Request, user: CurrentUser, session: SessionDep, name: Annotated[str, Form()] = ""):
    try:
        new = auth_service.create_api_token(session, user, name)
    except auth_service.AuthError as exc:
        return _page(request, session, user, error=str(exc), status_code=400)
    session.commit()
    return _page(request, session, user, new_token=new.plaintext, new_name=new.token.name)


@router.post("/settings/tokens/{token_id}/revoke", dependencies=[CsrfProtected])
def revoke_token(request: Request, token_id: int, user: CurrentUser, session: SessionDep):
    if not users_repo.revoke_token(session, user.id, token_id):
        raise HTTPException(404, "No such token.")
    session.commit()
    if is_htmx(request):
        return _page(request, session, user, flash="Token revoked.")
    return RedirectResponse("/settings/tokens", status_code=303)
