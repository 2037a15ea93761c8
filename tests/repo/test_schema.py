"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from app.db import make_engine
from app.migrate import alembic_config, upgrade_database
from app.models import Base
from tests.fixtures.app import ROOT, settings_env


def test_migrations_match_the_models(db_settings):
    engine = make_engine(db_settings)
    try:
        upgrade_database(engine)
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()
    assert diff == [], diff


def test_library_version_triggers_exist(db_factory):
    with db_factory() as session:
        before = session.execute(text("SELECT version FROM library_state WHERE id = 1")).scalar_one()
        session.execute(text("INSERT INTO tags (name, name_key) VALUES ('x', 'x')"))
        session.execute(text("UPDATE tags SET name = 'y', name_key = 'y' WHERE name_key = 'x'"))
        session.commit()
        after = session.execute(text("SELECT version FROM library_state WHERE id = 1")).scalar_one()
    assert after == before + 1  # the rename bumps it; creating an unused tag does not


# Each child imports everything, says it is ready, waits for the go file, then upgrades: the
# upgrades start within a millisecond of each other, as when `lectern serve` and `lectern worker`
# (or two of either) start together on a new database.
_UPGRADER = """
import logging, sys, time
from pathlib import Path
from app.config import Settings
from app.db import make_engine
from app.migrate import upgrade_database

logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(message)s")
logging.getLogger("alembic.runtime.migration").setLevel(logging.INFO)
engine = make_engine(Settings())
ready, go = Path(sys.argv[1]), Path(sys.argv[2])
ready.touch()
while not go.exists():
    time.sleep(0.001)
upgrade_database(engine)
engine.dispose()
"""


def test_concurrent_upgrades_all_succeed_and_the_schema_is_migrated_once(db_settings, tmp_path):
    db_settings.ensure_data_dir()
    env = {**os.environ, **settings_env(db_settings), "PYTHONPATH": str(ROOT)}
    go = tmp_path / "go"
    procs = []
    for i in range(4):
        ready = tmp_path / f"ready-{i}"
        proc = subprocess.Popen(
            [sys.executable, "-c", _UPGRADER, str(ready), str(go)],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        procs.append((proc, ready))
    try:
        deadline = time.monotonic() + 60
        while not all(ready.exists() for _, ready in procs):
            assert time.monotonic() < deadline, "the upgraders did not start"
            assert all(proc.poll() is None for proc, _ in procs), [proc.communicate() for proc, _ in procs]
            time.sleep(0.01)
        go.touch()
        results = [proc.communicate(timeout=120) + (proc.returncode,) for proc, _ in procs]
    finally:
        for proc, _ in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    failures = [err for _, err, code in results if code != 0]
    assert failures == [], failures[0]
    scripts = ScriptDirectory.from_config(alembic_config())
    head, revisions = scripts.get_current_head(), len(list(scripts.walk_revisions()))
    runs = [err.count("Running upgrade") for _, err, _ in results]
    assert sorted(runs) == [0, 0, 0, revisions], runs  # one process migrated; the others found head
    engine = make_engine(db_settings)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [head]
            assert conn.execute(text("SELECT id, version FROM library_state")).all() == [(1, 0)]
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()
    assert diff == [], diff
