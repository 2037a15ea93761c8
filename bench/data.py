"""Benchmark libraries: N items built from ../shared/samples, inserted in bulk, then indexed.

    from bench.data import Corpus, load_library
    corpus = Corpus.load()
    load_library(settings, corpus, 10_000)          # SQLite or PostgreSQL, per settings

Items: ICLR digest summaries (bilingual abstract, keywords as tags) as papers, tweets from the X
timeline, blog posts from the blog index. Bodies of posts are slices of the text of
../shared/pdfs (a few thousand characters, as a blog post is); about 10% of the items are papers
with a PDF whose pages are the real extracted pages of one of the shared PDFs (first 20 pages).
A few tags per item (a/b nested ones included), a note on a fifth of the items, and every 50th
item carries a thread five replies deep. Ids are given explicitly and the same seed gives the same
library on every database, so one search index can serve a SQLite and a PostgreSQL copy.
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pymupdf
from sqlalchemy import Engine, insert, text

from app.models import Item
from app.models.file import File, FilePage
from app.models.note import Note
from app.models.tag import Tag, item_tags

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
BASE_TIME = datetime(2023, 1, 1, tzinfo=UTC)
PDF_PAGES = 20
BATCH = 2000
NOTE_TEXTS = [
    "Key idea: the score $\\nabla \\log p_t(x)$ is learned by denoising; compare with the ODE view.",
    "Re-read section 3. The ablation on reward model size is the interesting part.",
    "这篇论文的核心是偏好优化，实验部分值得再看一遍。",
    "Follow-up: does this hold for multi-step reasoning? See the appendix table.",
    "TODO: reproduce the main figure with our own checkpoint.",
]


@dataclass(slots=True)
class Tweet:
    text: str


@dataclass(slots=True)
class Post:
    title: str
    summary: str


@dataclass(slots=True)
class Corpus:
    summaries: list  # tests.search.samples.Summary
    tweets: list[Tweet]
    posts: list[Post]
    pdfs: list[list[str]]  # page texts of each shared PDF that has a text layer
    prose: str  # all PDF text joined, for post bodies

    @classmethod
    def load(cls) -> Corpus:
        from tests.search.samples import load_iclr

        pdfs = []
        for path in sorted((SHARED / "pdfs").glob("*.pdf")):
            with pymupdf.open(path) as doc:
                pages = [p.get_text().replace("\x00", "") for p in doc][:PDF_PAGES]
            if sum(len(p) for p in pages) > 2000:  # the scanned one has no text layer
                pdfs.append(pages)
        prose = re.sub(r"\s+", " ", " ".join(p for pages in pdfs for p in pages))
        return cls(load_iclr(), load_tweets(), load_posts(), pdfs, prose)


def load_tweets(path: Path = SHARED / "samples" / "x-profile-timeline.txt") -> list[Tweet]:
    noise = re.compile(r"^(English|.* retweetledi|\d+ posts|@\w+)$")
    out = []
    for block in re.split(r"\n\s*\n", path.read_text(encoding="utf-8")):
        lines = [ln for ln in block.splitlines() if ln.strip() and not noise.match(ln.strip())]
        body = "\n".join(lines).strip()
        if len(body) >= 60:
            out.append(Tweet(body))
    return out


def load_posts(path: Path = SHARED / "samples" / "blog-index-page3.txt") -> list[Post]:
    lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()]
    lines = [ln for ln in lines if len(ln) > 25 and not ln.startswith(("Page ", "Showing", "116 posts"))]
    return [Post(lines[i], lines[i + 1]) for i in range(0, len(lines) - 1, 2)]


def _tags_for(rng: random.Random, keywords: list[str], category: str) -> list[str]:
    tags = [k.lower()[:60] for k in keywords[: rng.randint(1, 3)]]
    if category:
        tags.append(f"iclr/{category.lower()[:50]}")
    if rng.random() < 0.3:
        tags.append(rng.choice(["to-read", "reading-group", "ml/diffusion", "ml/rl", "systems"]))
    return list(dict.fromkeys(t for t in tags if t.strip()))


def _rows(corpus: Corpus, n: int, seed: int):
    """(items, files, pages, notes, tag links) rows for n items."""
    rng = random.Random(seed)
    items, files, pages, notes, links = [], [], [], [], []
    note_id = 0
    for i in range(1, n + 1):
        s = corpus.summaries[i % len(corpus.summaries)]
        roll = rng.random()
        kind = "paper" if roll < 0.55 else "post" if roll < 0.8 else "tweet"
        saved = BASE_TIME + timedelta(minutes=7 * i)
        published = date(2019, 1, 1) + timedelta(days=rng.randrange(2500))
        row = dict(
            id=i, kind=kind, authors=[], abstract="", text="", site="", extra={}, captured=None,
            published_at=published, saved_at=saved, updated_at=saved, status="ready", error="",
            attempts=1, read_state=rng.choice(["unread", "unread", "reading", "read"]),
            read_at=None, starred=rng.random() < 0.1, trashed_at=None, arxiv_id=None, doi=None,
            file_id=None, lease_owner=None, lease_until=None, enqueued_at=None,
        )
        if kind == "paper":
            row.update(
                title=f"{s.title} [{i}]",
                authors=[f"Author{rng.randrange(3000)} Surname{rng.randrange(800)}" for _ in range(rng.randint(1, 4))],
                abstract=s.chinese + "\n\n" + s.abstract,
                url=f"https://openreview.net/forum?id=bench{i}", site="openreview.net",
            )
            tags = _tags_for(rng, s.keywords, s.category)
            if rng.random() < 0.18:  # 0.55 * 0.18 = ~10% of all items have a PDF
                pdf = corpus.pdfs[i % len(corpus.pdfs)]
                sha = hashlib.sha256(f"bench-pdf-{i}".encode()).hexdigest()
                files.append(dict(id=i, sha256=sha, mime="application/pdf", size=200_000 + len(pdf) * 30_000,
                                  page_count=len(pdf), has_text_layer=True, original_name=f"{i}.pdf",
                                  created_at=saved))
                pages += [dict(file_id=i, page_no=p + 1, text=t) for p, t in enumerate(pdf)]
                row["file_id"] = i
        elif kind == "post":
            post = corpus.posts[i % len(corpus.posts)]
            start = rng.randrange(max(1, len(corpus.prose) - 12_000))
            body = corpus.prose[start : start + rng.randint(2_000, 9_000)]
            row.update(title=f"{post.title} ({i})", abstract=post.summary, text=post.summary + "\n\n" + body,
                       url=f"https://blog.example.org/posts/{i}", site="blog.example.org")
            tags = _tags_for(rng, s.keywords[:2], "")
        else:
            tweet = corpus.tweets[i % len(corpus.tweets)]
            row.update(title=tweet.text.splitlines()[0][:120], text=tweet.text,
                       url=f"https://x.com/someone/status/{10**17 + i}", site="x.com",
                       authors=[rng.choice(["Shigui Li", "Zhipeng Huang", "teortaxes"])])
            tags = _tags_for(rng, s.keywords[:1], "")
        row["canonical_url"] = row["url"]
        items.append(row)
        links.append((i, tags))
        if rng.random() < 0.2:
            depth = 5 if i % 50 == 0 else rng.choice([1, 1, 1, 2])
            parent = None
            for d in range(depth):
                note_id += 1
                notes.append(dict(id=note_id, item_id=i, parent_id=parent, body=rng.choice(NOTE_TEXTS) + f" (#{d})",
                                  created_at=saved + timedelta(hours=d + 1), edited_at=None, deleted_at=None))
                parent = note_id
    return items, files, pages, notes, links


def load_library(engine: Engine, corpus: Corpus, n: int, *, seed: int = 11) -> dict[str, int]:
    """Insert n items (and their files, pages, tags, notes) in bulk; the schema must exist and the
    library be empty. Returns counts."""
    items, files, pages, notes, links = _rows(corpus, n, seed)
    tag_ids: dict[str, int] = {}
    tag_rows, link_rows = [], []
    for item_id, tags in links:
        for name in tags:
            key = name.lower()
            if key not in tag_ids:
                tag_ids[key] = len(tag_ids) + 1
                tag_rows.append(dict(id=tag_ids[key], name=name, name_key=key))
            link_rows.append(dict(item_id=item_id, tag_id=tag_ids[key]))
    link_rows = list({(r["item_id"], r["tag_id"]): r for r in link_rows}.values())
    with engine.begin() as conn:
        for table, rows in ((File.__table__, files), (FilePage.__table__, pages), (Item.__table__, items),
                            (Tag.__table__, tag_rows), (item_tags, link_rows), (Note.__table__, notes)):
            for start in range(0, len(rows), BATCH):
                conn.execute(insert(table), rows[start : start + BATCH])
        if conn.dialect.name == "postgresql":  # explicit ids: move the sequences past them
            for table in ("items", "files", "tags", "notes"):
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                  f"(SELECT coalesce(max(id), 1) FROM {table}))"))
    return {"items": len(items), "pdfs": len(files), "pdf_pages": len(pages), "notes": len(notes),
            "tags": len(tag_rows), "tag_links": len(link_rows)}


def common_tag(corpus: Corpus) -> str:
    """A tag many items carry (for the library page's tag filter)."""
    from collections import Counter

    counts = Counter(k.lower()[:60] for s in corpus.summaries for k in s.keywords[:1])
    return counts.most_common(1)[0][0]


def serve_stand_ins(web, corpus: Corpus, posts: int) -> list[str]:
    """Blog posts /blog/0 .. /blog/<posts-1> on the local stand-in web (tests.fixtures.fakeweb),
    titles from the blog index and bodies from the PDFs' prose; returns 20 real page texts for
    the arXiv stand-in papers the benchmarks save."""
    for i in range(posts):
        post = corpus.posts[i % len(corpus.posts)]
        body = corpus.prose[i * 3000 : i * 3000 + 6000]
        web.add(f"/blog/{i}", f"<!DOCTYPE html><html><head><title>{post.title}</title></head>"
                              f"<body><article><h1>{post.title}</h1><p>{body}</p></article></body></html>")
    pages = [p for pdf in corpus.pdfs for p in pdf]
    return [pages[i % len(pages)] for i in range(20)]


# The e2e tests' environment tunes the worker to show failures quickly: a sweep every second, a
# job lease of 4 s, the broker polled every 0.1 s. A benchmark measures Lectern as it runs out of
# the box, so those three are dropped and the settings' defaults apply (15 s, 60 s, 0.2 s). With
# the test tuning, figure 8's save under load was p95 14.4 ms (2.29x idle; medians of 3 rounds of
# bench/load_ab at 100k items), with the defaults 12.3 ms (1.73x).
TEST_TUNING = ("LECTERN_SWEEP_INTERVAL", "LECTERN_JOB_LEASE_SECONDS", "LECTERN_BROKER_POLLING_INTERVAL")


def stack_env(workdir: Path, stand_in_url: str, **extra: str) -> dict[str, str]:
    """The environment of a benchmarked web or worker process: the e2e stack's (stand-in URLs,
    password, allowed hosts) with the worker's settings left at their defaults, plus ``extra``."""
    from tests.e2e.stack import base_env

    env = base_env(workdir, stand_in_url)
    for key in TEST_TUNING:
        env.pop(key, None)
    env.update(extra)
    return env
