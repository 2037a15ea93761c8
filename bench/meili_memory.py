"""How long one item's update takes Meilisearch, per --max-indexing-memory (docker-compose.yml's
MEILI_MAX_INDEXING_MEMORY), side by side on the same index.

    .venv/bin/python bench/meili_memory.py                               # 10,000 items, built here
    .venv/bin/python bench/meili_memory.py --library /tmp/lectern-bench-XXXX   # a bench/run --keep library
    .venv/bin/python bench/meili_memory.py --memory default,1GiB,256MiB --rounds 8

Meilisearch's default indexing memory is two thirds of the machine's RAM, and every indexing batch
sets up buffers in proportion (842 MB on a 24 GB machine, in its debug log). Saving a paper is
such a batch: the time from a save to the paper being searchable (bench/run figure 5) waits on it.

One Meilisearch data directory is restarted with each setting in turn, ``--rounds`` times in
alternating order; each start times ``--updates`` updates of papers with 8 pages or more and as
many of one-document items (a tweet or a post), each a MeiliBackend.upsert that returns once
Meilisearch has applied it (the addition and the deletion of stale pages: two tasks), after one
untimed update. The first setting is the reference of the ratio column. Titles are put back at
the end. Without --library the library is built here (bench/data.py) and indexed with the
first setting (its throughput is printed); with it, the library is used as it is.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from app.config import Settings  # noqa: E402
from app.db import make_engine, make_session_factory  # noqa: E402
from app.migrate import upgrade_database  # noqa: E402
from app.models import FilePage, Item  # noqa: E402
from app.repo import items as items_repo  # noqa: E402
from app.search.base import SearchDocument  # noqa: E402
from app.search.meili import MeiliBackend  # noqa: E402
from app.services.indexing import build_document, reindex_all  # noqa: E402
from bench.data import Corpus, load_library  # noqa: E402
from bench.search_bench import start_meili  # noqa: E402


def pct(xs: list[float]) -> tuple[float, float, float]:
    return statistics.median(xs), statistics.quantiles(xs, n=20, method="inclusive")[-1], max(xs)


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def pick_items(factory, n: int) -> tuple[list[int], list[int]]:
    """n papers with 8 pages or more, and n items without a file."""
    with factory() as session:
        pages = func.count(FilePage.page_no)
        papers = list(session.scalars(
            select(Item.id).join(FilePage, FilePage.file_id == Item.file_id)
            .group_by(Item.id).having(pages >= 8).order_by(Item.id).limit(n)
        ))
        small = list(session.scalars(
            select(Item.id).where(Item.file_id.is_(None), Item.kind.in_(["tweet", "post"])).order_by(Item.id).limit(n)
        ))
    if len(papers) < n or len(small) < n:
        raise SystemExit(f"the library has {len(papers)} papers of 8+ pages and {len(small)} small items; {n} of each needed")
    return papers, small


def documents(factory, ids: list[int]) -> dict[int, SearchDocument]:
    with factory() as session:
        items = items_repo.get_items_by_ids(session, ids)
        return {i: build_document(session, items[i]) for i in ids}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=10_000, help="items, when the library is built here")
    ap.add_argument("--library", type=Path, help="a bench/run --keep working directory (embedded/ and meili/)")
    ap.add_argument("--memory", default="default,1GiB", help="settings, comma-separated ('default': none given)")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--updates", type=int, default=10, help="papers (and as many small items) per start")
    args = ap.parse_args()
    memories = args.memory.split(",")
    flag = lambda m: None if m == "default" else m  # noqa: E731

    tmp = None
    if args.library:
        settings = Settings(data_dir=args.library / "embedded")
        meili_dir = args.library / "meili"
    else:
        tmp = Path(tempfile.mkdtemp(prefix="lectern-meili-memory-"))
        settings = Settings(data_dir=tmp / "data")
        meili_dir = tmp / "meili"
        meili_dir.mkdir()
    try:
        engine = make_engine(settings)
        factory = make_session_factory(engine)
        index = None
        if tmp is not None:
            settings.ensure_data_dir()
            upgrade_database(engine)
            load_library(engine, Corpus.load(), args.size)
            index = "memory_bench"
            proc, url, key = start_meili(meili_dir, indexing_memory=flag(memories[0]))
            backend = MeiliBackend(url, key, index, timeout=30, task_timeout=7200)
            t = time.perf_counter()
            done = reindex_all(factory, backend)
            seconds = time.perf_counter() - t
            print(f"indexed {done} items with {memories[0]} in {seconds:.1f} s: {done / seconds:.0f} items/s",
                  file=sys.stderr)
            backend.close()
            proc.terminate()
            proc.wait(timeout=60)

        per_start = args.updates + 1
        papers, small = pick_items(factory, per_start * args.rounds * len(memories))
        originals = documents(factory, papers + small)
        times: dict[str, dict[str, list[float]]] = {m: {"paper": [], "small": []} for m in memories}
        rss: dict[str, float] = dict.fromkeys(memories, 0.0)
        k = 0
        for r in range(args.rounds):
            for m in memories if r % 2 == 0 else memories[::-1]:
                proc, url, key = start_meili(meili_dir, indexing_memory=flag(m))
                try:
                    if index is None:
                        got = httpx.get(f"{url}/indexes", headers={"Authorization": f"Bearer {key}"}).json()
                        index = next(i["uid"] for i in got["results"] if i["uid"].startswith("bench_"))
                    backend = MeiliBackend(url, key, index, timeout=30, task_timeout=600)
                    for u in range(per_start):
                        for kind, ids in (("paper", papers), ("small", small)):
                            doc = originals[ids[k]]
                            t = time.perf_counter()
                            backend.upsert([replace(doc, title=f"{doc.title} (update {k})")])
                            if u:  # the first one after a start is not timed
                                times[m][kind].append((time.perf_counter() - t) * 1000)
                        k += 1
                    backend.close()
                    rss[m] = max(rss[m], peak_rss_mb(proc.pid))
                finally:
                    proc.terminate()
                    proc.wait(timeout=60)
            print(f"  round {r + 1}/{args.rounds}", file=sys.stderr)

        proc, url, key = start_meili(meili_dir, indexing_memory=flag(memories[0]))
        try:
            backend = MeiliBackend(url, key, index, timeout=30, task_timeout=600)
            backend.upsert(list(originals.values()))
            backend.close()
        finally:
            proc.terminate()
            proc.wait(timeout=60)

        with factory() as session:
            count = session.scalar(select(func.count(Item.id)))
        print(f"\nMeilisearch one-item updates at {count} items, ms (p50 / p95 / max), "
              f"{args.rounds} alternating starts of {args.updates} per setting")
        print(f"{'indexing memory':<16} {'paper (8+ pages)':>22} {'ratio':>6} {'tweet or post':>22} {'ratio':>6} {'peak RSS MB':>12}")
        ref = {kind: pct(times[memories[0]][kind])[1] for kind in ("paper", "small")}
        for m in memories:
            cells = []
            for kind in ("paper", "small"):
                p50, p95, top = pct(times[m][kind])
                cells += [f"{p50:7.0f} / {p95:5.0f} / {top:5.0f}", f"{p95 / ref[kind]:6.2f}"]
            print(f"{m:<16} {cells[0]:>22} {cells[1]} {cells[2]:>22} {cells[3]} {rss[m]:12.0f}")
        engine.dispose()
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
