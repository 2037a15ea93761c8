"""MeiliBackend: the same search on a Meilisearch server, through the official client.

Each item becomes several Meilisearch documents, all carrying the item's filter values:

- ``<id>-h``: title, authors, abstract, tags, notes;
- ``<id>-c<n>``: one per body piece or PDF page (pages longer than CHUNK_WORDS are split), with
  ``page`` and, in ``ctx``, the title, authors and tags again so words spread over the title and
  a page still match.

A page is far below Meilisearch's 65,535 positions per attribute, so no text is cut off, and a hit
on a page document says which page it is. ``distinctAttribute: item_id`` returns each item once,
from its best document. Searchable texts go in as app.search.text.index_text (CJK bigrams), the
same tokens the embedded backend uses; originals are kept (``*_src``) only where they differ, and
highlights and snippets are computed by app.search.text for both backends.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, TypeVar

import meilisearch
import requests
from meilisearch.errors import (
    MeilisearchApiError,
    MeilisearchCommunicationError,
    MeilisearchError,
    MeilisearchTimeoutError,
)

from app.search.base import SearchDocument, SearchHit, SearchQuery, SearchResults, SearchUnavailable
from app.search.embedded import author_words, tag_paths
from app.search.text import (
    TOKEN,
    Matcher,
    best_snippet,
    chunks_of,
    fold,
    highlight,
    index_text,
    terms_of,
    typo_distance,
)

T = TypeVar("T")

SEARCHABLE = ["title", "authors", "abstract", "tags", "notes", "text", "ctx"]
FILTERABLE = [
    "item_id", "part", "chunk", "kind", "read_state", "starred", "year", "has_pdf",
    "tag_paths", "author_words", "tags",
]
SORTABLE = ["saved_ts", "published_ts"]
FACET_ATTRS = {
    "kind": "kind", "tags": "tags", "read_state": "read_state", "starred": "starred",
    "year": "year", "has_pdf": "has_pdf",
}
# Title, notes and the page text come back highlighted (so typo matches are known), the page
# cropped around its match; originals (*_src, only present for CJK texts) are retrieved whole.
# The abstract is retrieved, not highlighted: Meilisearch re-tokenizes every highlighted attribute
# of every hit, and the bilingual abstracts cost ~2 ms each (45 of 55 ms for 20 hits, measured
# with bench/run); its typo matches are found here instead (_typo_words).
RETRIEVE = ["item_id", "part", "page", "show_title", "abstract", "abstract_src", "notes_src", "text_src"]
HIGHLIGHT = ["notes", "text", "title"]
PRE, POST = "\x02", "\x03"
MARKED_WORD = re.compile(f"[^\\W_]*{PRE}[^{POST}]*{POST}[^\\W_]*")
SETTINGS: dict[str, Any] = {
    "searchableAttributes": SEARCHABLE,
    "filterableAttributes": FILTERABLE,
    "sortableAttributes": SORTABLE,
    "distinctAttribute": "item_id",
    # Sort first: a date sort is a sort; text relevance orders only ties. Then: typos, the
    # attribute a word is in (title ... pages), exact before prefix, newest saved last.
    "rankingRules": ["sort", "words", "typo", "attribute", "exactness", "proximity", "saved_ts:desc"],
    "typoTolerance": {"enabled": True, "minWordSizeForTypos": {"oneTypo": 5, "twoTypos": 9}},
    # LaTeX: \nabla \log p_t is the words nabla log p t.
    "separatorTokens": ["_", "\\", "^", "{", "}", "$"],
    # Han text is Chinese here, never Japanese.
    "localizedAttributes": [{"attributePatterns": ["*"], "locales": ["cmn", "eng"]}],
    "pagination": {"maxTotalHits": 10000},
    "faceting": {"maxValuesPerFacet": 100},
}
LOCALES = ["cmn", "eng"]
BATCH_BYTES = 8 * 1024 * 1024
BATCH_DOCS = 2000


def _ts(value: datetime | None) -> float | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _with_src(out: dict[str, Any], name: str, value: str | list[str]) -> None:
    """Set the indexed form of a text, and the original beside it when the two differ."""
    if isinstance(value, list):
        indexed: Any = [index_text(v) for v in value]
    else:
        indexed = index_text(value)
    out[name] = indexed
    if indexed != value:
        out[f"{name}_src"] = value


def meili_documents(doc: SearchDocument) -> list[dict[str, Any]]:
    shared = {
        "item_id": doc.item_id,
        "kind": doc.kind,
        "read_state": doc.read_state,
        "starred": doc.starred,
        "year": doc.year,
        "has_pdf": doc.has_pdf,
        "tags": doc.tags,
        "tag_paths": sorted(tag_paths(doc.tags)),
        "author_words": sorted(author_words(doc.authors)),
        "saved_ts": _ts(doc.saved_at) or 0,
        "published_ts": _ts(doc.published_at) or 0,
        "show_title": doc.title,  # displayed, not searched: chunk hits need the title too
    }
    head = {"id": f"{doc.item_id}-h", "part": "h", "chunk": -1, **shared}
    _with_src(head, "title", doc.title)
    head["authors"] = [index_text(a) for a in doc.authors]
    _with_src(head, "abstract", doc.abstract)
    _with_src(head, "notes", doc.notes)
    head["tags"] = doc.tags
    out = [head]
    ctx = index_text(" ".join([doc.title, *doc.authors, *doc.tags, doc.site]))
    for n, chunk in enumerate(chunks_of(doc.body, doc.pages)):
        part = {"id": f"{doc.item_id}-c{n}", "part": "c", "chunk": n, "page": chunk.page, "ctx": ctx, **shared}
        _with_src(part, "text", chunk.text)
        out.append(part)
    return out


def _typo_words(terms: list, text: str, matched: set[str], seen: dict[tuple[str, str], bool]) -> list[str]:
    """Words of text that a typo-tolerant query term matched, for highlighting: only looked for
    when the term itself (or, for the last word, a word it begins) is not in the text already.
    ``seen`` remembers (term, word) answers across the hits of one search."""
    words: set[str] | None = None
    out: list[str] = []
    for term in terms:
        word = term.typo_word
        if word is None or word in matched:
            continue
        if words is None:
            words = set(TOKEN.findall(fold(text)))
        if word in words or (term.prefix and any(w.startswith(word) for w in words)):
            continue
        k = term.max_typos
        for w in words:
            if abs(len(w) - len(word)) > k:
                continue
            hit = seen.get((word, w))
            if hit is None:
                hit = seen[(word, w)] = typo_distance(word, w, k) <= k
            if hit:
                out.append(w)
    return out


class MeiliBackend:
    name = "meilisearch"

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
        self.task_timeout = task_timeout
        self.last_http_ms = 0.0  # the HTTP round trip of the last search (benchmarks)
        # requests' timeout bounds connecting and each read: a dead server fails fast.
        self._client = meilisearch.Client(url, api_key or None, timeout=timeout)
        self._writer = meilisearch.Client(url, api_key or None, timeout=write_timeout)
        self._index = self._client.index(index_name)
        self._write_index = self._writer.index(index_name)

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
        """Wait for every task; raise when one failed."""
        deadline = time.monotonic() + self.task_timeout
        for uid in task_uids:
            remaining_ms = max(1, int((deadline - time.monotonic()) * 1000))
            task = self._call(
                lambda uid=uid, ms=remaining_ms: self._writer.wait_for_task(
                    uid, timeout_in_ms=ms, interval_in_ms=20
                )
            )
            if task.status != "succeeded":
                raise SearchUnavailable(f"Meilisearch task {uid} {task.status}: {task.error}")

    def close(self) -> None:
        pass

    def healthy(self) -> bool:
        try:
            return bool(self._client.is_healthy())
        except Exception:  # noqa: BLE001 - any failure means "not healthy"
            return False

    # Writes --------------------------------------------------------------------------------

    def setup(self) -> None:
        def ensure() -> list[int]:
            tasks = []
            try:
                self._writer.get_raw_index(self.index_name)
            except MeilisearchApiError as exc:
                if exc.code != "index_not_found":
                    raise
                tasks.append(self._writer.create_index(self.index_name, {"primaryKey": "id"}).task_uid)
            tasks.append(self._write_index.update_settings(SETTINGS).task_uid)
            return tasks

        self._wait(self._call(ensure))

    def _batches(self, docs: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
        batch: list[dict[str, Any]] = []
        size = 0
        for d in docs:
            n = len(json.dumps(d, ensure_ascii=False))
            if batch and (size + n > BATCH_BYTES or len(batch) >= BATCH_DOCS):
                yield batch
                batch, size = [], 0
            batch.append(d)
            size += n
        if batch:
            yield batch

    def upsert(self, docs: list[SearchDocument]) -> None:
        if not docs:
            return
        all_docs: list[dict[str, Any]] = []
        stale: list[str] = []
        for doc in docs:
            parts = meili_documents(doc)
            all_docs.extend(parts)
            # Chunks this version no longer has (a PDF re-extracted with fewer pages).
            stale.append(f"(item_id = {int(doc.item_id)} AND chunk >= {len(parts) - 1})")
        tasks = [self._call(lambda b=b: self._write_index.add_documents(b, primary_key="id").task_uid) for b in self._batches(all_docs)]
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
    def _q(q: SearchQuery) -> str:
        terms, phrases = terms_of(q.terms, q.phrases)
        parts = [" ".join(t.tokens) for t in terms]
        parts += ['"' + " ".join(p.tokens) + '"' for p in phrases]
        for word in q.excluded:
            ex, _ = terms_of([word], [])
            if ex:
                tokens = ex[0].tokens
                parts.append("-" + (tokens[0] if len(tokens) == 1 else '"' + " ".join(tokens) + '"'))
        return " ".join(parts)

    def search(self, query: SearchQuery) -> SearchResults:
        started = time.perf_counter()
        text = self._q(query)
        has_text = query.has_text and bool(text.replace("-", "").strip())
        params: dict[str, Any] = {
            "filter": self._filter(query, text=has_text),
            "limit": query.limit,
            "offset": query.offset,
            "attributesToRetrieve": RETRIEVE,
            "attributesToHighlight": HIGHLIGHT,
            "attributesToCrop": ["text"],
            "cropLength": 80,
            "highlightPreTag": PRE,
            "highlightPostTag": POST,
            "matchingStrategy": "all",
            "locales": LOCALES,
        }
        if query.with_facets:
            params["facets"] = list(FACET_ATTRS.values())
        if query.sort == "saved" or (query.sort == "relevance" and not has_text):
            params["sort"] = ["saved_ts:desc"]
        elif query.sort == "published":
            params["sort"] = ["published_ts:desc", "saved_ts:desc"]
        http_started = time.perf_counter()
        raw = self._call(lambda: self._index.search(text if has_text else "", params))
        self.last_http_ms = (time.perf_counter() - http_started) * 1000
        terms, phrases = terms_of(query.terms, query.phrases)
        seen: dict[tuple[str, str], bool] = {}
        hits = [self._hit(h, terms + phrases, rank, seen) for rank, h in enumerate(raw["hits"])]
        dist = raw.get("facetDistribution") or {}
        facets = {name: dict(dist.get(attr, {})) for name, attr in FACET_ATTRS.items()} if query.with_facets else {}
        return SearchResults(
            hits=hits,
            total=int(raw.get("estimatedTotalHits", raw.get("totalHits", len(hits)))),
            facets=facets,
            took_ms=(time.perf_counter() - started) * 1000,
        )

    @staticmethod
    def _hit(h: dict[str, Any], terms: list, rank: int, seen: dict[tuple[str, str], bool]) -> SearchHit:
        formatted = h.get("_formatted") or {}
        marked = [formatted.get("title") or "", formatted.get("abstract") or "", formatted.get("text") or ""]
        marked += formatted.get("notes") or []
        matched = {
            m.group().replace(PRE, "").replace(POST, "").lower()
            for text in marked
            for m in MARKED_WORD.finditer(text)
        }
        abstract = h.get("abstract_src") or h.get("abstract") or ""
        extra = [w for w in matched if w.isascii()]
        extra += _typo_words(terms, abstract, matched, seen)
        matcher = Matcher(terms, extra_words=extra)

        def plain(value: Any) -> Any:
            if isinstance(value, list):
                return [plain(v) for v in value]
            return (value or "").replace(PRE, "").replace(POST, "")

        head_texts = [abstract]
        head_texts += h.get("notes_src") or plain(formatted.get("notes") or [])
        chunk = None
        if h.get("part") == "c":
            chunk = h.get("text_src") or plain(formatted.get("text"))
        snippet, chunk_won = best_snippet(matcher, head_texts, chunk)
        page = h.get("page") if h.get("part") == "c" and (chunk_won or not matcher) else None
        return SearchHit(
            item_id=int(h["item_id"]),
            title_html=highlight(h.get("show_title") or "", matcher),
            snippet_html=snippet,
            page=page,
            score=-float(rank),
        )
