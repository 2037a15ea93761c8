"""The owner account, passwords (argon2), API tokens and browser sessions."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from app.models import ApiToken, User, WebSession, utcnow
from app.repo import users as users_repo

SESSION_LIFETIME = timedelta(days=30)
MIN_PASSWORD_LENGTH = 8
TOKEN_PREFIX = "lct_"

# argon2id at OWASP's recommended minimum (19 MiB, 2 passes, 1 lane). argon2-cffi's default
# profile holds 64 MiB per hash: one login lifted the web process's peak RSS from 110 to 177 MB
# (bench/run figure 7, 100k items). Hashes made with other parameters still verify and are
# re-hashed at the next login.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# Each hash holds memory_cost while it runs: eight logins at once took the web process past
# 550 MB with the old profile. Hashes run one at a time on one thread (a login waits a few tens of
# ms at most): 19 MiB is below glibc's mmap threshold, so each thread that hashed would keep its
# own 19 MiB heap (eight request threads: +152 MB); one thread keeps and reuses one.
_hash_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="argon2")


class AuthError(ValueError):
    """A refusal worth showing the user as it is."""


class OwnerExists(AuthError):
    """create_owner found an owner: another process (or request) made it first."""


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def hash_password(password: str) -> str:
    return _hash_thread.submit(_hasher.hash, password).result()


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hash_thread.submit(_hasher.verify, password_hash, password).result()
    except (VerificationError, InvalidHashError):
        return False


def owner_exists(session: Session) -> bool:
    return users_repo.get_owner(session) is not None


def create_owner(session: Session, password: str, username: str = "owner") -> User:
    if owner_exists(session):
        raise OwnerExists("The owner account already exists.")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AuthError(f"The password needs at least {MIN_PASSWORD_LENGTH} characters.")
    return users_repo.add_user(session, User(username=username, password_hash=hash_password(password)))


def ensure_owner_from_settings(session: Session, password: str) -> User | None:
    """Create the owner from LECTERN_PASSWORD when there is none yet (the caller commits)."""
    owner = users_repo.get_owner(session)
    if owner is None and password:
        owner = create_owner(session, password)
    return owner


def ensure_owner_on_start(factory: sessionmaker[Session], password: str) -> User | None:
    """On start: ``ensure_owner_from_settings`` in a transaction of its own. Every process runs it
    at start (web, worker); several starting together on a fresh database all find no owner and
    all INSERT one: the first commit wins, the others hit the unique username, roll back and return
    the winner's owner. One that sees the winner's owner when create_owner looks again (committed
    after its first look) returns it the same way."""
    with factory() as session:
        try:
            owner = ensure_owner_from_settings(session, password)
            session.commit()
        except (IntegrityError, OwnerExists):
            session.rollback()
            owner = users_repo.get_owner(session)
            if owner is None:  # the conflict was not another process's owner
                raise
        return owner


def check_login(session: Session, password: str) -> User | None:
    """The owner when the password is right (its hash brought to the current parameters; the
    caller commits), else None."""
    owner = users_repo.get_owner(session)
    if owner is None or not verify_password(owner.password_hash, password):
        return None
    if _hasher.check_needs_rehash(owner.password_hash):
        owner.password_hash = hash_password(password)
    return owner


# API tokens ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class NewToken:
    token: ApiToken
    plaintext: str  # shown once, never stored


def create_api_token(session: Session, user: User, name: str) -> NewToken:
    name = name.strip()
    if not name:
        raise AuthError("A token needs a name.")
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = users_repo.add_token(
        session, ApiToken(user_id=user.id, name=name[:128], token_hash=sha256_hex(plaintext))
    )
    return NewToken(token=token, plaintext=plaintext)


def user_for_api_token(session: Session, plaintext: str) -> User | None:
    """The token's owner, or None. Lookup is by SHA-256 (constant-time compare on the digest)."""
    digest = sha256_hex(plaintext)
    found = users_repo.get_user_by_active_token_hash(session, digest)
    if found is None or not hmac.compare_digest(found[0].token_hash, digest):
        return None
    return found[1]


# Browser sessions ---------------------------------------------------------------------------------


def start_web_session(session: Session, user: User) -> str:
    """A fresh session id on every login; returns the cookie value."""
    plaintext = secrets.token_urlsafe(32)
    users_repo.add_web_session(
        session,
        WebSession(user_id=user.id, token_hash=sha256_hex(plaintext), expires_at=utcnow() + SESSION_LIFETIME),
    )
    return plaintext


def user_for_web_session(session: Session, cookie: str) -> User | None:
    return users_repo.get_user_by_live_web_session(session, sha256_hex(cookie), utcnow())


def end_web_session(session: Session, cookie: str) -> None:
    users_repo.delete_web_session(session, sha256_hex(cookie))


def csrf_token_for(secret_key: str, session_cookie: str) -> str:
    """The CSRF token bound to a browser session (HMAC of its id)."""
    return hmac.new(secret_key.encode(), b"csrf:" + session_cookie.encode(), hashlib.sha256).hexdigest()


def csrf_token_valid(secret_key: str, session_cookie: str, token: str) -> bool:
    return bool(token) and hmac.compare_digest(csrf_token_for(secret_key, session_cookie), token)
