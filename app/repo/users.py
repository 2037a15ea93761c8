"""SQL for the owner account, API tokens and browser sessions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.orm import Session

from app.models import ApiToken, User, WebSession, utcnow

# The statements every request runs to tell who asks are built once, with bound parameters: built
# per call, building and keying one cost as much as running it (about 0.1 ms each here).
_LIVE_TOKEN = (
    select(ApiToken, User)
    .join(User, User.id == ApiToken.user_id)
    .where(ApiToken.token_hash == bindparam("token_hash"), ApiToken.revoked_at.is_(None))
)
_LIVE_WEB_SESSION = (
    select(User)
    .join(WebSession, WebSession.user_id == User.id)
    .where(WebSession.token_hash == bindparam("token_hash"), WebSession.expires_at > bindparam("now"))
)


def get_owner(session: Session) -> User | None:
    return session.scalars(select(User).order_by(User.id).limit(1)).first()


def add_user(session: Session, user: User) -> User:
    session.add(user)
    session.flush()
    return user


def add_token(session: Session, token: ApiToken) -> ApiToken:
    session.add(token)
    session.flush()
    return token


def get_user_by_active_token_hash(session: Session, token_hash: str) -> tuple[ApiToken, User] | None:
    """The live token with this hash and its owner, in one query (every API request asks)."""
    row = session.execute(_LIVE_TOKEN, {"token_hash": token_hash}).first()
    return (row[0], row[1]) if row else None


def list_tokens(session: Session, user_id: int) -> list[ApiToken]:
    stmt = select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id)
    return list(session.scalars(stmt))


def revoke_token(session: Session, user_id: int, token_id: int) -> bool:
    result = session.execute(
        update(ApiToken)
        .where(ApiToken.id == token_id, ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return result.rowcount == 1


def add_web_session(session: Session, web_session: WebSession) -> WebSession:
    session.add(web_session)
    session.flush()
    return web_session


def get_user_by_live_web_session(session: Session, token_hash: str, now: datetime) -> User | None:
    """The owner of the unexpired browser session with this hash, in one query (every page asks)."""
    return session.scalars(_LIVE_WEB_SESSION, {"token_hash": token_hash, "now": now}).first()


def delete_web_session(session: Session, token_hash: str) -> None:
    session.execute(delete(WebSession).where(WebSession.token_hash == token_hash))
