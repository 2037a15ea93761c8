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


def test_concurrent_logins_do_not_multiply_argon2_memory():
    """argon2 holds 64 MiB per hash while it runs; a burst of logins must not hold it eight times."""
    import subprocess
    import sys
    import textwrap
    from pathlib import Path

    script = textwrap.dedent("""
        import threading
        from app.services.auth import hash_password, verify_password
        h = hash_password("correct horse battery staple")
        def hwm():
            for line in open("/proc/self/status"):
                if line.startswith("VmHWM"):
                    return int(line.split()[1]) // 1024
        before = hwm()
        threads = [threading.Thread(target=verify_password, args=(h, "wrong password " + str(i))) for i in range(8)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        print(hwm() - before)
    """)
    grown = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                           cwd=Path(__file__).resolve().parents[2])
    assert int(grown.stdout.strip()) < 150, grown.stdout  # one hash at a time: ~64 MB, not ~512
