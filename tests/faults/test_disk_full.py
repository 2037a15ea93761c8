"""Disk full while storing a PDF (a 1 MiB tmpfs as the data directory): the save fails cleanly, the
item says why, nothing half-written stays behind, and the retry succeeds once space is freed."""

from __future__ import annotations

import logging
import os
import subprocess
from pathlib import Path

import pymupdf
import pytest
from sqlalchemy import text

from app.config import Settings
from app.db import make_engine, make_session_factory
from app.ingest.http import SafeClient
from app.ingest.pipeline import process_item
from app.ingest.registry import default_resolvers
from app.migrate import upgrade_database
from app.models import Item
from app.search.embedded import EmbeddedBackend
from app.services.items import SaveRequest, save_item
from app.services.jobs import NoJobQueue
from tests.fixtures.fakeweb import settings_for
from tests.fixtures.services import service_missing


@pytest.fixture
def small_disk(tmp_path: Path):
    mount = tmp_path / "small-disk"
    mount.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True)
    if result.returncode != 0:
        service_missing(f"a tmpfs mount (needs root): {result.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def big_pdf(size: int) -> bytes:
    doc = pymupdf.open()
    doc.new_page().insert_text((72, 72), "A paper about platypus venom.")
    doc.embfile_add("data.bin", os.urandom(size))  # incompressible: the file really is this big
    data = doc.tobytes()
    doc.close()
    return data


def test_disk_full_fails_cleanly_and_the_retry_succeeds_after_space_is_freed(tmp_path, small_disk, fakeweb):
    settings = settings_for(fakeweb, tmp_path, data_dir=small_disk,
                            database_url=f"sqlite:///{tmp_path / 'lectern.db'}")
    engine = make_engine(settings)
    upgrade_database(engine)
    factory = make_session_factory(engine)
    search = EmbeddedBackend(tmp_path / "search.db")
    search.setup()
    filler = small_disk / "filler"
    filler.write_bytes(b"\0" * 700_000)  # leaves ~300 KB free
    url = fakeweb.add("/venom.pdf", big_pdf(450_000), "application/pdf")
    item_id = save_item(factory, NoJobQueue(), SaveRequest(url=url)).item.id

    def run():
        return process_item(item_id=item_id, owner="w", settings=settings, factory=factory,
                            http=SafeClient(settings), resolvers=default_resolvers(settings), search=search)

    first = run()
    assert first.state == "retry"
    with factory() as s:
        item = s.get(Item, item_id)
        assert item.status == "queued" and "No space left on device" in item.error and item.file_id is None
    leftovers = [p for p in (small_disk / "files").rglob("*") if p.is_file()]
    assert leftovers == []  # no half-written PDF

    filler.unlink()
    assert run().state == "ready"
    with factory() as s:
        item = s.get(Item, item_id)
        assert item.status == "ready" and item.error == "" and item.file_id is not None
    assert len(list((small_disk / "files").rglob("*.pdf"))) == 1
    search.close()
    engine.dispose()


def test_upload_on_a_full_disk_answers_503_and_leaves_nothing(tmp_path, small_disk, make_client):
    from app.repo.users import get_owner
    from app.services.auth import create_api_token
    from tests.fixtures.app import make_settings

    settings = make_settings(tmp_path, data_dir=small_disk, database_url=f"sqlite:///{tmp_path / 'lectern.db'}")
    client = make_client(settings)
    with client.app.state.services.factory() as s:
        token = create_api_token(s, get_owner(s), "t").plaintext
        s.commit()
    (small_disk / "filler").write_bytes(b"\0" * 700_000)
    response = client.post("/api/v1/items", files={"file": ("venom.pdf", big_pdf(450_000), "application/pdf")},
                           headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 503 and "No space left" in response.json()["error"]["message"]
    with client.app.state.services.factory() as s:
        assert s.query(Item).count() == 0
    assert [p for p in (small_disk / "files").rglob("*") if p.is_file()] == []


def test_a_commit_whose_checkpoint_finds_the_disk_full_still_returns(tmp_path, small_disk, caplog):
    """The checkpoint after a commit copies the write-ahead log into the database file; when the disk
    cannot take it, the commit has happened all the same: the caller is not told it failed (a save
    would answer an error for an item it kept), the failure is logged, and a later checkpoint, once
    there is space, copies everything."""
    settings = Settings(data_dir=tmp_path / "data", database_url=f"sqlite:///{small_disk / 'lectern.db'}")
    quiet = make_engine(settings, checkpoint_pages=0)  # writes the log and never checkpoints
    eager = make_engine(settings, checkpoint_pages=1)  # checkpoints after every commit
    try:
        with quiet.begin() as conn:
            conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)"))
            for _ in range(60):
                conn.execute(text("INSERT INTO t (v) VALUES (randomblob(3000))"))
        # Room for one more frame of the log, not for the ~60 pages the checkpoint adds to the database.
        free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
        filler = small_disk / "filler"
        filler.write_bytes(b"\0" * (free - 40_000))
        with caplog.at_level(logging.WARNING, logger="app.db"), eager.begin() as conn:
            conn.execute(text("INSERT INTO t (v) VALUES ('kept')"))
        assert any("checkpoint" in r.getMessage() and "full" in r.getMessage() for r in caplog.records)
        with quiet.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 61
        filler.unlink()
        with eager.begin() as conn:
            conn.execute(text("INSERT INTO t (v) VALUES ('after')"))
        with eager.connect() as conn:
            busy, frames, copied = conn.execute(text("PRAGMA wal_checkpoint(PASSIVE)")).one()
            assert busy == 0 and frames == copied
    finally:
        quiet.dispose()
        eager.dispose()
