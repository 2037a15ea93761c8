"""The ``lectern`` command line, run through click's runner on a fresh data directory."""

from click.testing import CliRunner
from sqlalchemy import create_engine, text

from app.cli import main
from app.services.auth import verify_password


def _run(tmp_path, *args, password: str = ""):
    env = {"LECTERN_DATA_DIR": str(tmp_path), "LECTERN_PASSWORD": password, "LECTERN_DATABASE_URL": ""}
    return CliRunner().invoke(main, list(args), env=env)


def _users(tmp_path) -> list[tuple[str, str]]:
    engine = create_engine(f"sqlite:///{tmp_path / 'lectern.db'}")
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text("SELECT username, password_hash FROM users"))]
    finally:
        engine.dispose()


def test_token_create_on_a_fresh_database_creates_the_owner_from_the_password_once(tmp_path):
    first = _run(tmp_path, "token", "create", "laptop", password="correct horse battery")
    assert first.exit_code == 0, first.output
    second = _run(tmp_path, "token", "create", "phone", password="correct horse battery")
    assert second.exit_code == 0, second.output
    tokens = [first.output.strip(), second.output.strip()]
    assert len(set(tokens)) == 2 and all(len(t) >= 20 for t in tokens)
    users = _users(tmp_path)
    assert len(users) == 1
    assert verify_password(users[0][1], "correct horse battery")


def test_token_create_without_an_owner_or_a_password_says_how_to_make_one(tmp_path):
    result = _run(tmp_path, "token", "create", "laptop")
    assert result.exit_code != 0
    assert "There is no owner account yet" in result.output
    assert _users(tmp_path) == []
