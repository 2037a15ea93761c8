"""EmbeddedBackend: full-text search in a SQLite file beside the database, with FTS5. No server.

The web process reads and the worker writes the same file; WAL lets a search run while a write
is in progress. Layout:

- ``items``: one row per item with the filter/facet values and the original head texts;
  ``rowkey`` orders items newest-saved first and is the rowid of the item's FTS rows.
- ``head`` (FTS5): title, authors, abstract, tags, notes. Small: every query ranks it first.
- ``chunks`` (FTS5): the body and each PDF page (long ones split), plus ``ctx`` (title, authors,
  tags again) so a word in the title and another on page 7 still find the paper. The rowid is
  ``rowkey << 12 | chunk number``, so chunk rowids also run newest-first.
- ``typo_keys``: the words of head texts and bodies (not PDF pages) under one deletion (two for
  words of 9+ letters), so a typo finds its word with a few index lookups.

Ranking never scores every match of a common word. Matches are taken in tiers — exact words then
prefixes (search-as-you-type), in title/authors, then abstract/tags, then notes, then body/pages;
then the same with typos — each tier read newest-first from FTS5 (rowid order, no scoring) until
the page is full. Totals and facets are exact up to ``candidate_cap`` matching items and
estimated beyond (``SearchResults.exhaustive`` is then False).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import unicodedata
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from itertools import groupby, islice
from pathlib import Path

from app.search.base import (
    SearchDocument,
    SearchHit,
    SearchQuery,
    SearchResults,
    SearchUnavailable,
    epoch_seconds,
)
from app.search.text import (
    ONE_TYPO_MIN,
    TOKEN,
    TWO_TYPOS_MIN,
    Matcher,
    Term,
    best_snippet,
    chunks_of,
    deletes,
    fold,
    highlight,
    index_text,
    is_cjk,
    terms_of,
    typo_distance,
)

# Bump when SCHEMA changes in a way CREATE ... IF NOT EXISTS cannot apply: setup() then drops the
# old tables and starts empty (``rebuilt``), and the app queues every item for indexing again.
SCHEMA_VERSION = "3"  # 2: prefix indexes up to 6 letters on head texts; 3: prefix_words
EPOCH_2000 = 946684800
ITEM_BITS = 19  # low bits of item_id inside a rowkey
CHUNK_BITS = 12  # chunks per item: 4096 (more are merged into the last)
MAX_CHUNKS = 1 << CHUNK_BITS
HEAD_PREFIX_MIN = 2  # shortest Latin prefix expanded in head texts
CHUNK_PREFIX_MIN = 6  # ... and in body/page texts (shorter ones expand to too many words there)
HEAD_TIERS = (
    "{title authors}",
    "{title authors abstract tags}",
    "{title authors abstract tags notes}",
)
MAX_TYPO_CANDIDATES = 12
# A Latin prefix longer than FTS5's prefix indexes (head: 6 letters; chunks: none) is turned into
# the words it begins, read from prefix_words, when there are at most this many: FTS5 evaluates
# "optimiz"* by merging the whole lists of all its words, where an OR of the words is read lazily,
# newest first (100k items: 7.8 -> 1.5 ms for the first 1,000 items; 5.4 -> 0.7 ms within one).
MAX_PREFIX_WORDS = 32
HEAD_PREFIX_INDEXED = 6  # the longest prefix index of head
EXCLUDED_STEP = 16384  # rows per step when every match of an excluded word is read
BEST_CHUNK_CANDIDATES = 32  # matching chunks of one item scored for its snippet

# Plain tables holding indexed data (besides meta and the FTS5 tables head and chunks).
DATA_TABLES = (
    "items", "item_tags", "item_tag_paths", "item_authors", "chunk_src", "vocab", "typo_keys", "prefix_words",
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    item_id INTEGER PRIMARY KEY,
    rowkey INTEGER NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    read_state TEXT NOT NULL,
    starred INTEGER NOT NULL,
    has_pdf INTEGER NOT NULL,
    year INTEGER,
    published_ts REAL,
    title TEXT NOT NULL,
    abstract TEXT NOT NULL,
    notes TEXT NOT NULL,
    n_chunks INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS items_facets ON items (kind, read_state, starred, has_pdf, year);
CREATE INDEX IF NOT EXISTS items_published ON items (published_ts);
-- Newest-first scans and filter checks read this index, never the (wide) rows. Queries name it
-- (INDEXED BY): the planner would rather sort every match of kind:paper by rowkey.
CREATE INDEX IF NOT EXISTS items_scan ON items (rowkey, kind, read_state, starred, has_pdf, year);
CREATE TABLE IF NOT EXISTS item_tags (
    tag TEXT NOT NULL, rowkey INTEGER NOT NULL, PRIMARY KEY (tag, rowkey)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS item_tags_rowkey ON item_tags (rowkey, tag);
CREATE TABLE IF NOT EXISTS item_tag_paths (
    path TEXT NOT NULL, rowkey INTEGER NOT NULL, PRIMARY KEY (path, rowkey)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS item_tag_paths_rowkey ON item_tag_paths (rowkey);
CREATE TABLE IF NOT EXISTS item_authors (
    word TEXT NOT NULL, rowkey INTEGER NOT NULL, PRIMARY KEY (word, rowkey)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS item_authors_rowkey ON item_authors (rowkey);
CREATE TABLE IF NOT EXISTS chunk_src (
    id INTEGER PRIMARY KEY, page INTEGER, src TEXT
);
CREATE TABLE IF NOT EXISTS vocab (term TEXT PRIMARY KEY) WITHOUT ROWID;
-- Every ASCII word of CHUNK_PREFIX_MIN+ letters anywhere in the index (page texts included), for
-- prefix expansion. Never shrinks: a word no longer indexed expands to a term that matches nothing.
CREATE TABLE IF NOT EXISTS prefix_words (term TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS typo_keys (
    key TEXT NOT NULL, term TEXT NOT NULL, PRIMARY KEY (key, term)
) WITHOUT ROWID;
CREATE VIRTUAL TABLE IF NOT EXISTS head USING fts5 (
    title, authors, abstract, tags, notes,
    tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3 4 5 6'
);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks USING fts5 (
    text, ctx, tokenize = 'unicode61 remove_diacritics 2'
);
"""


_ABOVE_EVERY_ROWID = (1 << 63) - 1


def _newest_first(joined: str | None) -> list[int]:
    """The integers SQLite joined with commas (group_concat), largest first: group_concat keeps no
    order of its own."""
    return sorted(map(int, joined.split(",")), reverse=True) if joined else []


def _rowids_in_steps(
    conn: sqlite3.Connection, sql: str, params: list, first: int, most: int = 1024
) -> Iterator[int]:
    """The rowids ``sql`` selects, newest first, read ``first`` at a time, then twice as many each
    step (up to ``most``). ``sql`` selects ``t.rowid AS r`` and ends ``AND t.rowid < ? ORDER BY
    t.rowid DESC LIMIT ?``; ``params`` are the values before those two.

    Each step comes back as one row (the rowids joined by SQLite), not a row per rowid: Python's
    sqlite3 lets go of the GIL around every row it steps and must win it back after, and while
    another thread of the web runs Python (a search rendering its page, a save) each of those
    returns waits for it. Read row by row, 1,000 matches took 0.5 ms alone and 31-41 ms beside
    a thread busy in Python; as one row, 0.4 and 2.8 ms."""
    below, step = _ABOVE_EVERY_ROWID, first
    batch = f"SELECT count(*), group_concat(r) FROM ({sql})"
    while True:
        n, joined = conn.execute(batch, [*params, below, step]).fetchone()
        if not n:
            return
        rowids = _newest_first(joined)
        yield from rowids
        if n < step:
            return
        below = rowids[-1]
        step = min(step * 2, most)


def _one_row_json(conn: sqlite3.Connection, sql: str, params, *columns: str) -> list[list]:
    """The rows of ``sql`` (its ``columns``) as one row of JSON, read in one step (see
    _rowids_in_steps); in no set order."""
    arrays = f"json_group_array(json_array({', '.join(columns)}))"
    return json.loads(conn.execute(f"SELECT {arrays} FROM ({sql})", params).fetchone()[0])


def _base_rowkey(doc: SearchDocument) -> int:
    seconds = int(epoch_seconds(doc.saved_at) or EPOCH_2000) - EPOCH_2000
    seconds = min(max(seconds, 0), (1 << 31) - 1)
    return (seconds << ITEM_BITS) | (doc.item_id & ((1 << ITEM_BITS) - 1))


def _phrase(tokens: list[str]) -> str:
    return '"' + " ".join(tokens) + '"'


def tag_paths(tags: list[str]) -> set[str]:
    """Every tag and each of its parents, folded: "ML/Diffusion" -> {"ml", "ml/diffusion"}."""
    out: set[str] = set()
    for tag in tags:
        parts = [p for p in fold(tag).strip().split("/") if p]
        for i in range(1, len(parts) + 1):
            out.add("/".join(parts[:i]))
    return out


def author_words(authors: list[str]) -> set[str]:
    return {w for a in authors for w in TOKEN.findall(fold(a))}


def typo_keys(word: str) -> set[str]:
    """Keys a vocabulary word is stored under: itself, one deletion, and (long words) two."""
    keys = deletes(word) | {word}
    if len(word) >= TWO_TYPOS_MIN:
        keys |= {d2 for d in deletes(word) for d2 in deletes(d)}
    return keys


class _Plan:
    """The FTS5 expressions for one query."""

    def __init__(
        self, terms: list[Term], phrases: list[Term], typos: dict[int, list[str]],
        expansions: dict[int, list[str]] | None = None,
    ):
        self.terms = terms
        self.phrases = phrases
        self.typos = typos
        self.expansions = expansions or {}  # term index -> the words its last token begins

    def expr(self, mode: str, *, chunk: bool) -> str:
        """mode: exact | prefix | typo."""
        parts: list[str] = []
        for i, term in enumerate(self.terms):
            base = _phrase(term.tokens)
            alts = [base]
            if mode in ("prefix", "typo") and term.prefix:
                last = term.tokens[-1]
                minimum = 1 if not last.isascii() else (CHUNK_PREFIX_MIN if chunk else HEAD_PREFIX_MIN)
                words = self.expansions.get(i)
                if len(last) >= minimum and words is not None and (chunk or len(last) > HEAD_PREFIX_INDEXED):
                    alts += [_phrase([*term.tokens[:-1], w]) for w in words if w != last]
                elif len(last) >= minimum:
                    alts[0] = base + "*"  # the word itself is one of the words it begins
            if mode == "typo":
                alts += [_phrase([w]) for w in self.typos.get(i, [])]
            parts.append(alts[0] if len(alts) == 1 else "(" + " OR ".join(alts) + ")")
        parts += [_phrase(p.tokens) for p in self.phrases]
        return " AND ".join(parts)

    def modes(self) -> list[str]:
        out = ["exact"]
        if self.expr("prefix", chunk=False) != self.expr("exact", chunk=False):
            out.append("prefix")
        if self.typos:
            out.append("typo")
        return out


class EmbeddedBackend:
    name = "embedded"
    batch_size = 200

    def __init__(self, path: Path, *, candidate_cap: int = 500, busy_timeout: float = 10.0, max_connections: int = 4):
        self.path = Path(path)
        self.candidate_cap = candidate_cap
        self.busy_timeout = busy_timeout
        self.rebuilt = False  # setup() found an older index layout and started empty
        self._idle: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max_connections)
        # connection -> (its PRAGMA data_version, the items then): see _item_count
        self._item_counts: dict[sqlite3.Connection, tuple[int, int]] = {}

    # Connections ---------------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA temp_store=MEMORY")
            conn.execute("PRAGMA cache_size=-8192")
        except sqlite3.Error as exc:
            raise SearchUnavailable(f"cannot open the search index {self.path}: {exc}") from exc
        return conn

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        """A connection from a small pool. Each open connection costs ~10 MB once it has run
        queries (page cache, FTS5 structures); one per web thread took the web process past
        400 MB under load (bench/run, figure 7), and two cores gain nothing from more than a few
        searches at once."""
        if not self._slots.acquire(timeout=self.busy_timeout):
            raise SearchUnavailable("the search index is busy; try again in a moment")
        try:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                conn = self._open()
        except BaseException:
            self._slots.release()
            raise
        try:
            yield conn
        finally:
            with self._lock:
                if conn.in_transaction:  # a failed write left it open
                    try:
                        conn.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass
                self._idle.append(conn)
            self._slots.release()

    def _item_count(self, conn: sqlite3.Connection) -> int:
        """The items in the index, counted again only when the file has changed: the count
        scans an index (0.4-0.7 ms at 100k items), and every search of a common word and every
        filter-only search past candidate_cap needs it. PRAGMA data_version changes when another
        connection commits; _write forgets the count of the connection that wrote."""
        version = conn.execute("PRAGMA data_version").fetchone()[0]
        known = self._item_counts.get(conn)
        if known is not None and known[0] == version:
            return known[1]
        count = conn.execute("SELECT count(*) FROM items").fetchone()[0]
        self._item_counts[conn] = (version, count)
        return count

    def close(self) -> None:
        with self._lock:
            self._item_counts.clear()
            for conn in self._idle:
                try:
                    conn.close()
                except sqlite3.Error:
                    pass
            self._idle.clear()

    def healthy(self) -> bool:
        try:
            with self._connection() as conn:
                conn.execute("SELECT count(*) FROM meta").fetchone()
            return True
        except (sqlite3.Error, SearchUnavailable):
            return False

    # Writes --------------------------------------------------------------------------------

    @contextmanager
    def _write(self, what: str) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE ... COMMIT, rolled back on any error); SQLite
        errors come out as SearchUnavailable("<what> failed: ...")."""
        with self._connection() as conn:
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise SearchUnavailable(f"{what} failed: {exc}") from exc
            finally:
                self._item_counts.pop(conn, None)  # its own commits leave data_version as it was

    def setup(self) -> None:
        """Create the tables; an index written by an older SCHEMA_VERSION is dropped first and
        ``rebuilt`` set, so the caller can queue every item for indexing again."""
        with self._write("setting up the search index") as conn:
            has_meta = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone()
            found = conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone() if has_meta else None
            if found is not None and found[0] != SCHEMA_VERSION:
                for table in ("meta", *DATA_TABLES, "head", "chunks"):
                    conn.execute(f"DROP TABLE IF EXISTS {table}")
                self.rebuilt = True
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', ?)", (SCHEMA_VERSION,))

    def upsert(self, docs: list[SearchDocument]) -> None:
        if not docs:
            return
        with self._write("search index write") as conn:
            new_words: set[str] = set()
            for doc in docs:
                self._delete_item(conn, doc.item_id)
                new_words |= self._insert(conn, doc)
            self._add_vocab(conn, new_words)

    def delete(self, item_ids: list[int]) -> None:
        if not item_ids:
            return
        with self._write("search index write") as conn:
            for item_id in item_ids:
                self._delete_item(conn, item_id)

    def clear(self) -> None:
        with self._write("search index write") as conn:
            for table in (*DATA_TABLES, "head", "chunks"):
                conn.execute(f"DELETE FROM {table}")

    def optimize(self) -> None:
        """Merge FTS5 segments (after a bulk load; optional)."""
        with self._connection() as conn:
            conn.execute("INSERT INTO head (head) VALUES ('optimize')")
            conn.execute("INSERT INTO chunks (chunks) VALUES ('optimize')")

    def indexed_ids(self) -> set[int]:
        try:
            with self._connection() as conn:
                return {r[0] for r in conn.execute("SELECT item_id FROM items")}
        except sqlite3.Error as exc:
            raise SearchUnavailable(str(exc)) from exc

    def _delete_item(self, conn: sqlite3.Connection, item_id: int) -> None:
        row = conn.execute("SELECT rowkey FROM items WHERE item_id = ?", (item_id,)).fetchone()
        if row is None:
            return
        key = row[0]
        lo, hi = key << CHUNK_BITS, (key << CHUNK_BITS) | (MAX_CHUNKS - 1)
        conn.execute("DELETE FROM head WHERE rowid = ?", (key,))
        conn.execute("DELETE FROM chunks WHERE rowid BETWEEN ? AND ?", (lo, hi))
        conn.execute("DELETE FROM chunk_src WHERE id BETWEEN ? AND ?", (lo, hi))
        for table in ("item_tags", "item_tag_paths", "item_authors"):
            conn.execute(f"DELETE FROM {table} WHERE rowkey = ?", (key,))
        conn.execute("DELETE FROM items WHERE item_id = ?", (item_id,))

    def _insert(self, conn: sqlite3.Connection, doc: SearchDocument) -> set[str]:
        key = _base_rowkey(doc)
        mask = (1 << ITEM_BITS) - 1
        probe = 0
        while conn.execute("SELECT 1 FROM items WHERE rowkey = ?", (key,)).fetchone():
            probe += 1  # same second and same low id bits: take the next free low bits
            key = (key & ~mask) | ((doc.item_id + probe) & mask)
        chunks = chunks_of(doc.body, doc.pages)
        if len(chunks) > MAX_CHUNKS:
            tail = chunks[MAX_CHUNKS - 1 :]
            chunks = chunks[: MAX_CHUNKS - 1] + [type(tail[0])(tail[0].page, "\n".join(c.text for c in tail))]
        conn.execute(
            "INSERT INTO items (item_id, rowkey, kind, read_state, starred, has_pdf, year,"
            " published_ts, title, abstract, notes, n_chunks) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                doc.item_id, key, doc.kind, doc.read_state, int(doc.starred), int(doc.has_pdf),
                doc.year, epoch_seconds(doc.published_at), doc.title, doc.abstract,
                json.dumps(doc.notes, ensure_ascii=False), len(chunks),
            ),
        )
        authors_text = index_text(" ; ".join(doc.authors))
        tags_text = index_text(" ".join(doc.tags))
        title_text = index_text(doc.title)
        conn.execute(
            "INSERT INTO head (rowid, title, authors, abstract, tags, notes) VALUES (?,?,?,?,?,?)",
            (key, title_text, authors_text, index_text(doc.abstract), tags_text,
             index_text("\n\n".join(doc.notes))),
        )
        conn.executemany(
            "INSERT OR IGNORE INTO item_tags (tag, rowkey) VALUES (?, ?)", [(t, key) for t in doc.tags]
        )
        conn.executemany(
            "INSERT OR IGNORE INTO item_tag_paths (path, rowkey) VALUES (?, ?)",
            [(p, key) for p in tag_paths(doc.tags)],
        )
        conn.executemany(
            "INSERT OR IGNORE INTO item_authors (word, rowkey) VALUES (?, ?)",
            [(w, key) for w in author_words(doc.authors)],
        )
        ctx = " ".join(filter(None, (title_text, authors_text, tags_text, doc.site)))
        rows = []
        srcs = []
        for n, chunk in enumerate(chunks):
            rowid = (key << CHUNK_BITS) | n
            text = index_text(chunk.text)
            rows.append((rowid, text, ctx))
            srcs.append((rowid, chunk.page, chunk.text if text != chunk.text else None))
        conn.executemany("INSERT INTO chunks (rowid, text, ctx) VALUES (?,?,?)", rows)
        conn.executemany("INSERT INTO chunk_src (id, page, src) VALUES (?,?,?)", srcs)
        head_words = TOKEN.findall(
            fold(" ".join((doc.title, " ".join(doc.authors), doc.abstract, " ".join(doc.tags), *doc.notes, doc.body)))
        )
        self._add_prefix_words(conn, head_words, doc.site or "", *doc.pages)
        return {w for w in head_words if len(w) >= ONE_TYPO_MIN - 1 and w.isalpha() and not is_cjk(w)}

    @staticmethod
    def _add_prefix_words(conn: sqlite3.Connection, folded: list[str], *raw_texts: str) -> None:
        """Words for prefix expansion: ``folded`` words as they are, and the words of
        ``raw_texts`` (page texts: long, so only their non-ASCII words are folded one by one)."""
        out = {w for w in folded if len(w) >= CHUNK_PREFIX_MIN and w.isascii()}
        for text in raw_texts:
            if not text.isascii():
                text = unicodedata.normalize("NFC", text)  # a decomposed accent would split a word
            for w in TOKEN.findall(text.lower()):
                if len(w) < CHUNK_PREFIX_MIN:
                    continue
                if not w.isascii():
                    w = fold(w)
                    if not w.isascii() or len(w) < CHUNK_PREFIX_MIN:
                        continue
                out.add(w)
        conn.executemany("INSERT OR IGNORE INTO prefix_words (term) VALUES (?)", [(w,) for w in out if len(w) <= 64])

    def _add_vocab(self, conn: sqlite3.Connection, words_: set[str]) -> None:
        if not words_:
            return
        words_ = {w for w in words_ if len(w) <= 40}
        known: set[str] = set()
        batch = list(words_)
        for i in range(0, len(batch), 500):
            part = batch[i : i + 500]
            marks = ",".join("?" * len(part))
            known.update(r[0] for r in conn.execute(f"SELECT term FROM vocab WHERE term IN ({marks})", part))
        new = words_ - known
        if not new:
            return
        conn.executemany("INSERT INTO vocab (term) VALUES (?)", [(w,) for w in new])
        conn.executemany(
            "INSERT OR IGNORE INTO typo_keys (key, term) VALUES (?, ?)",
            [(k, w) for w in new for k in typo_keys(w)],
        )

    # Search --------------------------------------------------------------------------------

    def search(self, query: SearchQuery) -> SearchResults:
        started = time.perf_counter()
        with self._connection() as conn:
            try:
                results = self._search(conn, query)
            except sqlite3.Error as exc:
                raise SearchUnavailable(f"search failed: {exc}") from exc
            results.took_ms = (time.perf_counter() - started) * 1000
            results.more = query.offset + query.limit < results.total
            return results

    def count(self, query: SearchQuery, matched: int | None = None) -> SearchResults:
        """The same search without its hits: this backend counts while it searches, whatever
        ``count_later`` says, so its results pages come counted and this is asked only when
        someone opens /search/counts directly."""
        results = self.search(replace(query, limit=1, offset=0, count_later=False))
        results.hits, results.more = [], False
        return results

    def _prefix_words(self, conn: sqlite3.Connection, term: Term) -> list[str] | None:
        """The indexed words the term's last token begins, when it is a Latin prefix of
        CHUNK_PREFIX_MIN+ letters with at most MAX_PREFIX_WORDS of them; else None (FTS5's own
        prefix query is used)."""
        last = term.tokens[-1] if term.tokens else ""
        if not term.prefix or len(last) < CHUNK_PREFIX_MIN or not (last.isascii() and last.isalnum()):
            return None
        found = sorted(
            r[0]
            for r in _one_row_json(
                conn, "SELECT term FROM prefix_words WHERE term >= ? AND term < ? ORDER BY term LIMIT ?",
                (last, last + "\x7f", MAX_PREFIX_WORDS + 1), "term",
            )
        )
        return None if len(found) > MAX_PREFIX_WORDS else found

    def _typo_candidates(self, conn: sqlite3.Connection, term: Term) -> list[str]:
        word = term.typo_word
        if word is None:
            return []
        k = term.max_typos
        keys = deletes(word) | {word}
        if k >= 2:
            keys |= {d2 for d in deletes(word) for d2 in deletes(d)}
        keys_list = list(keys)
        found: set[str] = set()
        for i in range(0, len(keys_list), 500):
            part = keys_list[i : i + 500]
            marks = ",".join("?" * len(part))
            found.update(r[0] for r in _one_row_json(conn, f"SELECT term FROM typo_keys WHERE key IN ({marks})", part, "term"))
        found.discard(word)
        scored = sorted(
            (d, w) for w in found if (d := typo_distance(word, w, k)) <= k and not w.startswith(word)
        )
        return [w for _, w in scored[:MAX_TYPO_CANDIDATES]]

    def _filters(self, q: SearchQuery) -> tuple[str, list]:
        where: list[str] = []
        params: list = []
        if q.kinds:
            where.append(f"i.kind IN ({','.join('?' * len(q.kinds))})")
            params += q.kinds
        for tag in q.tags:
            where.append("i.rowkey IN (SELECT rowkey FROM item_tag_paths WHERE path = ?)")
            params.append("/".join(p for p in fold(tag).split("/") if p))
        for author in q.authors:
            for w in TOKEN.findall(fold(author)):
                where.append("i.rowkey IN (SELECT rowkey FROM item_authors WHERE word = ?)")
                params.append(w)
        if q.read_state:
            where.append("i.read_state = ?")
            params.append(q.read_state)
        if q.starred is not None:
            where.append("i.starred = ?")
            params.append(int(q.starred))
        if q.has_pdf is not None:
            where.append("i.has_pdf = ?")
            params.append(int(q.has_pdf))
        if q.years:
            where.append(f"i.year IN ({','.join('?' * len(q.years))})")
            params += q.years
        return " AND ".join(where), params

    def _stream(
        self, conn, table: str, expr: str, filters: tuple[str, list], chunk_ids: dict | None = None,
        first: int = 64, most: int = 1024,
    ):
        """Item rowkeys matching expr in table ('head' or 'chunks'), newest first, each once.

        FTS5 finds the rows as they are read, so they are read in growing steps from ``first``
        (the rows the caller expects to need): a page of 20 from a common word costs 24 rows,
        not a step of 256. Steps grow up to ``most`` rows: a caller that reads every match
        (_excluded) asks for large steps, as each step is a query of its own.

        ``chunk_ids``: for chunks, the matching chunk rowids of each item streamed are noted
        there (up to BEST_CHUNK_CANDIDATES), so its snippet needs no search of its own."""
        where, params = filters
        if where:
            key = "t.rowid" if table == "head" else f"(t.rowid >> {CHUNK_BITS})"
            sql = (
                f"SELECT t.rowid AS r FROM {table} t JOIN items i INDEXED BY items_scan ON i.rowkey = {key}"
                f" WHERE {table} MATCH ? AND {where} AND t.rowid < ? ORDER BY t.rowid DESC LIMIT ?"
            )
        else:
            sql = f"SELECT t.rowid AS r FROM {table} t WHERE {table} MATCH ? AND t.rowid < ? ORDER BY t.rowid DESC LIMIT ?"
        rowids = _rowids_in_steps(conn, sql, [expr, *params], max(first, 1), most)
        try:
            if table == "head":
                yield from rowids
                return
            # An item's chunks come one after another (their rowids share its rowkey).
            for k, group in groupby(rowids, key=lambda rowid: rowid >> CHUNK_BITS):
                if chunk_ids is not None:
                    noted = chunk_ids.setdefault(k, [])
                    noted.extend(islice(group, BEST_CHUNK_CANDIDATES - len(noted)))
                yield k
        finally:
            rowids.close()

    def _excluded(self, conn, q: SearchQuery) -> set[int]:
        out: set[int] = set()
        for word in q.excluded:
            term = terms_of([word], [])[0]
            if not term:
                continue
            expr = _phrase(term[0].tokens)
            out.update(self._stream(conn, "head", expr, ("", []), first=EXCLUDED_STEP, most=EXCLUDED_STEP))
            out.update(self._stream(conn, "chunks", expr, ("", []), first=EXCLUDED_STEP, most=EXCLUDED_STEP))
        return out

    def _search(self, conn: sqlite3.Connection, q: SearchQuery) -> SearchResults:
        filters = self._filters(q)
        terms, phrases = terms_of(q.terms, q.phrases)
        if not terms and not phrases:
            return self._browse(conn, q, filters, self._excluded(conn, q) if q.excluded else set())
        typos = {i: c for i, t in enumerate(terms) if (c := self._typo_candidates(conn, t))}
        expansions = {i: w for i, t in enumerate(terms) if (w := self._prefix_words(conn, t)) is not None}
        plan = _Plan(terms, phrases, typos, expansions)
        excluded = self._excluded(conn, q) if q.excluded else set()
        need = q.offset + q.limit

        # Candidates for total and facets (and for date sorts): newest first, capped.
        cap = max(self.candidate_cap, need)
        candidates: dict[int, None] = {}
        chunk_ids: dict[int, list[int]] = {}  # item rowkey -> its matching chunks seen on the way
        capped = False
        floor = None
        # By relevance the pool only counts and typo matches rank last: once exact and prefix
        # matches fill the page, typo-only matches are left out of the count (the total is then
        # "about"). Typo alternatives are the costly part of an FTS5 query (2 -> 14 ms for
        # "leader election protocol" at 100k items). Date sorts page from the pool: they read
        # the loosest matches at once.
        modes = plan.modes()
        if q.sort == "relevance" and modes[-1] == "typo" and len(modes) > 1:
            passes = [modes[-2], "typo"]
        else:
            passes = [modes[-1]]
        matched: dict[str, set[int]] = {"head": set(), "chunks": set()}
        counts = {"head": 0, "chunks": 0}
        typos_left_out = False
        for n, mode in enumerate(passes):
            if n and (capped or len(candidates) >= need):
                typos_left_out = True
                break
            for table in ("head", "chunks"):
                if counts[table] >= cap:
                    continue
                expr = plan.expr(mode, chunk=table == "chunks")
                for key in self._stream(conn, table, expr, filters, chunk_ids, first=cap - counts[table] + 4):
                    if key in excluded:
                        continue
                    matched[table].add(key)
                    if key not in candidates:
                        candidates[key] = None
                        counts[table] += 1
                        if counts[table] >= cap:
                            capped = True
                            floor = key if floor is None else max(floor, key)
                            break
        if capped:
            kept = [k for k in candidates if k >= floor]
            newer = conn.execute("SELECT count(*) FROM items WHERE rowkey >= ?", (floor,)).fetchone()[0]
            everything = self._item_count(conn)
            scale = everything / max(newer, 1)
            pool = kept
        else:
            scale = 1.0
            pool = list(candidates)

        # Order.
        from_chunk: dict[int, bool] = {}
        by_typo: set[int] = set()
        if q.sort == "saved":
            ordered = sorted(pool, reverse=True)[q.offset : need]
        elif q.sort == "published":
            ordered = self._by_published(conn, pool)[q.offset : need]
        else:
            complete = None if capped or typos_left_out else matched
            ordered = self._ranked(conn, plan, filters, excluded, need, from_chunk, chunk_ids, complete, by_typo)[
                q.offset : need
            ]

        total = round(len(pool) * scale)
        facets = self._facets(conn, pool, scale) if q.with_facets else {}
        # Typo candidates are marked only where a typo may have found a hit: by relevance, when
        # one on this page was ranked through them (else "sparse" would mark "spare" beside it).
        typo_words = [w for c in typos.values() for w in c]
        if q.sort == "relevance" and by_typo.isdisjoint(ordered):
            typo_words = []
        matcher = Matcher(terms + phrases, extra_words=typo_words)
        hits = self._hits(conn, ordered, matcher, plan, from_chunk, chunk_ids)
        return SearchResults(hits=hits, total=total, facets=facets, exhaustive=not (capped or typos_left_out))

    def _ranked(
        self, conn, plan: _Plan, filters, excluded: set[int], need: int, from_chunk: dict, chunk_ids: dict,
        complete: dict[str, set[int]] | None = None, by_typo: set[int] | None = None,
    ) -> list[int]:
        """``complete``: when the candidate pool holds every match, the items each table
        matched; a table with none is not asked again, and the search stops once every
        match is placed (each tier query costs 1-2 ms on a long CJK phrase at 100k items).
        ``by_typo`` receives the items placed by a typo tier."""
        seen: dict[int, None] = {}
        modes = plan.modes()
        groups = [[m for m in modes if m != "typo"], [m for m in modes if m == "typo"]]
        everything = set().union(*complete.values()) if complete is not None else None
        for typo_group, group in enumerate(groups):
            for tier in (*HEAD_TIERS, None):
                if complete is not None and not complete["chunks" if tier is None else "head"]:
                    continue
                for mode in group:
                    if len(seen) >= need or (everything is not None and len(seen) >= len(everything)):
                        return list(seen)
                    first = need - len(seen) + 4
                    if tier is None:
                        expr = plan.expr(mode, chunk=True)
                        stream = self._stream(conn, "chunks", expr, filters, chunk_ids, first=first)
                    else:
                        expr = f"{tier} : ({plan.expr(mode, chunk=False)})"
                        stream = self._stream(conn, "head", expr, filters, first=first)
                    for key in stream:
                        if key in seen or key in excluded:
                            continue
                        seen[key] = None
                        from_chunk[key] = tier is None
                        if typo_group and by_typo is not None:
                            by_typo.add(key)
                        if len(seen) >= need:
                            stream.close()
                            break
        return list(seen)

    def _by_published(self, conn, keys: list[int]) -> list[int]:
        if not keys:
            return []
        rows = conn.execute(
            "SELECT rowkey, published_ts FROM items WHERE rowkey IN (SELECT value FROM json_each(?))",
            (json.dumps(keys),),
        ).fetchall()
        rows.sort(key=lambda r: (r[1] is not None, r[1] or 0, r[0]), reverse=True)
        return [r[0] for r in rows]

    def _browse(self, conn, q: SearchQuery, filters, excluded: set[int]) -> SearchResults:
        """No words: every item that passes the filters, newest first (or by published date).

        Pages are exact. Facets are counted over the newest ``candidate_cap`` items that pass,
        and beyond that many the total is estimated from them and facets scaled to it (as for a
        common word), so a filter-only search costs the same at 100k items as at 1k.
        """
        where, params = filters
        sql_where = f"WHERE {where}" if where else ""
        if excluded:
            sql_where += (" AND " if sql_where else "WHERE ") + "i.rowkey NOT IN (SELECT value FROM json_each(?))"
            params = [*params, json.dumps(sorted(excluded))]
        newest = f"SELECT i.rowkey FROM items i INDEXED BY items_scan {sql_where} ORDER BY i.rowkey DESC LIMIT ?"
        need = q.offset + q.limit
        # Facets count the newest candidate_cap items; in saved order the page is a slice of them.
        pool_size = max(self.candidate_cap, need) if q.sort != "published" else self.candidate_cap
        pool = None
        if q.with_facets:  # one row, not one per item (see _rowids_in_steps)
            pool = _newest_first(conn.execute(f"SELECT group_concat(rowkey) FROM ({newest})", [*params, pool_size]).fetchone()[0])
        if pool is not None and q.sort != "published":
            keys = pool[q.offset : need]
        else:
            if q.sort != "published":
                source, order = "items i INDEXED BY items_scan", "i.rowkey DESC"
            else:
                source, order = "items i", "i.published_ts IS NULL, i.published_ts DESC, i.rowkey DESC"
            keys = [
                r[0]
                for r in conn.execute(
                    f"SELECT i.rowkey FROM {source} {sql_where} ORDER BY {order} LIMIT ? OFFSET ?",
                    [*params, q.limit, q.offset],
                )
            ]
        estimated = False
        if pool is not None and len(pool) < pool_size:
            total = len(pool)  # every item that passes is in the pool
        elif pool:
            # More pass than the pool holds: their share among the items saved since the pool's
            # oldest, applied to the library (counting them all took up to 10 ms at 100k items:
            # tag:ml is:unread). The page is still exact; the total says "about".
            newer = conn.execute("SELECT count(*) FROM items WHERE rowkey >= ?", (pool[-1],)).fetchone()[0]
            everything = self._item_count(conn)
            total, estimated = max(len(pool), round(len(pool) * everything / max(newer, 1))), True
        else:
            # A tag or author filter is a list of rowkeys: checking each against the narrow scan
            # index rather than the wide rows is 4x faster (tag:ml is:unread, 100k items: 46 -> 10 ms).
            source = "items i INDEXED BY items_scan" if "IN (SELECT" in where else "items i"
            total = conn.execute(f"SELECT count(*) FROM {source} {sql_where}", params).fetchone()[0]
        facets: dict[str, dict[str, int]] = {}
        exhaustive = True
        if pool is not None:
            facet_pool = pool[: self.candidate_cap]
            exhaustive = not estimated and len(facet_pool) >= total
            facets = self._facets(conn, facet_pool, total / max(len(facet_pool), 1))
        hits = self._hits(conn, keys, Matcher([]), None, {})
        return SearchResults(hits=hits, total=total, facets=facets, exhaustive=exhaustive)

    @staticmethod
    def _facet_rows(rows, scale: float) -> dict[str, dict[str, int]]:
        out: dict[str, Counter] = {f: Counter() for f in ("kind", "read_state", "starred", "has_pdf", "year")}
        for kind, state, starred, has_pdf, year, n in rows:
            out["kind"][kind] += n
            out["read_state"][state] += n
            out["starred"]["true" if starred else "false"] += n
            out["has_pdf"]["true" if has_pdf else "false"] += n
            if year is not None:
                out["year"][str(year)] += n
        return {f: {k: max(1, round(v * scale)) for k, v in c.items()} for f, c in out.items()}

    def _facets(self, conn, keys: list[int], scale: float) -> dict[str, dict[str, int]]:
        if not keys:
            return {f: {} for f in ("kind", "tags", "read_state", "starred", "year", "has_pdf")}
        ids = json.dumps(keys)
        # Each query's rows come back as one row of JSON (see _rowids_in_steps).
        facets = self._facet_rows(
            _one_row_json(
                conn,
                "SELECT kind, read_state, starred, has_pdf, year, count(*) AS n FROM items INDEXED BY items_scan"
                " WHERE rowkey IN (SELECT value FROM json_each(?)) GROUP BY 1, 2, 3, 4, 5",
                (ids,), "kind", "read_state", "starred", "has_pdf", "year", "n",
            ),
            scale,
        )
        tags = _one_row_json(
            conn,
            "SELECT tag, count(*) AS n FROM item_tags WHERE rowkey IN (SELECT value FROM json_each(?))"
            " GROUP BY tag ORDER BY n DESC, tag LIMIT 100",
            (ids,), "tag", "n",
        )
        tags.sort(key=lambda row: (-row[1], row[0]))
        facets["tags"] = {tag: max(1, round(n * scale)) for tag, n in tags}
        return facets

    def _hits(
        self, conn, keys: list[int], matcher: Matcher, plan: _Plan | None, from_chunk: dict,
        chunk_ids: dict | None = None,
    ) -> list[SearchHit]:
        if not keys:
            return []
        rows = {
            r[0]: r
            for r in conn.execute(
                "SELECT rowkey, item_id, title, abstract, notes FROM items"
                " WHERE rowkey IN (SELECT value FROM json_each(?))",
                (json.dumps(keys),),
            )
        }
        hits: list[SearchHit] = []
        for rank, key in enumerate(keys):
            row = rows.get(key)
            if row is None:
                continue
            _, item_id, title, abstract, notes_json = row
            head_texts = [abstract, *json.loads(notes_json)]
            chunk_text, page = None, None
            snippet, _ = best_snippet(matcher, head_texts, None)
            head_matched = bool(matcher) and "<mark>" in snippet
            if plan is not None and (from_chunk.get(key) or not head_matched):
                found = self._best_chunk(conn, key, plan, matcher, (chunk_ids or {}).get(key))
                if found is not None:
                    chunk_text, page = found
            if chunk_text is not None:
                snippet, chunk_won = best_snippet(matcher, head_texts, chunk_text)
                if not chunk_won:
                    page = None
            hits.append(
                SearchHit(
                    item_id=item_id,
                    title_html=highlight(title, matcher),
                    snippet_html=snippet,
                    page=page,
                    score=float(len(keys) - rank),
                )
            )
        return hits

    def _best_chunk(
        self, conn, key: int, plan: _Plan, matcher: Matcher, known: list[int] | None = None
    ) -> tuple[str, int | None] | None:
        """The item's chunk (page) that matches best: the most distinct query words, then the
        most matches. Scored here on the chunk texts, not with bm25(), which counts every
        document holding a common word on each call (4 ms per hit for "model" at 100k items).

        ``known``: the item's matching chunks, already read from the search's own streams. Else
        they are looked up, which for a prefix costs FTS5 the whole merged list of its words
        (2 ms per hit for "optimiz" at 100k items)."""
        lo = key << CHUNK_BITS
        ids = list(dict.fromkeys(known or []))[:BEST_CHUNK_CANDIDATES]  # several streams may note one
        for mode in plan.modes() if not ids else ():  # exact words first: cheaper, and the better snippet
            ids = [
                r[0]
                for r in conn.execute(
                    "SELECT rowid FROM chunks WHERE chunks MATCH ? AND rowid BETWEEN ? AND ? ORDER BY rowid LIMIT ?",
                    (plan.expr(mode, chunk=True), lo, lo | (MAX_CHUNKS - 1), BEST_CHUNK_CANDIDATES),
                )
            ]
            if ids:
                break
        if not ids:
            return None
        # Known chunks may have matched through a prefix or a typo: as the lookup above, a chunk
        # with the query's own words wins over one with only longer words, over one with typos.
        exact = {w for t in (*plan.terms, *plan.phrases) for w in (*t.latin, *t.cjk_runs)}
        typos = {w for words in plan.typos.values() for w in words}
        best: tuple[tuple[int, ...], str, int | None] | None = None
        for rowid, text, page, src in conn.execute(
            "SELECT c.rowid, c.text, s.page, s.src FROM chunks c JOIN chunk_src s ON s.id = c.rowid"
            " WHERE c.rowid IN (SELECT value FROM json_each(?))",
            (json.dumps(ids),),
        ):
            shown = src if src is not None else text
            spans = matcher.spans(shown)
            keys = {k for _, _, k in spans}
            score = (len(keys & exact), len(keys - typos), len(keys), len(spans), -rowid)
            if best is None or score > best[0]:
                best = (score, shown, page)
        return None if best is None else (best[1], best[2])
