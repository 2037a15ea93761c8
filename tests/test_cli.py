"""The ``lectern`` command line, run through click's runner on a fresh data directory."""

import json
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


def test_a_setting_that_does_not_fit_ends_the_command_with_its_variable_not_a_traceback(tmp_path):
    env = {"LECTERN_DATA_DIR": str(tmp_path), "LECTERN_GIL_SWITCH_MS": "0", "LECTERN_WORKER_NICE": "40"}
    result = CliRunner().invoke(main, ["check"], env=env)
    assert result.exit_code == 1
    assert "LECTERN_GIL_SWITCH_MS: Input should be greater than 0 (given: '0')" in result.output
    assert "LECTERN_WORKER_NICE: Input should be less than or equal to 19 (given: '40')" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "lectern.db").exists()  # nothing was started


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


def test_serving_freezes_what_making_the_app_made_and_shortens_turns_at_the_gil(tmp_path):
    """`lectern serve` runs app_to_serve: after it, the objects create_app made (modules, routes,
    schemas) are frozen, so a full collection during a request does not scan them all again, and
    threads take turns at the GIL every settings.gil_switch_ms. In a process of its own, as serve
    is: freezing here would reach into the test run."""
    script = (
        "import gc, json, sys\n"
        "from app.cli import app_to_serve\n"
        "from tests.fixtures.app import make_settings\n"
        "from pathlib import Path\n"
        f"app = app_to_serve(make_settings(Path({str(tmp_path)!r})))\n"
        "print(json.dumps({'frozen': gc.get_freeze_count(), 'routes': len(app.routes),\n"
        "                  'switch': sys.getswitchinterval()}))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["routes"] > 10  # the app itself, made as create_app makes it
    assert seen["frozen"] > 50_000, seen  # about 140k; 0 when nothing is frozen
    assert seen["switch"] == 0.001  # settings.gil_switch_ms; Python's own is 0.005
