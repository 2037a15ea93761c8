"""API authentication: Authorization: Bearer <token>."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.models import User
from app.services import auth as auth_service
from app.services.throttle import client_address
from app.web.deps import ServicesDep

if TYPE_CHECKING:
    from app.main import Services

bearer = HTTPBearer(auto_error=False, description="An API token from `lectern token create NAME`.")


@dataclass(frozen=True, slots=True)
class ApiToken:
    """A bearer token from an address the throttle lets through, not looked up yet.

    ``user()`` looks it up: a route that goes to the thread pool anyway (a save) calls it there,
    one trip instead of two; every other route takes ``ApiUser``, which calls it for them."""

    token: str
    address: str
    services: Services

    def user(self) -> User:
        """The token's owner; 401 (counted against the address) when it is not valid.

        Looked up outside any transaction, on its own connection (one round trip on PostgreSQL):
        a route that needs no database, or only the services' own sessions, opens no request
        session at all. Blocking: call it on the thread pool."""
        with self.services.autocommit_factory() as session:
            user = auth_service.user_for_api_token(session, self.token)
        if user is None:
            self.services.token_throttle.failed(self.address)
            raise HTTPException(401, "The API token is not valid or was revoked.")
        return user


async def api_token(
    request: Request,
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> ApiToken:
    """The request's API token, before its look-up. Wrong tokens are counted per client address
    (the same rules as logins: LECTERN_LOGIN_MAX_FAILURES in LECTERN_LOGIN_WINDOW_SECONDS); past
    the limit that address gets 429 with Retry-After until the window passes, valid token or not.
    Touches no database, so it runs on the event loop."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(401, "An API token is required (Authorization: Bearer <token>).")
    address = client_address(request.client.host if request.client else None,
                             request.headers.get("x-forwarded-for"), services.settings.trusted_proxies)
    wait = services.token_throttle.retry_after(address)
    if wait:
        raise HTTPException(429, f"Too many wrong API tokens from your address; try again in {int(wait)} s.",
                            headers={"Retry-After": str(int(wait))})
    return ApiToken(credentials.credentials, address, services)


ApiTokenDep = Annotated[ApiToken, Depends(api_token)]


def api_user(token: ApiTokenDep) -> User:
    """The owner, from a valid API token (see ``api_token`` and ``ApiToken.user``)."""
    return token.user()


ApiUser = Annotated[User, Depends(api_user)]
