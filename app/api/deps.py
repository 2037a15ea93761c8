"""API authentication: Authorization: Bearer <token>."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.models import User
from app.services import auth as auth_service
from app.web.deps import SessionDep

bearer = HTTPBearer(auto_error=False, description="An API token from `lectern token create NAME`.")


def api_user(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> User:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(401, "An API token is required (Authorization: Bearer <token>).")
    user = auth_service.user_for_api_token(session, credentials.credentials)
    if user is None:
        raise HTTPException(401, "The API token is not valid or was revoked.")
    return user


ApiUser = Annotated[User, Depends(api_user)]
