from __future__ import annotations

import pytest

from app.services import auth


def test_owner_password_is_hashed_with_argon2_and_checked(db_factory):
    with db_factory() as s:
        owner = auth.create_owner(s, "long enough password")
        s.commit()
        assert owner.password_hash.startswith("$argon2")
        assert auth.check_login(s, "long enough password").id == owner.id
        assert auth.check_login(s, "wrong password") is None
        with pytest.raises(auth.AuthError):
            auth.create_owner(s, "another password")


def test_short_password_is_refused(db_factory):
    with db_factory() as s, pytest.raises(auth.AuthError, match="at least 8"):
        auth.create_owner(s, "short")


def test_api_token_is_stored_hashed_and_revocation_is_immediate(db_factory):
    from app.repo import users as users_repo

    with db_factory() as s:
        owner = auth.create_owner(s, "long enough password")
        new = auth.create_api_token(s, owner, "laptop")
        s.commit()
        assert new.plaintext not in new.token.token_hash
        assert new.token.token_hash == auth.sha256_hex(new.plaintext)
        assert auth.user_for_api_token(s, new.plaintext).id == owner.id
        assert auth.user_for_api_token(s, new.plaintext + "x") is None
        assert users_repo.revoke_token(s, owner.id, new.token.id)
        s.commit()
        assert auth.user_for_api_token(s, new.plaintext) is None


def test_web_session_ends_on_logout(db_factory):
    with db_factory() as s:
        owner = auth.create_owner(s, "long enough password")
        cookie = auth.start_web_session(s, owner)
        other = auth.start_web_session(s, owner)
        s.commit()
        assert cookie != other
        assert auth.user_for_web_session(s, cookie).id == owner.id
        auth.end_web_session(s, cookie)
        s.commit()
        assert auth.user_for_web_session(s, cookie) is None
        assert auth.user_for_web_session(s, other) is not None


def test_web_session_is_one_query_and_refused_once_expired(db_factory):
    """Every page asks who is logged in: the session and its user come back in one query, and a
    session past its expiry gives no user."""
    from datetime import timedelta

    from sqlalchemy import event

    from app.models import WebSession, utcnow

    with db_factory() as s:
        owner = auth.create_owner(s, "long enough password")
        cookie = auth.start_web_session(s, owner)
        s.commit()
        s.expunge_all()  # a fresh request: nothing in the identity map
        statements: list[str] = []
        engine = s.get_bind()
        listener = lambda *args: statements.append(args[2])  # noqa: E731 - (conn, cursor, statement, ...)
        event.listen(engine, "before_cursor_execute", listener)
        try:
            assert auth.user_for_web_session(s, cookie).id == owner.id
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        assert len([q for q in statements if q.lstrip().upper().startswith("SELECT")]) == 1, statements

        live = s.query(WebSession).filter_by(token_hash=auth.sha256_hex(cookie)).one()
        live.expires_at = utcnow() - timedelta(seconds=1)
        s.commit()
        assert auth.user_for_web_session(s, cookie) is None


def test_concurrent_logins_do_not_multiply_argon2_memory():
    """argon2 holds memory_cost (19 MiB) per hash while it runs; a burst of logins must not hold
    it eight times, and one hash must not lift the web process's peak by 64 MiB as the default
    profile did."""
    import subprocess
    import sys
    import textwrap
    from pathlib import Path

    script = textwrap.dedent("""
        import threading
        from app.services.auth import hash_password, verify_password
        def hwm():
            for line in open("/proc/self/status"):
                if line.startswith("VmHWM"):
                    return int(line.split()[1]) // 1024
        start = hwm()
        h = hash_password("correct horse battery staple")
        one = hwm() - start
        before = hwm()
        threads = [threading.Thread(target=verify_password, args=(h, "wrong password " + str(i))) for i in range(8)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        print(one, hwm() - before)
    """)
    grown = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                           cwd=Path(__file__).resolve().parents[2])
    one, burst = (int(x) for x in grown.stdout.split())
    assert one < 30, grown.stdout  # 19 MiB, not 64
    assert burst < 30, grown.stdout  # one hash at a time: not 8 x 19


def test_a_hash_made_with_older_parameters_still_logs_in_and_is_upgraded(db_factory):
    from argon2 import PasswordHasher

    old = PasswordHasher()  # argon2-cffi's default profile: 64 MiB, 3 passes, 4 lanes
    with db_factory() as s:
        owner = auth.create_owner(s, "long enough password")
        owner.password_hash = old.hash("long enough password")
        s.commit()
        assert "m=65536" in owner.password_hash
        assert auth.check_login(s, "wrong password") is None
        assert "m=65536" in owner.password_hash  # a wrong password changes nothing
        assert auth.check_login(s, "long enough password").id == owner.id
        s.commit()
    with db_factory() as s:
        from app.repo import users as users_repo

        upgraded = users_repo.get_owner(s).password_hash
        assert "m=19456,t=2,p=1" in upgraded
        assert auth.check_login(s, "long enough password") is not None



def test_an_owner_another_process_makes_between_the_check_and_the_insert_is_taken(db_settings, db_factory):
    """The window the four-process test hits only sometimes, opened on purpose: this start finds
    no owner, then another process commits one before this one's create_owner checks again. The
    start takes that owner instead of failing with "The owner account already exists"."""
    from sqlalchemy import event, func, select
    from sqlalchemy.orm import sessionmaker

    from app.models import User

    starting = sessionmaker(bind=db_factory.kw["bind"], expire_on_commit=False)
    selects = []

    def other_process_commits_before_the_second_look(state) -> None:
        selects.append(state.statement)
        if len(selects) == 2:  # the first look found no owner; the second is create_owner's
            with db_factory() as other:
                auth.create_owner(other, "the other process's password")
                other.commit()

    event.listen(starting, "do_orm_execute", other_process_commits_before_the_second_look)
    owner = auth.ensure_owner_on_start(starting, "long enough password")

    assert len(selects) >= 2  # the window was opened
    with db_factory() as s:
        assert s.scalar(select(func.count()).select_from(User)) == 1
        assert owner is not None and owner.id == s.scalar(select(User.id))

def _start_like_a_process(settings, barrier, results) -> None:
    """One process starting on the shared database: connect, wait for the others, ensure the owner."""
    from app.db import make_engine, make_session_factory

    engine = make_engine(settings)
    engine.connect().close()
    try:
        barrier.wait(timeout=60)
        owner = auth.ensure_owner_on_start(make_session_factory(engine), settings.password)
        results.put(("ok", owner.id))
    except Exception as exc:  # noqa: BLE001 - reported to the test, which shows it
        results.put(("error", repr(exc)))
    finally:
        engine.dispose()


def test_four_processes_starting_together_on_a_fresh_database_make_one_owner(db_settings, db_factory):
    """Web and worker processes starting at once all find no owner and all create one: every one of
    them starts, and one owner row exists (the old start-up lost 3 of 4 to UniqueViolation)."""
    import multiprocessing

    from sqlalchemy import func, select

    from app.models import User

    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(4), ctx.Queue()
    procs = [ctx.Process(target=_start_like_a_process, args=(db_settings, barrier, results)) for _ in range(4)]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=90) for _ in procs]
    for p in procs:
        p.join(timeout=30)

    assert [status for status, _ in outcomes] == ["ok"] * 4, outcomes
    with db_factory() as s:
        ids = s.scalars(select(User.id)).all()
        assert s.scalar(select(func.count()).select_from(User)) == 1
    assert {owner_id for _, owner_id in outcomes} == set(ids)
