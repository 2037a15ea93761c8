"""Search benchmark: both backends, the same N documents, the same queries; prints one table.

    .venv/bin/python bench/search_bench.py 10000
    .venv/bin/python bench/search_bench.py 100000 --max-pages 12 --backends embedded

Documents: the ICLR digest summaries (bilingual abstracts, keywords as tags), each given the text
of a real PDF from ../shared/pdfs (first --max-pages pages) as its pages. A Meilisearch server is
started from node_modules unless --meili-url is given.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pymupdf

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.search.base import SearchBackend, SearchDocument  # noqa: E402
from app.search.embedded import EmbeddedBackend  # noqa: E402
from app.search.meili import MeiliBackend  # noqa: E402
from app.search.query import parse_query  # noqa: E402
from tests.fixtures.meili import INDEXING_MEMORY  # noqa: E402
from tests.search.samples import SHARED, load_iclr  # noqa: E402

MEILI_BINARY = ROOT / "node_modules" / "@gaubee" / "meilisearch-linux-amd64" / "meilisearch"

QUERIES: dict[str, list[str]] = {
    "english word": ["alignment", "verifier", "trajectory", "distillation", "curriculum", "consensus"],
    "prefix": ["reinforc", "distil", "trajec", "halluc", "optimiz", "paxo"],
    "typo": ["difusion", "alignmnet", "reasonnig", "trajectroy", "halucination", "consensos"],
    "multi-word": ["reward model training", "chain of thought", "safety alignment fine-tuning",
                   "leader election protocol", "policy gradient variance"],
    "chinese 2-char": ["扩散", "推理", "对齐", "奖励", "蒸馏"],
    "chinese long": ["强化学习", "大语言模型", "思维链推理", "偏好优化"],
    "filter only": ["kind:paper", "tag:reasoning", "is:starred", "has:pdf year:2024", "tag:ml is:unread"],
    "common 'model'": ["model"],
}


def pdf_pages(max_pages: int) -> list[list[str]]:
    out = []
    for pdf in sorted((SHARED / "pdfs").glob("*.pdf")):
        with pymupdf.open(pdf) as d:
            pages = [p.get_text() for p in d][:max_pages]
        if sum(len(p) for p in pages) > 1000:  # skip the scanned one
            out.append(pages)
    return out


def build_documents(n: int, max_pages: int, seed: int = 7) -> list[SearchDocument]:
    rng = random.Random(seed)
    summaries = load_iclr()
    pdfs = pdf_pages(max_pages)
    base = datetime(2020, 1, 1, tzinfo=UTC)
    docs = []
    for i in range(n):
        s = summaries[i % len(summaries)]
        kind = rng.choices(["paper", "post", "tweet"], [8, 1, 1])[0]
        pages = pdfs[i % len(pdfs)] if kind == "paper" and rng.random() < 0.9 else []
        docs.append(
            SearchDocument(
                item_id=i + 1,
                kind=kind,
                title=f"{s.title} ({i})",
                authors=[f"Author{rng.randrange(2000)} Surname{rng.randrange(500)}"],
                abstract=s.chinese + "\n" + s.abstract if kind != "tweet" else "",
                body=s.tldr or s.abstract[:280] if kind != "paper" else "",
                tags=[f"ml/{k.lower()}" for k in s.keywords[:3]] + [s.category],
                notes=[f"note {i}: see $\\nabla \\log p_t$"] if rng.random() < 0.1 else [],
                pages=pages,
                read_state=rng.choice(["unread", "unread", "reading", "read"]),
                starred=rng.random() < 0.1,
                year=rng.randrange(2019, 2027),
                has_pdf=bool(pages),
                saved_at=base + timedelta(minutes=37 * i),
                published_at=base + timedelta(days=rng.randrange(2000)),
            )
        )
    return docs


def start_meili(
    workdir: Path, *, nice: int = 0, indexing_memory: str | None = INDEXING_MEMORY
) -> tuple[subprocess.Popen, str, str]:
    """A Meilisearch on loopback with its data in ``workdir`` (kept there: a second start reuses
    it), at CPU priority ``nice`` (0: as this process), with ``--max-indexing-memory`` as in
    docker-compose.yml (None: Meilisearch's default)."""
    port = 7700 + random.randrange(1000, 2000)
    key = "bench-master-key-0123456789"
    memory = ["--max-indexing-memory", indexing_memory] if indexing_memory else []
    proc = subprocess.Popen(
        [str(MEILI_BINARY), "--db-path", str(workdir / "data.ms"), "--http-addr", f"127.0.0.1:{port}",
         "--master-key", key, "--no-analytics", "--env", "development", *memory],
        cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        preexec_fn=(lambda: os.nice(nice)) if nice else None,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(f"{url}/health", timeout=0.5).status_code == 200:
                return proc, url, key
        except httpx.HTTPError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("Meilisearch did not start")


def index(backend: SearchBackend, docs: list[SearchDocument], batch: int) -> float:
    started = time.perf_counter()
    for i in range(0, len(docs), batch):
        backend.upsert(docs[i : i + batch])
        print(f"\r  {backend.name}: {min(i + batch, len(docs))}/{len(docs)}", end="", file=sys.stderr)
    if isinstance(backend, EmbeddedBackend):
        backend.optimize()
    print(file=sys.stderr)
    return time.perf_counter() - started


def measure(backend: SearchBackend, runs: int) -> dict[str, tuple[float, float, float | None, int]]:
    out = {}
    for cls, queries in QUERIES.items():
        times, http, totals = [], [], []
        for q in queries:  # warm up
            backend.search(parse_query(q))
        for r in range(runs):
            q = parse_query(queries[r % len(queries)])
            t = time.perf_counter()
            res = backend.search(q)
            times.append((time.perf_counter() - t) * 1000)
            totals.append(res.total)
            if isinstance(backend, MeiliBackend):
                http.append(backend.last_http_ms)
        p95 = statistics.quantiles(times, n=20)[-1]
        http95 = statistics.quantiles(http, n=20)[-1] if http else None
        out[cls] = (statistics.median(times), p95, http95, int(statistics.median(totals)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("n", type=int, nargs="?", default=10000)
    ap.add_argument("--max-pages", type=int, default=14, help="pages of PDF text per paper")
    ap.add_argument("--backends", default="embedded,meilisearch")
    ap.add_argument("--meili-url", default="")
    ap.add_argument("--meili-key", default="")
    ap.add_argument("--runs", type=int, default=60, help="queries timed per class")
    ap.add_argument("--batch", type=int, default=500)
    args = ap.parse_args()

    docs = build_documents(args.n, args.max_pages)
    text_mb = sum(len(d.abstract) + len(d.body) + sum(len(p) for p in d.pages) for d in docs) / 1e6
    print(f"{args.n} documents, {text_mb:.0f} MB of text "
          f"({sum(len(d.pages) for d in docs)} PDF pages)", file=sys.stderr)

    workdir = Path(tempfile.mkdtemp(prefix="lectern-bench-"))
    proc = None
    results: dict[str, dict] = {}
    indexing: dict[str, float] = {}
    try:
        for name in args.backends.split(","):
            if name == "embedded":
                backend: SearchBackend = EmbeddedBackend(workdir / "search.db")
            else:
                url, key = args.meili_url, args.meili_key
                if not url:
                    proc, url, key = start_meili(workdir)
                backend = MeiliBackend(url, key, f"bench_{args.n}", timeout=10.0, task_timeout=7200)
            backend.setup()
            backend.clear()
            indexing[name] = index(backend, docs, args.batch)
            results[name] = measure(backend, args.runs)
            backend.close()
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)

    names = list(results)
    print(f"\nSearch latency, ms (N={args.n}, {text_mb:.0f} MB text, {args.runs} queries per class)")
    header = f"{'query class':<18}" + "".join(f"{n + ' p50':>16}{n + ' p95':>16}" for n in names)
    if "meilisearch" in names:
        header += f"{'meili HTTP p95':>16}"
    print(header + f"{'hits':>10}")
    for cls in QUERIES:
        row = f"{cls:<18}"
        for n in names:
            p50, p95, _, _ = results[n][cls]
            row += f"{p50:>16.1f}{p95:>16.1f}"
        if "meilisearch" in names:
            row += f"{results['meilisearch'][cls][2]:>16.1f}"
        print(row + f"{results[names[0]][cls][3]:>10}")
    print("\nIndexing")
    for n in names:
        print(f"{n:<14}{indexing[n]:>9.1f} s {args.n / indexing[n]:>9.0f} docs/s {text_mb / indexing[n]:>7.1f} MB/s")


if __name__ == "__main__":
    main()
