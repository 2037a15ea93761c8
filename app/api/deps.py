"""API authentication: Authorization: Bearer <token>."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.models import User
from app.services import auth as auth_service
from app.services.throttle import client_address
from app.web.deps import ServicesDep

bearer = HTTPBearer(auto_error=False, description="An API token from `lectern token create NAME`.")


def api_user(
    request: Request,
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> User:
    """The owner, from a valid API token. Wrong tokens are counted per client address (the same
    rules as logins: LECTERN_LOGIN_MAX_FAILURES in LECTERN_LOGIN_WINDOW_SECONDS); past the limit
    that address gets 429 with Retry-After until the window passes, valid token or not.

    The token is looked up outside any transaction, on its own connection (one round trip on
    PostgreSQL): a route that needs no database, or only the services' own sessions (a save), opens
    no request session at all."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(401, "An API token is required (Authorization: Bearer <token>).")
    address = client_address(request.client.host if request.client else None,
                             request.headers.get("x-forwarded-for"), services.settings.trusted_proxies)
    wait = services.token_throttle.retry_after(address)
    if wait:
        raise HTTPException(429, f"Too many wrong API tokens from your address; try again in {int(wait)} s.",
                            headers={"Retry-After": str(int(wait))})
    with services.autocommit_factory() as session:
        user = auth_service.user_for_api_token(session, credentials.credentials)
    if user is None:
        services.token_throttle.failed(address)
        raise HTTPException(401, "The API token is not valid or was revoked.")
    return user


ApiUser = Annotated[User, Depends(api_user)]
