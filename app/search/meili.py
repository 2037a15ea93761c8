"""MeiliBackend: the same search on a Meilisearch server.

Each item becomes several Meilisearch documents, all carrying the item's filter values:

- ``<id>-h``: title, authors, abstract, tags, notes;
- ``<id>-c<n>``: one per body piece or PDF page (pages longer than CHUNK_WORDS are split), with
  ``page`` and, in ``ctx``, the title, authors and tags again so words spread over the title and
  a page still match.

A page is far below Meilisearch's 65,535 positions per attribute, so no text is cut off, and a hit
on a page document says which page it is. ``distinctAttribute: item_id`` returns each item once,
from its best document. Searchable texts go in as app.search.text.index_text (CJK bigrams) with
the LaTeX characters ``_ \\ ^ { } $`` turned into spaces, the same tokens the embedded backend uses
(doing that here rather than with Meilisearch's ``separatorTokens`` halves its tokenizing time).

What keeps it fast (measured with bench/run and bench/meili_bench.py; see also the comments on
SETTINGS):

- Writes: every batch of an upsert is sent before any is awaited, then all are awaited and any
  failure raised; ``proximityPrecision: byAttribute`` spares Meilisearch its word-pair database,
  its costliest (two words are then "close" when in the same attribute, so exact phrases are
  checked here: MeiliBackend._phrase_search).
- A search is one request for the page of hits (limit/offset, only the short fields and the
  originals of what a hit shows) and, unless every match is on that page, one for the count and
  the facets (MeiliBackend._count_items), sent before the hits are highlighted here so that
  Meilisearch counts meanwhile (the count needs the first answer's estimatedTotalHits, so the two
  cannot go out together; /multi-search would run them one after the other anyway). A search
  without words asks its facets with its hits. Under SearchQuery.count_later the count and the
  facets are left out (unless every match is on the page) and asked by MeiliBackend.count later:
  the results page shows its hits first and loads the count and facets after them.
- Meilisearch highlights and crops nothing: that would re-tokenize every returned attribute of
  every hit. Highlights, snippets and pages are computed by app.search.text, as for the embedded
  backend, from ``show_title``, ``abstract_src``, ``notes_src`` and the page text (``text_src``
  where its indexed form differs); words matched with a typo are found by TypoWords.
- Searches go over a kept-alive connection per thread (MeiliBackend._send); writes and
  administration through the official client.
"""

from __future__ import annotations

import http.client
import json
import logging
import re
import socket
import threading
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import meilisearch
import requests
from meilisearch.errors import (
    MeilisearchApiError,
    MeilisearchCommunicationError,
    MeilisearchError,
    MeilisearchTimeoutError,
)

from app.search.base import (
    SearchDocument,
    SearchHit,
    SearchQuery,
    SearchResults,
    SearchUnavailable,
    epoch_seconds,
)
from app.search.embedded import author_words, tag_paths
from app.search.text import (
    TOKEN,
    Matcher,
    Term,
    best_snippet,
    chunks_of,
    fold,
    highlight,
    index_text,
    terms_of,
    typo_distance,
)

T = TypeVar("T")
log = logging.getLogger(__name__)

SEARCHABLE = ["title", "authors", "abstract", "tags", "notes", "text", "ctx"]
# Equality filters only (no ranges, no facet search): cheaper to build and to query. ``chunk``
# takes ``>=`` when stale pages are deleted, ``bucket`` ``<`` when a sample is counted.
FILTER_EQUALITY = [
    "item_id", "part", "kind", "read_state", "starred", "year", "has_pdf", "tag_paths", "author_words", "tags",
]
SORTABLE = ["published_ts", "saved_ts"]  # sorted, as Meilisearch reads them back
FACET_ATTRS = {
    "kind": "kind", "tags": "tags", "read_state": "read_state", "starred": "starred",
    "year": "year", "has_pdf": "has_pdf",
}
MAX_TOTAL_HITS = 100_000  # also the largest document count a search reports (see COUNT_EXACT)
# Every document carries bucket = item_id % BUCKETS. Counting the items a search matches (rather
# than its documents: a paper matches once per page) costs Meilisearch a pass over every matching
# document, so it counts exactly up to COUNT_EXACT matching documents and, beyond, the items of a
# sample of buckets holding about that many, scaled up (SearchResults.exhaustive is then False).
BUCKETS = 256
COUNT_EXACT = 500
SETTINGS: dict[str, Any] = {
    "searchableAttributes": SEARCHABLE,
    "filterableAttributes": [
        {
            "attributePatterns": FILTER_EQUALITY,
            "features": {"facetSearch": False, "filter": {"equality": True, "comparison": False}},
        },
        {
            "attributePatterns": ["chunk", "bucket"],
            "features": {"facetSearch": False, "filter": {"equality": True, "comparison": True}},
        },
    ],
    "sortableAttributes": SORTABLE,
    "distinctAttribute": "item_id",
    # Sort first: a date sort is a sort; text relevance orders only ties. Then: typos, the
    # attribute a word is in (title ... pages), exact before prefix, newest saved last.
    "rankingRules": ["sort", "words", "typo", "attribute", "exactness", "proximity", "saved_ts:desc"],
    # No typos on numbers, as in the embedded backend (a typo applies to a word of letters).
    "typoTolerance": {
        "enabled": True,
        "minWordSizeForTypos": {"oneTypo": 5, "twoTypos": 9},
        "disableOnNumbers": True,
    },
    # Word-pair proximity is Meilisearch's costliest index (half its indexing time here); it only
    # breaks ties after exactness, and phrases are checked in Python (MeiliBackend._phrase_search).
    "proximityPrecision": "byAttribute",
    "facetSearch": False,
    # LaTeX separators are turned into spaces before indexing (see indexed()).
    "separatorTokens": [],
    # Han text is Chinese here, never Japanese.
    "localizedAttributes": [{"attributePatterns": ["*"], "locales": ["cmn", "eng"]}],
    "pagination": {"maxTotalHits": MAX_TOTAL_HITS},
    # By count: the most frequent tags rather than the alphabetically first ones, and (whatever the
    # number of matches) from the facet levels, never by reading the values of each matching
    # document, which costs 10-40 ms around a thousand matches.
    "faceting": {"maxValuesPerFacet": 100, "sortFacetValuesBy": {"*": "count"}},
    # A safety net: a search never holds the server longer than this.
    "searchCutoffMs": 1000,
}
LOCALES = ["cmn", "eng"]
# The originals of what a hit shows; the indexed ``text`` only for pages where it is the original.
# The facet values too: a search with fewer hits than its page counts its facets here.
RETRIEVE = [
    "item_id", "part", "chunk", "page", "show_title", "abstract_src", "notes_src", "text", "text_src",
    *FACET_ATTRS.values(),
]
PHRASE_RETRIEVE = [*RETRIEVE, "authors", "ctx"]
PHRASE_WINDOW = 100  # items fetched per request when phrases are checked here
PHRASE_CAP = 500  # items checked at most for one page of results
PHRASE_ROUNDS = 4  # other documents of an item looked at when its best one lacks the phrase
BATCH_BYTES = 8 * 1024 * 1024
BATCH_DOCS = 5000
LATEX = "_\\^{}$"


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def indexed(text: str) -> str:
    """What Meilisearch indexes for a text: CJK bigrams; LaTeX ``\\nabla \\log p_t`` as words."""
    text = index_text(text)
    for ch in LATEX:  # str.replace is many times faster than str.translate here
        if ch in text:
            text = text.replace(ch, " ")
    return text


def meili_documents(doc: SearchDocument) -> list[dict[str, Any]]:
    shared = {
        "item_id": doc.item_id,
        "bucket": doc.item_id % BUCKETS,
        "kind": doc.kind,
        "read_state": doc.read_state,
        "starred": doc.starred,
        "year": doc.year,
        "has_pdf": doc.has_pdf,
        "tags": doc.tags,
        "tag_paths": sorted(tag_paths(doc.tags)),
        "author_words": sorted(author_words(doc.authors)),
        "saved_ts": epoch_seconds(doc.saved_at) or 0,
        "published_ts": epoch_seconds(doc.published_at) or 0,
        "show_title": doc.title,  # displayed, not searched: chunk hits need the title too
    }
    head = {
        "id": f"{doc.item_id}-h", "part": "h", "chunk": -1, **shared,
        "title": indexed(doc.title),
        "authors": [indexed(a) for a in doc.authors],
        "abstract": indexed(doc.abstract),
        "notes": [indexed(n) for n in doc.notes],
    }
    # The originals, retrieved (not searched) for snippets.
    if doc.abstract:
        head["abstract_src"] = doc.abstract
    if doc.notes:
        head["notes_src"] = doc.notes
    out = [head]
    ctx = indexed(" ".join([doc.title, *doc.authors, *doc.tags, doc.site]))
    for n, chunk in enumerate(chunks_of(doc.body, doc.pages)):
        part = {"id": f"{doc.item_id}-c{n}", "part": "c", "chunk": n, "page": chunk.page, "ctx": ctx, **shared}
        part["text"] = indexed(chunk.text)
        if part["text"] != chunk.text:  # pages are long: the original only where it differs
            part["text_src"] = chunk.text
        out.append(part)
    return out


# Typo matches, for highlighting ------------------------------------------------------------------


@lru_cache(maxsize=65536)
def _fold_word(word: str) -> str:
    return fold(word)


def _words(text: str) -> list[str]:
    """The folded words of a text, in order: TOKEN.findall(fold(text)), folding each word rather
    than every character (fold is a Python loop over the characters)."""
    if text.isascii():
        return TOKEN.findall(text.lower())
    if unicodedata.is_normalized("NFC", text):
        return [_fold_word(w) for w in TOKEN.findall(text)]
    return TOKEN.findall(fold(text))


def _has_word(low: str, word: str, prefix: bool) -> bool:
    """Whether low (a text in lower case) holds word as a word, or as a word's beginning when prefix."""
    at = low.find(word)
    while at != -1:
        end = at + len(word)
        if (at == 0 or not low[at - 1].isalnum()) and (prefix or end == len(low) or not low[end].isalnum()):
            return True
        at = low.find(word, at + 1)
    return False


def _bigrams(word: str) -> set[str]:
    return {word[i : i + 2] for i in range(len(word) - 1)}


# ASCII punctuation and spaces as spaces, for _sized_words.
_ASCII_SEPARATORS = bytes.maketrans(
    bytes(b for b in range(128) if not chr(b).isalnum()),
    b" " * sum(1 for b in range(128) if not chr(b).isalnum()),
)


def _sized_words(text: str, sized: re.Pattern[str], shortest: int, longest: int) -> set[str]:
    """The folded words of text of shortest to longest characters: {fold(w) for w in
    sized.findall(text)}, where sized finds exactly those words, but with the text split at ASCII
    separators by bytes.translate and bytes.split (a regex tried at every position of a page is
    several times slower); only the pieces holding other characters go through sized."""
    out: set[str] = set()
    for piece in set(text.encode().translate(_ASCII_SEPARATORS).split()):
        if piece.isascii():
            if shortest <= len(piece) <= longest:
                out.add(piece.decode().lower())
        else:
            out.update(_fold_word(w) for w in sized.findall(piece.decode()))
    return out


class TypoWords:
    """The words of the hits' texts that a typo-tolerant query term matched (Meilisearch does not
    say which: nothing is highlighted there), looked for in the hits that lack the term itself (or,
    typed last, a word it begins). Only words of a fitting length are read out of the texts, and a
    word sharing too few letter pairs with the term (an edit breaks at most three) is not measured,
    nor, for one typo, a word that keeps neither the term's first letter nor its last (one edit of
    a word of five letters or more keeps one of them)."""

    def __init__(self, terms: list[Term]) -> None:
        self.terms = []
        for term in terms:
            word = term.typo_word
            if word is not None:
                k = term.max_typos
                sized = re.compile(f"(?<![^\\W_])[^\\W_]{{{len(word) - k},{len(word) + k}}}(?![^\\W_])")
                self.terms.append((word, k, term.prefix, sized, _bigrams(word), len(_bigrams(word)) - 3 * k))

    def __bool__(self) -> bool:
        return bool(self.terms)

    def find(self, hits: list[list[str]]) -> list[str]:
        """hits: the texts of each hit. A hit is read only if it lacks the term and every word
        found for it in the hits before: a typo's hits mostly share one word (all twenty of
        "difusion" hold "diffusion"), so one or two hits are read instead of twenty pages."""
        out: set[str] = set()
        joined = ["\n".join(t for t in texts if t) for texts in hits]
        lowered = [text.lower() for text in joined]
        for word, k, prefix, sized, grams, need in self.terms:
            first, last = word[0], word[-1]
            found: list[str] = []
            for text, low in zip(joined, lowered, strict=True):
                if not text or _has_word(low, word, prefix) or any(_has_word(low, w, False) for w in found):
                    continue
                for w in _sized_words(text, sized, len(word) - k, len(word) + k):
                    if k == 1 and w[0] != first and w[-1] != last:
                        continue
                    if abs(len(w) - len(word)) <= k and len(grams & _bigrams(w)) >= need:
                        if typo_distance(word, w, k) <= k:
                            found.append(w)
                            out.add(w)
        return sorted(out)


# Phrases ----------------------------------------------------------------------------------------


def _tokens_of(value: Any) -> list[list[str]]:
    """The folded token lists of an indexed text or list of texts (one list per value)."""
    if isinstance(value, list):
        return [t for v in value for t in _tokens_of(v)]
    if not value:
        return []
    return [_words(value)]


def _has_phrase(token_lists: list[list[str]], phrase: list[str]) -> bool:
    n = len(phrase)
    for tokens in token_lists:
        first = phrase[0]
        for i in range(len(tokens) - n + 1):
            if tokens[i] == first and tokens[i : i + n] == phrase:
                return True
    return False


def _holds(current: Any, wanted: Any) -> bool:
    """Whether settings read back from Meilisearch hold what we set (it adds the defaults)."""
    if isinstance(wanted, dict):
        return isinstance(current, dict) and all(_holds(current.get(k), v) for k, v in wanted.items())
    if isinstance(wanted, list):
        return (
            isinstance(current, list) and len(current) == len(wanted)
            and all(_holds(c, w) for c, w in zip(current, wanted, strict=True))
        )
    return current == wanted


def _count_facets(hits: list[dict[str, Any]], scale: float) -> dict[str, dict[str, int]]:
    """Facet counts of retrieved hits (one per item), keyed as Meilisearch keys them."""
    counts: dict[str, Counter] = {name: Counter() for name in FACET_ATTRS}
    for h in hits:
        for name, attr in FACET_ATTRS.items():
            value = h.get(attr)
            for v in value if isinstance(value, list) else [value]:
                if v is not None:
                    counts[name][json.dumps(v) if isinstance(v, bool) else str(v)] += 1
    return {name: {k: max(1, round(n * scale)) for k, n in c.most_common(100)} for name, c in counts.items()}


@dataclass(slots=True)
class _Asked:
    """A search sent to Meilisearch whose answer is still to be read (MeiliBackend._ask)."""

    data: bytes
    conn: http.client.HTTPConnection | None = None
    reused: bool = False  # on a kept-alive connection, which the server may have closed since
    error: Exception | None = None  # sending failed


class MeiliBackend:
    name = "meilisearch"
    # After every batch Meilisearch recomputes its prefix databases for the words the batch
    # touched: about 0.5 s at 100k items whatever the batch's size, so bulk writes go in large
    # batches (reindexing 10k items: 156-166 items/s in batches of 200, 182-207 in batches of 1000).
    batch_size = 1000

    def __init__(
        self,
        url: str,
        api_key: str,
        index_name: str,
        *,
        timeout: float = 2.0,
        write_timeout: float = 60.0,
        task_timeout: float = 600.0,
    ):
        self.url = url
        self.index_name = index_name
        self.rebuilt = False  # setup() found another release's settings and emptied the index
        self.task_timeout = task_timeout
        self.last_http_ms = 0.0  # the HTTP round trips of the last search (benchmarks)
        # requests' timeout bounds connecting and each read: a dead server fails fast.
        self._client = meilisearch.Client(url, api_key or None, timeout=timeout)
        self._writer = meilisearch.Client(url, api_key or None, timeout=write_timeout)
        self._index = self._client.index(index_name)
        self._write_index = self._writer.index(index_name)
        # Searches go over one kept-alive connection per thread (see _send).
        parts = urlsplit(url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or (443 if self._https else 80)
        self._search_path = f"{parts.path.rstrip('/')}/indexes/{quote(index_name, safe='')}/search"
        self._search_headers = {"Content-Type": "application/json"}
        if api_key:
            self._search_headers["Authorization"] = f"Bearer {api_key}"
        self._timeout = timeout
        self._local = threading.local()

    # Plumbing ------------------------------------------------------------------------------

    def _call(self, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except (MeilisearchCommunicationError, MeilisearchTimeoutError, requests.RequestException) as exc:
            raise SearchUnavailable(f"Meilisearch at {self.url} is unreachable: {exc}") from exc
        except MeilisearchApiError as exc:
            raise SearchUnavailable(f"Meilisearch refused the request: {exc}") from exc
        except MeilisearchError as exc:
            raise SearchUnavailable(f"Meilisearch error: {exc}") from exc

    def _wait(self, task_uids: list[int]) -> None:
        """Wait for every task (all of them, even after one failed); raise when one failed."""
        deadline = time.monotonic() + self.task_timeout
        failures: list[str] = []
        for uid in task_uids:
            remaining_ms = max(1, int((deadline - time.monotonic()) * 1000))
            task = self._call(
                lambda uid=uid, ms=remaining_ms: self._writer.wait_for_task(
                    uid, timeout_in_ms=ms, interval_in_ms=20
                )
            )
            if task.status != "succeeded":
                failures.append(f"Meilisearch task {uid} {task.status}: {task.error}")
        if failures:
            raise SearchUnavailable("; ".join(failures))

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def healthy(self) -> bool:
        try:
            return bool(self._client.is_healthy())
        except Exception:  # noqa: BLE001 - any failure means "not healthy"
            return False

    # Writes --------------------------------------------------------------------------------

    def setup(self) -> None:
        """Create the index and send the settings, unless the index has them already: a settings
        task waits behind every queued write, and a changed one rebuilds the whole index."""

        def ensure() -> list[int]:
            try:
                self._writer.get_raw_index(self.index_name)
            except MeilisearchApiError as exc:
                if exc.code != "index_not_found":
                    raise
                task = self._writer.create_index(self.index_name, {"primaryKey": "id"}).task_uid
                return [task, self._write_index.update_settings(SETTINGS).task_uid]
            current = self._writer.http.get(f"indexes/{self.index_name}/settings")
            if _holds(current, SETTINGS):
                return []
            # Another release's settings mean another release's document shape: empty the index
            # and let the caller queue every item (the database is the source of truth).
            log.warning("Meilisearch index %s had other settings: emptied and set up again", self.index_name)
            self.rebuilt = True
            return [
                self._write_index.delete_all_documents().task_uid,
                self._write_index.update_settings(SETTINGS).task_uid,
            ]

        self._wait(self._call(ensure))

    def _batches(self, docs: list[dict[str, Any]]) -> Iterator[bytes]:
        """JSON arrays of at most BATCH_DOCS documents or BATCH_BYTES, each document encoded once."""
        batch: list[bytes] = []
        size = 0
        for d in docs:
            encoded = json.dumps(d, ensure_ascii=False).encode()
            if batch and (size + len(encoded) > BATCH_BYTES or len(batch) >= BATCH_DOCS):
                yield b"[" + b",".join(batch) + b"]"
                batch, size = [], 0
            batch.append(encoded)
            size += len(encoded) + 1
        if batch:
            yield b"[" + b",".join(batch) + b"]"

    def upsert(self, docs: list[SearchDocument]) -> None:
        """Send every batch, then the deletion of stale pages, and only then wait for all of them:
        Meilisearch indexes the batches together, and every task's outcome is still checked."""
        if not docs:
            return
        all_docs: list[dict[str, Any]] = []
        stale: list[str] = []
        for doc in docs:
            parts = meili_documents(doc)
            all_docs.extend(parts)
            # Chunks this version no longer has (a PDF re-extracted with fewer pages).
            stale.append(f"(item_id = {int(doc.item_id)} AND chunk >= {len(parts) - 1})")
        tasks = [
            self._call(lambda b=b: self._write_index.add_documents_json(b, primary_key="id").task_uid)
            for b in self._batches(all_docs)
        ]
        for i in range(0, len(stale), 200):
            expr = " OR ".join(stale[i : i + 200])
            tasks.append(self._call(lambda e=expr: self._write_index.delete_documents(filter=e).task_uid))
        self._wait(tasks)

    def delete(self, item_ids: list[int]) -> None:
        if not item_ids:
            return
        tasks = []
        for i in range(0, len(item_ids), 1000):
            ids = ", ".join(str(int(x)) for x in item_ids[i : i + 1000])
            tasks.append(self._call(lambda ids=ids: self._write_index.delete_documents(filter=f"item_id IN [{ids}]").task_uid))
        self._wait(tasks)

    def clear(self) -> None:
        self._wait([self._call(lambda: self._write_index.delete_all_documents().task_uid)])

    def indexed_ids(self) -> set[int]:
        out: set[int] = set()
        offset = 0
        while True:
            page = self._call(
                lambda offset=offset: self._write_index.get_documents(
                    {"filter": 'part = "h"', "fields": ["item_id"], "limit": 10000, "offset": offset}
                )
            )
            out.update(int(getattr(d, "item_id", None) or d.__dict__.get("item_id")) for d in page.results)
            offset += len(page.results)
            if not page.results or offset >= page.total:
                return out

    # Search --------------------------------------------------------------------------------

    def _filter(self, q: SearchQuery, *, text: bool) -> list[str]:
        f: list[str] = []
        if not text:
            f.append('part = "h"')
        if q.kinds:
            f.append("kind IN [" + ", ".join(_quote(k) for k in q.kinds) + "]")
        for tag in q.tags:
            f.append(f"tag_paths = {_quote('/'.join(p for p in tag.lower().split('/') if p))}")
        for w in sorted(author_words(q.authors)):
            f.append(f"author_words = {_quote(w)}")
        if q.read_state:
            f.append(f"read_state = {_quote(q.read_state)}")
        if q.starred is not None:
            f.append(f"starred = {'true' if q.starred else 'false'}")
        if q.has_pdf is not None:
            f.append(f"has_pdf = {'true' if q.has_pdf else 'false'}")
        if q.years:
            f.append("year IN [" + ", ".join(str(int(y)) for y in q.years) + "]")
        return f

    @staticmethod
    def _q(q: SearchQuery, *, checked_here: bool = False) -> str:
        """The q parameter. With checked_here, excluded words of several tokens (``-fine-tuning``)
        are left out: Meilisearch would drop every document with both tokens in one attribute."""
        terms, phrases = terms_of(q.terms, q.phrases)
        parts = [" ".join(t.tokens) for t in terms]
        parts += ['"' + " ".join(p.tokens) + '"' for p in phrases]
        for word in q.excluded:
            ex, _ = terms_of([word], [])
            if ex:
                tokens = ex[0].tokens
                if len(tokens) == 1:
                    parts.append("-" + tokens[0])
                elif not checked_here:
                    parts.append('-"' + " ".join(tokens) + '"')
        return " ".join(parts)

    @staticmethod
    def _checked_phrases(q: SearchQuery) -> tuple[list[list[str]], list[list[str]]]:
        """(phrases that must be in a document, excluded words that must not), each a token list
        of two or more tokens: what Meilisearch's byAttribute proximity cannot decide."""
        _, phrases = terms_of([], q.phrases)
        need = [p.tokens for p in phrases if len(p.tokens) > 1]
        excluded = []
        for word in q.excluded:
            ex, _ = terms_of([word], [])
            if ex and len(ex[0].tokens) > 1:
                excluded.append(ex[0].tokens)
        return need, excluded

    def _sort(self, query: SearchQuery, has_text: bool) -> list[str] | None:
        if query.sort == "saved" or (query.sort == "relevance" and not has_text):
            return ["saved_ts:desc"]
        if query.sort == "published":
            return ["published_ts:desc", "saved_ts:desc"]
        return None

    def _search(self, text: str, params: dict[str, Any]) -> dict[str, Any]:
        return self._answer(self._ask(text, params))

    def _ask(self, text: str, params: dict[str, Any]) -> _Asked:
        """Send a search without waiting for its answer (read it with _answer): Meilisearch works
        on it while this thread goes on."""
        started = time.perf_counter()
        asked = _Asked(json.dumps({"q": text, **params}, ensure_ascii=False).encode())
        self._send(asked)
        self.last_http_ms += (time.perf_counter() - started) * 1000
        return asked

    def _answer(self, asked: _Asked) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            return self._receive(asked)
        finally:
            self.last_http_ms += (time.perf_counter() - started) * 1000

    def _connect(self) -> http.client.HTTPConnection:
        cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        conn = cls(self._host, self._port, timeout=self._timeout)
        conn.connect()
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    def _send(self, asked: _Asked) -> None:
        """POST /indexes/<index>/search on this thread's kept-alive connection (taken until the
        answer is read, see _receive), or on a new one.

        The official client opens a new connection for every request (requests.post), a few ms
        each; and a requests.Session kept alive stalls 40 ms on a delayed ACK (its request goes
        out in two writes)."""
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        asked.conn, asked.reused, asked.error = conn, conn is not None, None
        try:
            if conn is None:
                asked.conn = conn = self._connect()
            conn.request("POST", self._search_path, body=asked.data, headers=self._search_headers)
        except (OSError, http.client.HTTPException) as exc:
            asked.error = exc

    def _receive(self, asked: _Asked) -> dict[str, Any]:
        """The answer to a search sent by _send. A kept-alive connection the server has closed
        since is replaced once."""
        for attempt in range(2):
            if attempt:
                self._send(asked)  # on a new connection
            conn = asked.conn
            if asked.error is None:
                try:
                    response = conn.getresponse()
                    payload = response.read()
                except (OSError, http.client.HTTPException) as exc:
                    asked.error = exc
            if asked.error is not None:
                if conn is not None:
                    conn.close()
                if asked.reused and not isinstance(asked.error, TimeoutError):
                    continue
                exc = asked.error
                raise SearchUnavailable(f"Meilisearch at {self.url} is unreachable: {exc}") from exc
            if response.will_close:
                conn.close()
            else:
                self._local.conn = conn
            if response.status >= 400:
                detail = payload[:500].decode(errors="replace")
                raise SearchUnavailable(f"Meilisearch refused the request ({response.status}): {detail}")
            return json.loads(payload)
        raise SearchUnavailable(f"Meilisearch at {self.url} is unreachable")

    def search(self, query: SearchQuery) -> SearchResults:
        started = time.perf_counter()
        self.last_http_ms = 0.0
        need, excluded = self._checked_phrases(query)
        text = self._q(query, checked_here=bool(need or excluded))
        has_text = query.has_text and bool(text.replace("-", "").strip())
        terms, phrases = terms_of(query.terms, query.phrases)
        if has_text and (need or excluded):
            results = self._phrase_search(query, text, need, excluded, terms, phrases)
            results.took_ms = (time.perf_counter() - started) * 1000
            return results
        limit, offset = max(1, query.limit), max(0, query.offset)
        filters = self._filter(query, text=has_text)
        params: dict[str, Any] = {
            "filter": filters,
            "limit": limit + 1,  # one more says whether a next page exists
            "offset": offset,
            "attributesToRetrieve": RETRIEVE,
            "matchingStrategy": "all",
            "locales": LOCALES,
        }
        sort = self._sort(query, has_text)
        if sort:
            params["sort"] = sort
        if not has_text and query.with_facets and not query.count_later:
            # Head documents only, one per item: the count and the facets are the items'. Under
            # count_later they are left to count(): at 100k items the facets cost this request
            # more than the search itself (filter only: p95 18.3 ms with them, raw 7.6 without).
            params["facets"] = list(FACET_ATTRS.values())
        raw = self._search(text if has_text else "", params)
        found = raw["hits"]
        more = len(found) > limit
        found = found[:limit]
        matched = int(raw.get("estimatedTotalHits", len(found)))
        every_match_here = offset == 0 and not more
        exhaustive, counted = True, True
        counting = None
        if not every_match_here and matched and query.count_later and (has_text or query.with_facets):
            counted = False
        elif has_text and not every_match_here and matched:
            # Meilisearch counts while the hits are highlighted here.
            counting = self._ask_count(text, filters, matched, query.with_facets)
        hits = self._hits(found, terms, phrases)
        if counting is not None:
            total, facets, exhaustive = self._counted(self._answer(counting[0]), counting[1], query.with_facets)
        elif counted and not has_text:
            total, exhaustive = matched, matched < MAX_TOTAL_HITS
            if "facets" in params:
                facets = self._facets(raw.get("facetDistribution") or {})
            else:  # every match is on this page
                facets = _count_facets(found, 1.0) if query.with_facets else {}
        elif counted and every_match_here:
            total = len(hits)
            facets = _count_facets(found, 1.0) if query.with_facets and hits else {}
        else:  # left to count(), or nothing on a page past the last match
            total, facets = 0, {}
        return SearchResults(
            hits=hits,
            total=total,
            facets=facets,
            took_ms=(time.perf_counter() - started) * 1000,
            exhaustive=exhaustive,
            more=more,
            counted=counted,
            matched=matched,
        )

    def count(self, query: SearchQuery, matched: int | None = None) -> SearchResults:
        """The total and facets that search() left out under ``count_later``: one request when
        ``matched`` (that search's estimate of matching documents) is given; otherwise (or for
        phrases and filter-only queries) the search again, with its facets."""
        started = time.perf_counter()
        need, excluded = self._checked_phrases(query)
        text = self._q(query, checked_here=bool(need or excluded))
        has_text = query.has_text and bool(text.replace("-", "").strip())
        if not has_text or need or excluded or not matched:
            results = self.search(replace(query, limit=1, offset=0, count_later=False))
            results.hits, results.more, results.took_ms = [], False, (time.perf_counter() - started) * 1000
            return results
        total, facets, exhaustive = self._count_items(
            text, self._filter(query, text=True), matched, query.with_facets
        )
        return SearchResults(
            hits=[], total=total, facets=facets, exhaustive=exhaustive,
            took_ms=(time.perf_counter() - started) * 1000,
        )

    @staticmethod
    def _facets(dist: dict[str, dict[str, int]], scale: float = 1.0) -> dict[str, dict[str, int]]:
        return {
            name: {k: max(1, round(n * scale)) for k, n in dist.get(attr, {}).items()}
            for name, attr in FACET_ATTRS.items()
        }

    def _count_items(
        self, text: str, filters: list[str], matched: int, with_facets: bool
    ) -> tuple[int, dict[str, dict[str, int]], bool]:
        """(items, facets, exact) of a search that matched this many documents: Meilisearch
        counts items (distinct) in page mode, over every match up to COUNT_EXACT documents and
        over a sample of buckets beyond."""
        asked, sample = self._ask_count(text, filters, matched, with_facets)
        return self._counted(self._answer(asked), sample, with_facets)

    def _ask_count(self, text: str, filters: list[str], matched: int, with_facets: bool) -> tuple[_Asked, int]:
        """Send the count of _count_items; (the request, the buckets it counts)."""
        sample = BUCKETS
        if matched > COUNT_EXACT:
            sample = max(1, min(BUCKETS, -(-BUCKETS * COUNT_EXACT // matched)))
        params: dict[str, Any] = {
            "filter": filters if sample == BUCKETS else [*filters, f"bucket < {sample}"],
            "hitsPerPage": 0,
            "page": 1,
            "matchingStrategy": "all",
            "locales": LOCALES,
        }
        if with_facets:
            params["facets"] = list(FACET_ATTRS.values())
        return self._ask(text, params), sample

    def _counted(
        self, raw: dict[str, Any], sample: int, with_facets: bool
    ) -> tuple[int, dict[str, dict[str, int]], bool]:
        items = int(raw.get("totalHits", 0))
        scale = BUCKETS / sample
        facets = self._facets(raw.get("facetDistribution") or {}, scale) if with_facets else {}
        if sample == BUCKETS:
            return items, facets, items < MAX_TOTAL_HITS
        return round(items * scale), facets, False

    @staticmethod
    def _texts(h: dict[str, Any]) -> tuple[str, str, list[str], str | None]:
        """(title, abstract, notes, page or body piece) of a hit, as written."""
        chunk = (h.get("text_src") or h.get("text") or "") if h.get("part") == "c" else None
        return h.get("show_title") or "", h.get("abstract_src") or "", h.get("notes_src") or [], chunk

    def _hits(self, raw: list[dict[str, Any]], terms: list[Term], phrases: list[Term]) -> list[SearchHit]:
        texts = [self._texts(h) for h in raw]
        typos = TypoWords(terms)
        extra = typos.find([[title, abstract, *notes, chunk or ""] for title, abstract, notes, chunk in texts])
        matcher = Matcher(terms + phrases, extra_words=extra)
        out = []
        for rank, (h, (title, abstract, notes, chunk)) in enumerate(zip(raw, texts, strict=True)):
            snippet, chunk_won = best_snippet(matcher, [abstract, *notes], chunk)
            page = h.get("page") if chunk is not None and (chunk_won or not matcher) else None
            out.append(
                SearchHit(
                    item_id=int(h["item_id"]),
                    title_html=highlight(title, matcher),
                    snippet_html=snippet,
                    page=page,
                    score=-float(rank),
                )
            )
        return out

    # Exact phrases ---------------------------------------------------------------------------

    @staticmethod
    def _doc_passes(h: dict[str, Any], need: list[list[str]], excluded: list[list[str]]) -> bool:
        if h.get("part") == "c":
            tokens = _tokens_of(h.get("text")) + _tokens_of(h.get("ctx")) + _tokens_of(h.get("tags"))
        else:  # the indexed forms of the originals retrieved for the snippet
            tokens = [
                *_tokens_of(indexed(h.get("show_title") or "")),
                *_tokens_of(h.get("authors")),
                *_tokens_of(indexed(h.get("abstract_src") or "")),
                *_tokens_of(h.get("tags")),
                *_tokens_of([indexed(n) for n in h.get("notes_src") or []]),
            ]
        return all(_has_phrase(tokens, p) for p in need) and not any(_has_phrase(tokens, p) for p in excluded)

    def _phrase_search(
        self,
        query: SearchQuery,
        text: str,
        need: list[list[str]],
        excluded: list[list[str]],
        terms: list[Term],
        phrases: list[Term],
    ) -> SearchResults:
        """Phrases (and excluded words of several tokens) that Meilisearch matched only by
        attribute: its candidates are read in windows, best first, and a document is kept when
        its own tokens hold each phrase in order (and no excluded one). An item whose best
        document fails is looked at again through its next-best documents. When every candidate
        was read, the total and facets are exact; otherwise they are the share of the candidates
        read that passed, applied to the count of all candidates."""
        filters = self._filter(query, text=True)
        base: dict[str, Any] = {"attributesToRetrieve": PHRASE_RETRIEVE, "matchingStrategy": "all", "locales": LOCALES}
        sort = self._sort(query, True)
        if sort:
            base["sort"] = sort
        want = query.offset + query.limit
        kept: list[tuple[int, dict[str, Any]]] = []  # (candidate rank, the document that passes)
        examined = 0
        while True:
            raw = self._search(text, {**base, "filter": filters, "limit": PHRASE_WINDOW, "offset": examined})
            window = raw["hits"]
            failed: dict[int, int] = {}
            for i, h in enumerate(window):
                if self._doc_passes(h, need, excluded):
                    kept.append((examined + i, h))
                else:
                    failed[int(h["item_id"])] = examined + i
            if failed:
                # By relevance, an item found through a lesser document ranks after the others
                # of its window; by date, where it was.
                later = 0 if sort else len(window)
                second = self._second_looks(text, base, filters, failed, window, need, excluded)
                kept += [(rank + later, h) for rank, h in second]
            examined += len(window)
            done = len(window) < PHRASE_WINDOW
            if done or examined >= PHRASE_CAP or len(kept) >= want:
                break
        kept.sort(key=lambda pair: pair[0])
        if done:
            total, scale = len(kept), 1.0
        else:
            matched = int(raw.get("estimatedTotalHits", examined))
            candidates, _, _ = self._count_items(text, filters, matched, False)
            total = round(max(candidates, examined) * len(kept) / examined)
            scale = total / max(len(kept), 1)
        facets = _count_facets([h for _, h in kept], scale) if query.with_facets else {}
        hits = self._hits([h for _, h in kept[query.offset : want]], terms, phrases)
        return SearchResults(hits=hits, total=total, facets=facets, exhaustive=done, more=want < total)

    def _second_looks(
        self,
        text: str,
        base: dict[str, Any],
        filters: list[str],
        failed: dict[int, int],
        window: list[dict[str, Any]],
        need: list[list[str]],
        excluded: list[list[str]],
    ) -> list[tuple[int, dict[str, Any]]]:
        """Each failed item's next-best documents (distinct still returns one per item, so the
        ones already refused are filtered out), for up to PHRASE_ROUNDS rounds."""
        refused: dict[int, list[int]] = {}
        for h in window:
            item = int(h["item_id"])
            if item in failed:
                refused.setdefault(item, []).append(int(h.get("chunk", -1)))
        out: list[tuple[int, dict[str, Any]]] = []
        for _ in range(PHRASE_ROUNDS):
            if not refused:
                break
            ids = ", ".join(str(i) for i in refused)
            not_refused = " OR ".join(
                f"(item_id = {item} AND chunk IN [{', '.join(str(c) for c in chunks)}])"
                for item, chunks in refused.items()
            )
            raw = self._search(
                text,
                {**base, "filter": [*filters, f"item_id IN [{ids}]", f"NOT ({not_refused})"], "limit": len(refused)},
            )
            still: dict[int, list[int]] = {}
            for h in raw["hits"]:
                item = int(h["item_id"])
                if self._doc_passes(h, need, excluded):
                    out.append((failed[item], h))
                else:
                    still[item] = [*refused[item], int(h.get("chunk", -1))]
            refused = still
        return out
