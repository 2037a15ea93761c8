"""Exports: BibTeX round-trips through the importer, backup -> restore gives the same library
(search included), Markdown and bookmarks carry tags and notes, restore refuses unsafe zips."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import select

from app.db import make_engine, make_session_factory
from app.migrate import upgrade_database
from app.models import Item
from app.repo import exports as exports_repo
from app.search.base import SearchQuery
from app.search.factory import make_search_backend
from app.services import notes as notes_service
from app.services.exports import export_library
from app.services.exports.backup import RestoreError, restore_backup
from app.services.exports.bibtex import citation_key
from app.services.imports.run import run_import_job, start_import
from app.services.items import SaveRequest, save_item, save_uploaded_pdf
from app.services.jobs import NoJobQueue
from tests.fixtures.app import make_settings
from tests.fixtures.fakeweb import make_test_pdf
from tests.services.test_imports_bibtex import ARXIV, BROKEN, SCHOLAR, ZOTERO

JOBS = NoJobQueue()


def fresh(tmp_path: Path, name: str):
    settings = make_settings(tmp_path / name)
    settings.ensure_data_dir()
    engine = make_engine(settings)
    upgrade_database(engine)
    return make_session_factory(engine), settings


def import_bib(factory, settings, data: bytes):
    job = start_import(factory, settings, JOBS, "bibtex", "x.bib", data)
    return run_import_job(factory, settings, job.id)


def papers(factory) -> list[tuple]:
    with factory() as session:
        items = exports_repo.items_for_export(session)
        return sorted((i.title, tuple(i.authors), i.published_at, i.doi, i.arxiv_id,
                       tuple(sorted(t.name for t in i.tags))) for i in items)


def test_bibtex_export_imports_into_an_empty_instance_as_the_same_papers(tmp_path):
    factory, settings = fresh(tmp_path, "a")
    import_bib(factory, settings, (ZOTERO + SCHOLAR + ARXIV + BROKEN).encode())
    exported = export_library(factory, settings, "bibtex").data
    assert b"@misc{vaswani2023attentionneed," in exported and b"@article{nie_large_2025," in exported
    other, other_settings = fresh(tmp_path, "b")
    job = import_bib(other, other_settings, exported)
    assert job.skipped == [] and job.created == 7
    assert papers(other) == papers(factory)
    assert export_library(other, other_settings, "bibtex").data == exported  # stable keys, stable text


def test_citation_keys_are_stable_and_unique(tmp_path):
    factory, settings = fresh(tmp_path, "a")
    for n in (1, 2):
        save_item(factory, JOBS, SaveRequest(url=f"https://example.org/{n}", title="The Large Model", kind="paper"))
    with factory() as session:
        for item in session.scalars(select(Item)):
            item.authors, item.published_at = ["Shen Nie"], __import__("datetime").date(2025, 1, 1)
        session.commit()
        assert citation_key(session.scalars(select(Item)).first()) == "nie2025large"
    text = export_library(factory, settings, "bibtex").data.decode()
    assert "@misc{nie2025large," in text and "@misc{nie2025largea," in text
    only = export_library(factory, settings, "bibtex", item_ids=[2]).data.decode()
    assert only.count("@") == 1


def test_backup_then_restore_rebuilds_the_same_library_and_search(tmp_path):
    factory, settings = fresh(tmp_path, "a")
    import_bib(factory, settings, (ZOTERO + ARXIV).encode())
    pdf = make_test_pdf(["Uploaded text about zebras"], title="Zebra paper")
    upload = save_uploaded_pdf(factory, settings, JOBS, pdf, "zebra.pdf", SaveRequest(tags=["animals"])).item
    root = notes_service.add_note(factory, JOBS, upload.id, "Top note with $x^2$")
    notes_service.reply_to_note(factory, JOBS, root.id, "A reply")
    data = export_library(factory, settings, "backup").data

    other, other_settings = fresh(tmp_path, "b")
    backend = make_search_backend(other_settings)
    counts = restore_backup(other, other_settings, data, search=backend)
    assert counts["items"] == 4 and counts["notes"] == 2 and counts["files"] == 1
    with factory() as a, other() as b:
        for name in ("items", "tags", "item_tags", "notes", "files"):
            assert exports_repo.table_rows(a, name) == exports_repo.table_rows(b, name), name
    sha = upload.canonical_url.split("/")[-1]
    assert (other_settings.files_dir / sha[:2] / sha[2:4] / f"{sha}.pdf").read_bytes() == pdf
    found = backend.search(SearchQuery(terms=["attention"]))
    assert found.total == 1
    with other() as session:  # new rows continue after the restored ids
        assert save_item(other, JOBS, SaveRequest(url="https://example.org/new")).item.id == 5
        del session
    with pytest.raises(RestoreError, match="already has items"):
        restore_backup(other, other_settings, data)


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, blob in files.items():
            zf.writestr(name, blob)
    return buf.getvalue()


@pytest.mark.parametrize("files", [
    {"backup.json": b"{}", "../../escape.pdf": b"x"},
    {"notes.txt": b"no backup.json here"},
    {"backup.json": b'{"format": "lectern-backup", "version": 99, "tables": {}}'},
])
def test_restore_refuses_unsafe_or_foreign_archives(tmp_path, files):
    factory, settings = fresh(tmp_path, "a")
    with pytest.raises(RestoreError):
        restore_backup(factory, settings, _zip(files))


def test_markdown_and_bookmarks_exports_carry_tags_and_note_threads(tmp_path):
    factory, settings = fresh(tmp_path, "a")
    item = save_item(factory, JOBS, SaveRequest(url="https://example.org/post", title='A "quoted" <title>',
                                                tags=["ml/rl", "reading"])).item
    root = notes_service.add_note(factory, JOBS, item.id, "First line\nsecond line")
    notes_service.reply_to_note(factory, JOBS, root.id, "Reply")
    archive = zipfile.ZipFile(io.BytesIO(export_library(factory, settings, "markdown").data))
    (name,) = archive.namelist()
    text = archive.read(name).decode()
    assert name == "lectern/1-a-quoted-title.md"
    assert text.startswith('---\ntitle: "A \\"quoted\\" <title>"\n')
    assert 'tags: ["ml/rl", "reading"]' in text
    assert "  First line\n  second line" in text and "    - **" in text and "      Reply" in text
    html = export_library(factory, settings, "bookmarks").data.decode()
    assert 'TAGS="ml/rl,reading"' in html and "A &quot;quoted&quot; &lt;title&gt;" in html
