"""The ``lectern`` command line, run through click's runner on a fresh data directory."""

import os
import subprocess
import sys

from click.testing import CliRunner
from sqlalchemy import create_engine, text

from app.cli import main, remove_abandoned_beat_dirs
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


def test_a_new_worker_removes_the_beat_directories_of_workers_that_are_gone(tmp_path):
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(gone.stdout)
    dead = tmp_path / f"lectern-beat-{dead_pid}-k2j_x9"
    alive = tmp_path / f"lectern-beat-{os.getpid()}-a8b_c1"
    older = tmp_path / "lectern-beat-q7w3e1rt"  # named before the pid was in the name: left alone
    other = tmp_path / "unrelated-123-abc"
    for d in (dead, alive, older, other):
        d.mkdir()
        (d / "schedule.dat").write_text("x")
    assert remove_abandoned_beat_dirs(tmp_path) == [dead]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([alive.name, older.name, other.name])
