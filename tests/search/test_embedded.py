"""Embedded backend specifics: a second process reads while this one writes; the factory."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

from app.config import Settings
from app.search.base import SearchDocument
from app.search.embedded import EmbeddedBackend
from app.search.factory import make_search_backend
from app.search.meili import MeiliBackend
from app.search.query import parse_query

ROOT = Path(__file__).resolve().parents[2]

READER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from app.search.embedded import EmbeddedBackend
    from app.search.query import parse_query
    backend = EmbeddedBackend(Path(sys.argv[1]))
    seen = set()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        seen.add(backend.search(parse_query("platypus")).total)
        if 201 in seen:
            break
    print(sorted(seen))
    """
)


def test_another_process_reads_while_this_one_writes(tmp_path):
    path = tmp_path / "search.db"
    writer = EmbeddedBackend(path)
    writer.setup()
    writer.upsert([SearchDocument(item_id=0, kind="paper", title="platypus zero")])
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(path)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    for start in range(1, 200, 20):
        batch = [
            SearchDocument(item_id=i, kind="paper", title=f"platypus {i}", pages=["page text " * 500])
            for i in range(start, min(start + 20, 200))
        ]
        writer.upsert(batch)
    writer.upsert([SearchDocument(item_id=200, kind="paper", title="platypus last")])
    out, _ = reader.communicate(timeout=30)
    assert reader.returncode == 0
    seen = eval(out)  # a printed list of ints
    assert seen[-1] == 201 and all(isinstance(n, int) for n in seen)
    assert writer.search(parse_query("platypus")).total == 201
    writer.close()


def test_factory_picks_the_configured_backend(tmp_path):
    embedded = make_search_backend(Settings(data_dir=tmp_path))
    assert isinstance(embedded, EmbeddedBackend)
    assert embedded.path == tmp_path / "search.db"
    meili = make_search_backend(
        Settings(data_dir=tmp_path, search_backend="meilisearch", meili_url="http://127.0.0.1:1", meili_index="x")
    )
    assert isinstance(meili, MeiliBackend)
    assert meili.index_name == "x"
    assert not meili.healthy()


def test_an_index_from_an_older_layout_is_emptied_and_every_item_queued_again(tmp_path):
    """Upgrading Lectern must never leave search silently broken: an embedded index written by
    an older schema is dropped on start and the whole library goes through the index outbox."""
    import sqlite3

    from sqlalchemy import select

    from app.main import Services
    from app.models import IndexPending, Item
    from tests.fixtures.app import make_settings

    settings = make_settings(tmp_path)
    services = Services(settings)
    services.start()
    with services.factory() as session:
        session.add_all([Item(kind="post", title=f"t{i}", url=f"https://e.org/{i}", canonical_url=f"https://e.org/{i}",
                              authors=[], extra={}) for i in range(3)])
        session.commit()
        ids = sorted(session.scalars(select(Item.id)))
        session.query(IndexPending).delete()
        session.commit()
    services.search.upsert([SearchDocument(item_id=ids[0], kind="post", title="an old entry")])
    services.close()
    assert services.search.rebuilt is False

    with sqlite3.connect(settings.search_db_path) as conn:  # as an older release left it
        conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema'")

    again = Services(settings)
    again.start()
    try:
        assert again.search.rebuilt is True
        assert again.search.indexed_ids() == set()
        with again.factory() as session:
            assert sorted(session.scalars(select(IndexPending.item_id))) == ids
        again.search.setup()  # idempotent once on the current layout
        assert again.search.indexed_ids() == set()
    finally:
        again.close()


def test_filter_only_search_pages_exactly_and_estimates_facets_past_the_cap(tmp_path):
    """A filter-only search at any library size: exact pages; past candidate_cap matches the
    total is their share of the items saved since the oldest counted, applied to the library, and
    facets are scaled to it (both marked as estimates)."""
    from datetime import UTC, datetime, timedelta

    backend = EmbeddedBackend(tmp_path / "search.db", candidate_cap=5)
    backend.setup()
    start = datetime(2025, 1, 1, tzinfo=UTC)
    backend.upsert([
        SearchDocument(item_id=i, kind="paper" if i % 2 else "post", title=f"item {i}", tags=["ml"],
                       saved_at=start + timedelta(minutes=i))
        for i in range(1, 13)
    ])
    newest_first = list(range(12, 0, -1))

    first = backend.search(parse_query("tag:ml", limit=4))
    assert first.total == 12 and [h.item_id for h in first.hits] == newest_first[:4]
    assert first.exhaustive is False
    assert sum(first.facets["kind"].values()) == 12  # 5 counted, scaled to the total
    second = backend.search(parse_query("tag:ml", limit=4, offset=4))
    assert [h.item_id for h in second.hits] == newest_first[4:8]
    last = backend.search(parse_query("tag:ml", limit=4, offset=8))
    assert [h.item_id for h in last.hits] == newest_first[8:]

    papers = backend.search(parse_query("kind:paper", limit=20))
    assert papers.total == 6 and all(h.item_id % 2 for h in papers.hits)
    small = EmbeddedBackend(tmp_path / "search.db", candidate_cap=100)
    exact = small.search(parse_query("tag:ml", limit=4))
    assert exact.exhaustive is True and exact.facets["kind"] == {"paper": 6, "post": 6}
    backend.close()
    small.close()


def test_matches_are_read_a_step_at_a_time_each_step_one_row(tmp_path):
    """FTS5's matches are read in growing steps, each step as one row of rowids (Python's
    sqlite3 lets go of the GIL around every row it steps: see _rowids_in_steps). Each step goes
    on below the last, so every item comes once, newest first, and one whose pages fall on both
    sides of a step has all of them noted; a reader that stops early reads no more steps, and
    one that reads every match (an excluded word's) takes them in large steps."""
    from datetime import timedelta

    from app.search.embedded import CHUNK_BITS

    backend = EmbeddedBackend(tmp_path / "search.db")
    backend.setup()
    start = datetime(2025, 1, 1, tzinfo=UTC)
    backend.upsert([
        SearchDocument(item_id=i, kind="paper", title=f"paper {i}", pages=[f"wombat page {p}" for p in range(4)],
                       saved_at=start + timedelta(minutes=i))
        for i in range(1, 21)
    ])
    statements: list[str] = []  # this code's own (FTS5's start "--")
    with backend._connection() as conn:
        item_of = dict(conn.execute("SELECT rowkey, item_id FROM items"))
        conn.set_trace_callback(lambda sql: sql.startswith("--") or statements.append(sql))
        chunk_ids: dict[int, list[int]] = {}
        keys = list(backend._stream(conn, "chunks", '"wombat"', ("", []), chunk_ids, first=2))
        read_all = list(statements)
        statements.clear()
        stream = backend._stream(conn, "chunks", '"wombat"', ("", []), {}, first=2)
        first_three = [next(stream) for _ in range(3)]
        stream.close()
        after_three = list(statements)
        statements.clear()
        excluded = backend._excluded(conn, parse_query("platypus -wombat"))
        conn.set_trace_callback(None)
    assert [item_of[k] for k in keys] == list(range(20, 0, -1))
    assert all(len(chunk_ids[k]) == 4 and {c >> CHUNK_BITS for c in chunk_ids[k]} == {k} for k in keys)
    # 80 matching pages in steps of 2, 4, 8, 16, 32 and 64 rows; the 7th is not asked (the 6th fell short)
    assert len(read_all) == 6 and all(s.startswith("SELECT count(*), group_concat(r)") for s in read_all)
    assert first_three == keys[:3] and len(after_three) == 3  # pages 1-2, 3-6, 7-14
    assert excluded == set(keys) and len(statements) == 2  # one step for the titles, one for the pages
    backend.close()


def test_facets_typo_keys_and_prefix_words_are_each_read_as_one_row(tmp_path):
    """The look-ups a search makes besides its matches (the prefix words a Latin prefix begins,
    the typo keys of a word, the two facet counts) come back as one row of JSON each, whatever
    rows they hold (see _rowids_in_steps); the search finds the same items through them."""
    backend = EmbeddedBackend(tmp_path / "search.db")
    backend.setup()
    backend.upsert([
        SearchDocument(item_id=i, kind=("paper", "tweet")[i % 2], title=f"transformer {w} study {i}",
                       tags=[f"tag{i % 3}", "shared"], year=2020 + i % 4)
        for i, w in enumerate(["attention", "attentive", "attend", "attends", "attending", "diffusion"] * 3, start=1)
    ])
    statements: list[str] = []
    with backend._connection() as conn:
        conn.set_trace_callback(lambda sql: sql.startswith("--") or statements.append(sql))
    found = backend.search(parse_query("atten", limit=50))  # a prefix of 5 words
    typo = backend.search(parse_query("difusion transformer", limit=50))  # a typo, found by its keys
    with backend._connection() as conn:
        conn.set_trace_callback(None)
    lookups = [s for s in statements if any(t in s for t in ("prefix_words", "typo_keys", "item_tags", "GROUP BY"))]
    assert {t for t in ("prefix_words", "typo_keys", "item_tags") if any(t in s for s in lookups)} == {
        "prefix_words", "typo_keys", "item_tags"}
    assert lookups and all(s.startswith("SELECT json_group_array(json_array(") for s in lookups), lookups
    assert len(found.hits) == 15 and found.facets["tags"] == {"shared": 15, "tag1": 6, "tag2": 6, "tag0": 3}
    assert found.facets["kind"] == {"paper": 6, "tweet": 9}
    assert sorted(h.item_id for h in typo.hits) == [6, 12, 18]
    backend.close()


def test_the_item_count_behind_estimates_follows_every_write(tmp_path):
    """The count of items a capped search scales its total by is kept between searches; a
    write by this backend or by another connection (the worker's) counts it again."""
    path = tmp_path / "search.db"
    web, worker = EmbeddedBackend(path, candidate_cap=2), EmbeddedBackend(path)
    web.setup()

    def docs(ids):
        return [SearchDocument(item_id=i, kind="paper", title=f"kiwi {i}") for i in ids]

    def estimate() -> int:  # 2 of the matches counted, scaled by items / items saved since
        found = web.search(parse_query("kiwi", limit=1))
        assert found.exhaustive is False
        return found.total

    web.upsert(docs(range(1, 5)))
    with web._connection() as conn:
        assert web._item_count(conn) == 4
    assert estimate() == 4
    worker.upsert(docs(range(5, 9)))  # another connection: the web's count is stale
    assert estimate() == 8
    with web._connection() as conn:
        assert web._item_count(conn) == 8
    web.delete([1, 2])  # this backend's own write
    with web._connection() as conn:
        assert web._item_count(conn) == 6
    assert estimate() == 6
    worker.clear()
    with web._connection() as conn:
        assert web._item_count(conn) == 0
    web.close()
    worker.close()


def test_prepare_search_queues_the_library_only_when_setup_emptied_the_index(tmp_path):
    """The shared step every caller of setup() goes through (app start, imports, `lectern import`)."""
    import sqlite3

    from sqlalchemy import select

    from app.db import make_engine, make_session_factory
    from app.migrate import upgrade_database
    from app.models import IndexPending, Item
    from app.services.indexing import prepare_search

    engine = make_engine(Settings(data_dir=tmp_path))
    upgrade_database(engine)
    factory = make_session_factory(engine)
    with factory() as session:
        session.add_all([Item(kind="post", title="a", url="https://e.org/a", canonical_url="https://e.org/a",
                              authors=[], extra={}),
                         Item(kind="post", title="b", url="https://e.org/b", canonical_url="https://e.org/b",
                              authors=[], extra={}, trashed_at=datetime(2025, 1, 1, tzinfo=UTC))])
        session.commit()
        session.query(IndexPending).delete()
        session.commit()
    backend = EmbeddedBackend(tmp_path / "search.db")
    assert prepare_search(factory, backend) == 0  # a new index: nothing to redo
    with sqlite3.connect(tmp_path / "search.db") as conn:
        conn.execute("UPDATE meta SET value = 'old' WHERE key = 'schema'")
    assert prepare_search(factory, backend) == 1  # the live item, not the trashed one
    with factory() as session:
        assert [r.item_id for r in session.scalars(select(IndexPending))] == [1]
    assert prepare_search(factory, backend) == 0  # once only
    backend.close()
    engine.dispose()


def test_prefix_expansion_finds_exactly_what_fts5_prefix_queries_find(tmp_path):
    """Long prefixes are searched as the OR of the indexed words they begin (prefix_words),
    which FTS5 reads lazily. Over the real text of shared PDFs (pages: accents, digits, ligatures,
    hyphenation) and the ICLR digest, every such expansion matches the same rows as FTS5's own
    "prefix"* query, in head and in chunks."""
    import random
    import sqlite3

    import pymupdf

    from app.search.embedded import CHUNK_PREFIX_MIN, MAX_PREFIX_WORDS, _Plan
    from app.search.text import terms_of
    from tests.search.conftest import iclr_documents

    docs = iclr_documents()[:120]
    shared = ROOT.parent / "shared" / "pdfs"
    pdfs = [*sorted(shared.glob("pwl_*.pdf"))[:5], shared / "zh_thuthesis_manual.pdf"]
    for n, pdf in enumerate(pdfs):
        with pymupdf.open(pdf) as d:
            pages = [p.get_text() for p in d][:12]
        docs.append(SearchDocument(item_id=5000 + n, kind="paper", title=pdf.stem, pages=pages, has_pdf=True,
                                   saved_at=datetime(2026, 1, 1 + n, tzinfo=UTC)))
    backend = EmbeddedBackend(tmp_path / "search.db")
    backend.setup()
    backend.upsert(docs)
    conn = sqlite3.connect(tmp_path / "search.db")
    words = sorted({r[0] for r in conn.execute("SELECT term FROM prefix_words")})
    assert len(words) > 2000  # page words are in the vocabulary, not only head texts
    rng = random.Random(5)
    prefixes = {w[: rng.randint(CHUNK_PREFIX_MIN, max(CHUNK_PREFIX_MIN, len(w)))] for w in rng.sample(words, 300)}
    expanded = 0
    for prefix in sorted(prefixes):
        term = terms_of([prefix], [])[0][0]
        assert term.prefix
        with backend._connection() as c:
            found = backend._prefix_words(c, term)
        if found is None:
            continue  # more than MAX_PREFIX_WORDS words: FTS5's own prefix query is used
        assert 0 < len(found) <= MAX_PREFIX_WORDS
        expanded += 1
        plan = _Plan([term], [], {}, {0: found})
        for table in ("head", "chunks"):
            native = f'"{prefix}"*'
            ours = plan.expr("prefix", chunk=True)  # chunk=True: expanded whatever the length
            want = {r[0] for r in conn.execute(f"SELECT rowid FROM {table} WHERE {table} MATCH ?", (native,))}
            got = {r[0] for r in conn.execute(f"SELECT rowid FROM {table} WHERE {table} MATCH ?", (ours,))}
            assert got == want, (prefix, table, found)
    assert expanded > 200
    conn.close()
    backend.close()
