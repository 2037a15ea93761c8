"""Meilisearch's own memory (RssAnon) while it indexes a library, with LMDB's default writes and
with MEILI_EXPERIMENTAL_REDUCE_INDEXING_MEMORY_USAGE (LMDB's MDB_WRITEMAP), side by side.

    .venv/bin/python bench/meili_rss.py                   # 10,000 items (about 2 minutes)
    .venv/bin/python bench/meili_rss.py --size 100000     # about 16 minutes, 25 GB of disk

Each setting runs in a process of its own, both at once: a library of --size items (bench/data.py)
in a temporary SQLite database, a throwaway Meilisearch started as bench/run starts it (1 GiB of
indexing memory, as docker-compose.yml), `reindex_all` into it, then 3 rounds of
bench/search_bench's queries. /proc/<pid>/status is read every 0.2 s: RssAnon is the memory
Meilisearch has of its own; RssFile, the pages of its index file it has mapped, which the kernel
can drop. Prints, per setting, the indexing time and RssAnon at its peak, when the indexing ended
and after the searches, with the peak RSS (VmHWM).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SETTINGS = {"default": {}, "writemap": {"MEILI_EXPERIMENTAL_REDUCE_INDEXING_MEMORY_USAGE": "true"}}


def memory_mb(pid: int) -> dict[str, float]:
    """RssAnon, RssFile and VmHWM of a process, MB (0 once it is gone)."""
    from bench.run import status_kb

    names = ("RssAnon", "RssFile", "VmHWM")
    return {name: kb / 1024 for name, kb in zip(names, status_kb(pid, *names), strict=True)}


def one(size: int) -> dict[str, float]:
    """Index a fresh library into a fresh Meilisearch (its environment says which setting) and
    watch its memory."""
    from app.config import Settings
    from app.db import make_engine, make_session_factory
    from app.migrate import upgrade_database
    from app.search.meili import MeiliBackend
    from app.search.query import parse_query
    from app.services.indexing import reindex_all
    from bench.data import Corpus, load_library
    from bench.search_bench import QUERIES, start_meili

    work = Path(tempfile.mkdtemp(prefix="lectern-meili-rss-"))
    proc = None
    try:
        settings = Settings(data_dir=work / "data", secret_key="meili-rss-bench-secret-key-0123456789")
        settings.ensure_data_dir()
        engine = make_engine(settings)
        upgrade_database(engine)
        load_library(engine, Corpus.load(), size)
        (work / "meili").mkdir()
        proc, url, key = start_meili(work / "meili")
        peak = {"RssAnon": 0.0, "VmHWM": 0.0}
        stop = threading.Event()

        def watch() -> None:
            while not stop.wait(0.2):
                now = memory_mb(proc.pid)
                for name in peak:
                    peak[name] = max(peak[name], now[name])

        threading.Thread(target=watch, daemon=True).start()
        backend = MeiliBackend(url, key, "rss", timeout=30, task_timeout=7200)
        started = time.perf_counter()
        reindex_all(make_session_factory(engine), backend)
        seconds = time.perf_counter() - started
        after_indexing = memory_mb(proc.pid)
        for _ in range(3):
            for queries in QUERIES.values():
                for q in queries:
                    backend.search(parse_query(q))
        after_searches = memory_mb(proc.pid)
        stop.set()
        backend.close()
        engine.dispose()
        return {"seconds": seconds, "anon_peak": peak["RssAnon"], "anon_indexed": after_indexing["RssAnon"],
                "anon_searched": after_searches["RssAnon"], "file_searched": after_searches["RssFile"],
                "hwm": max(peak["VmHWM"], after_searches["VmHWM"])}
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=60)
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=10_000, help="items in the library (default 10000)")
    ap.add_argument("--one", choices=list(SETTINGS), help=argparse.SUPPRESS)  # a child: one setting
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.size)))
        return 0
    children = {
        name: subprocess.Popen([sys.executable, __file__, "--size", str(args.size), "--one", name],
                               env={**os.environ, **extra}, stdout=subprocess.PIPE, text=True)
        for name, extra in SETTINGS.items()
    }
    results = {}
    for name, child in children.items():
        out, _ = child.communicate()
        if child.returncode != 0:
            raise SystemExit(f"{name}: exit {child.returncode}")
        results[name] = json.loads(out.strip().splitlines()[-1])
    print(f"\nMeilisearch memory while indexing {args.size} items (both settings at once), MB")
    head = f"{'setting':<10}{'index s':>9}{'anon peak':>11}{'indexed':>9}{'searched':>10}{'file':>8}{'peak RSS':>10}"
    print(head + "\n" + "-" * len(head))
    for name, r in results.items():
        print(f"{name:<10}{r['seconds']:>9.0f}{r['anon_peak']:>11.0f}{r['anon_indexed']:>9.0f}"
              f"{r['anon_searched']:>10.0f}{r['file_searched']:>8.0f}{r['hwm']:>10.0f}")
    print("anon: RssAnon (at its peak, when the indexing ended, after the searches); file: RssFile after "
          "the searches; writemap: MEILI_EXPERIMENTAL_REDUCE_INDEXING_MEMORY_USAGE=true")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
