"""Where a Meilisearch search spends its time: the raw query beside each layer above it (figure 2).

    .venv/bin/python bench/meili_bench.py                       # 10,000 items, 30 queries per class
    .venv/bin/python bench/meili_bench.py --size 2000 --runs 10 --no-endpoint
    .venv/bin/python bench/meili_bench.py --keep /tmp/lib       # build once, then reuse /tmp/lib
    .venv/bin/python bench/meili_bench.py --compare HEAD~3      # also the backend of another commit

Builds a library with bench/data.py in a temporary SQLite database, indexes it into a throwaway
Meilisearch with reindex_all (or reuses the ones --keep left in a directory), then times, query by
query and side by side, each class of bench/search_bench.QUERIES through:

- raw:      one POST /indexes/<i>/search with the same words and filters, limit 20, no facets
            (kept-alive connection: the floor a search through Meilisearch cannot go below);
- client:   the same query through the official client (a new connection per request);
- backend:  MeiliBackend.search in this process, asked as the results fragment asks (count_later:
            the hits, the count and facets left for /search/counts) (http: its time in HTTP round
            trips; cpu: the CPU time of this thread, which a busy machine disturbs less than the
            wall clock);
- ref:      with --compare REF, MeiliBackend.search as app/search/meili.py and text.py were at
            REF (a git revision), interleaved with the current one on the same server: a before
            and after in one run; its answers are checked to be the current ones;
- service:  app.services.search.search_library, count_later as well (the backend plus the items
            from the database);
- endpoint: GET /search?q=... with HX-Request through `lectern serve --no-worker` over a kept-alive
            connection (KeptAlive): the results fragment a user waits on, unless --no-endpoint;
            and floor: GET /search?q= with HX-Request on the same process, the fragment without
            a search (login, session, template), what the web layer costs whatever the engine.

The machine is shared and noisy: read medians and the ratios to raw measured in the same run.
"""

from __future__ import annotations

import argparse
import http.client
import importlib
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote, urlsplit

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.config import Settings  # noqa: E402
from app.db import make_engine, make_session_factory  # noqa: E402
from app.migrate import upgrade_database  # noqa: E402
from app.search.base import SearchQuery  # noqa: E402
from app.search.meili import MeiliBackend  # noqa: E402
from app.search.query import parse_query  # noqa: E402
from app.services.indexing import reindex_all  # noqa: E402
from app.services.search import search_library  # noqa: E402
from bench.data import Corpus, load_library  # noqa: E402
from bench.search_bench import QUERIES, start_meili  # noqa: E402
from tests.e2e.stack import Stack, base_env  # noqa: E402

INDEX = "meili_bench"
RATIOS = ("backend", "ref", "service", "endpoint")
PATHS = ("raw", "client", "backend", "http", "cpu", "ref", "ref cpu", "service", "endpoint", "floor")


def pct(xs: list[float]) -> tuple[float, float]:
    if len(xs) < 2:
        return (xs[0], xs[0]) if xs else (float("nan"), float("nan"))
    return statistics.median(xs), statistics.quantiles(xs, n=20, method="inclusive")[-1]


def cell(xs: list[float]) -> str:
    p50, p95 = pct(xs)
    return f"{p50:.1f}/{p95:.1f}"


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall clock, CPU time of this thread), ms."""
    t, c = time.perf_counter(), time.thread_time()
    fn()
    return (time.perf_counter() - t) * 1000, (time.thread_time() - c) * 1000


def backend_at(ref: str) -> type:
    """MeiliBackend as app/search/meili.py and app/search/text.py were at a git revision."""
    package = Path(tempfile.mkdtemp(prefix="lectern-search-at-")) / "search_at_ref"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name in ("text", "meili"):
        source = subprocess.run(["git", "-C", str(ROOT), "show", f"{ref}:app/search/{name}.py"],
                                capture_output=True, text=True, check=True).stdout
        (package / f"{name}.py").write_text(source.replace("from app.search.text import", "from search_at_ref.text import"))
    sys.path.insert(0, str(package.parent))
    return importlib.import_module("search_at_ref.meili").MeiliBackend


def answers(results) -> tuple:
    return results.total, results.exhaustive, results.facets, [
        (h.item_id, h.title_html, h.snippet_html, h.page) for h in results.hits
    ]


def kept_alive(conn: http.client.HTTPConnection, method: str, path: str, body: bytes | None,
               headers: dict[str, str]) -> tuple[int, bytes]:
    """One request on conn; once more on a new connection if the server had closed the kept-alive
    one (uvicorn and Meilisearch close a connection left idle 5 s), as httpx and browsers do."""
    for attempt in (1, 2):
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            return response.status, response.read()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            conn.close()  # the next request opens a new connection
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


class KeptAlive:
    """GET over one kept-alive http.client connection, with the cookies of a logged-in httpx
    client: the timed path is the server, not the client (httpx spends about 0.5 ms more CPU per
    request than http.client here, and a browser spends neither)."""

    def __init__(self, base_url: str, cookies: httpx.Cookies, headers: dict[str, str]) -> None:
        parts = urlsplit(base_url)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        self.headers = {**headers, "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())}

    def get(self, path: str) -> tuple[int, str]:
        status, body = kept_alive(self.conn, "GET", path, None, self.headers)
        return status, body.decode()

    def close(self) -> None:
        self.conn.close()


class RawSearch:
    """Meilisearch's own search, over one kept-alive connection: q and filters, 20 hits."""

    def __init__(self, url: str, key: str, index: str) -> None:
        parts = urlsplit(url)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        self.path = f"/indexes/{index}/search"
        self.headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
        self.backend = MeiliBackend(url, key, index)  # for its q and filter strings only
        self.index = self.backend._client.index(index)

    def __call__(self, raw: str) -> dict:
        query = parse_query(raw)
        text = self.backend._q(query) if query.has_text else ""
        body = {"q": text, "filter": self.backend._filter(query, text=query.has_text), "limit": 20}
        status, payload = kept_alive(self.conn, "POST", self.path, json.dumps(body, ensure_ascii=False).encode(),
                                     self.headers)
        if status != 200:
            raise SystemExit(f"raw search {raw!r}: {status} {payload[:300]!r}")
        return json.loads(payload)

    def client(self, raw: str) -> object:
        query = parse_query(raw)
        text = self.backend._q(query) if query.has_text else ""
        return self.index.search(text, {"limit": 20, "filter": self.backend._filter(query, text=query.has_text)})


def build(workdir: Path, size: int) -> Settings:
    """The library in workdir/data (SQLite) and its Meilisearch index in workdir/meili; reused when
    both are there already."""
    settings = Settings(data_dir=workdir / "data", secret_key="meili-bench-secret-key-0123456789abcdef")
    done = workdir / "built"
    if done.exists() and int(done.read_text()) == size:
        print(f"reusing the {size}-item library in {workdir}", file=sys.stderr)
        return settings
    shutil.rmtree(workdir / "data", ignore_errors=True)
    shutil.rmtree(workdir / "meili", ignore_errors=True)
    settings.ensure_data_dir()
    engine = make_engine(settings)
    upgrade_database(engine)
    t = time.perf_counter()
    counts = load_library(engine, Corpus.load(), size)
    print(f"library: {counts} in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    (workdir / "meili").mkdir()
    proc, url, key = start_meili(workdir / "meili")
    try:
        backend = MeiliBackend(url, key, INDEX, timeout=30, task_timeout=7200)
        t = time.perf_counter()
        n = reindex_all(make_session_factory(engine), backend,
                        progress=lambda d, total: print(f"\r  indexing {d}/{total}", end="", file=sys.stderr))
        print(f"\n  {n} items indexed in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        backend.close()
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    engine.dispose()
    done.write_text(str(size))
    return settings


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=30, help="queries timed per class")
    ap.add_argument("--no-endpoint", action="store_true", help="skip the `lectern serve` process")
    ap.add_argument("--keep", type=Path, help="build into (or reuse) this directory instead of a temporary one")
    ap.add_argument("--seed", type=int, default=3, help="order of the queries")
    ap.add_argument("--compare", metavar="REF", help="also time the backend as it was at this git revision")
    args = ap.parse_args()

    workdir = args.keep or Path(tempfile.mkdtemp(prefix="lectern-meili-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    stack = proc = None
    try:
        settings = build(workdir, args.size)
        proc, url, key = start_meili(workdir / "meili")
        engine = make_engine(settings)
        factory = make_session_factory(engine)
        backend = MeiliBackend(url, key, INDEX, timeout=30)
        raw = RawSearch(url, key, INDEX)

        def service(q: str) -> None:
            with factory() as session:
                search_library(session, backend, q, count_later=True)

        def later(q: str) -> SearchQuery:
            query = parse_query(q)
            query.count_later = True
            return query

        paths: dict[str, Callable[[str], object]] = {
            "raw": raw,
            "client": raw.client,
            "backend": lambda q: backend.search(later(q)),
            "service": service,
        }
        differ: set[str] = set()
        if args.compare:
            before = backend_at(args.compare)(url, key, INDEX, timeout=30)
            paths["ref"] = lambda q: before.search(later(q))
            for q in {q for qs in QUERIES.values() for q in qs}:
                for sort in ("relevance", "saved"):
                    for offset in (0, 20):
                        query = parse_query(q, sort=sort, offset=offset)
                        if answers(before.search(query)) != answers(backend.search(query)):
                            differ.add(q)
        client = None
        if not args.no_endpoint:
            env = base_env(workdir, "http://127.0.0.1:9", LECTERN_DATA_DIR=str(settings.data_dir),
                           LECTERN_SECRET_KEY=settings.secret_key, LECTERN_LOG_LEVEL="WARNING",
                           LECTERN_SEARCH_BACKEND="meilisearch", LECTERN_MEILI_URL=url, LECTERN_MEILI_KEY=key,
                           LECTERN_MEILI_INDEX=INDEX)
            stack = Stack("meili-bench", env, workdir)
            stack.start_web()
            browser = stack.browser()
            client = browser.__enter__()

            kept = KeptAlive(stack.base_url, client.cookies, {"HX-Request": "true"})

            def endpoint(q: str) -> None:
                status, _ = kept.get(f"/search?q={quote(q)}")
                if status != 200:
                    raise SystemExit(f"GET /search?q={q!r}: {status}")

            paths["endpoint"] = endpoint
            paths["floor"] = lambda q: endpoint("")

        order = [(cls, qs[r % len(qs)]) for cls, qs in QUERIES.items() for r in range(args.runs)]
        for _, q in order[:: max(1, len(order) // 60)]:  # warm up every path
            for fn in paths.values():
                fn(q)
        random.Random(args.seed).shuffle(order)
        times: dict[str, dict[str, list[float]]] = {cls: {p: [] for p in PATHS} for cls in QUERIES}
        hits: dict[str, list[int]] = {cls: [] for cls in QUERIES}
        for i, (cls, q) in enumerate(order):
            for name, fn in list(paths.items())[:: 1 if i % 2 else -1]:
                wall, cpu = timed(lambda fn=fn, q=q: fn(q))
                times[cls][name].append(wall)
                if name == "backend":
                    times[cls]["http"].append(backend.last_http_ms)
                    times[cls]["cpu"].append(cpu)
                elif name == "ref":
                    times[cls]["ref cpu"].append(cpu)
            hits[cls].append(backend.search(parse_query(q)).total)
        if client is not None:
            browser.__exit__(None, None, None)
    finally:
        if stack is not None:
            stack.stop()
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
        if args.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)

    shown = [p for p in PATHS if any(times[c][p] for c in QUERIES)]
    print(f"\nMeilisearch search, p50/p95 ms (N={args.size}, {args.runs} queries per class, interleaved)")
    head = f"{'query class':<16}" + "".join(f"{p:>14}" for p in shown)
    head += "".join(f"{p + '/raw':>13}" for p in shown if p in RATIOS) + f"{'total':>8}"
    print(head)
    print("-" * len(head))
    rows = [(cls, times[cls]) for cls in QUERIES]
    rows.append(("all", {p: [x for c in QUERIES for x in times[c][p]] for p in PATHS}))
    for cls, t in rows:
        line = f"{cls:<16}" + "".join(f"{cell(t[p]):>14}" for p in shown)
        raw95 = pct(t["raw"])[1]
        line += "".join(f"{pct(t[p])[1] / raw95:>13.2f}" for p in shown if p in RATIOS)
        total = int(statistics.median(hits[cls])) if cls in hits else ""
        print(line + f"{total:>8}")
    print("http: the backend's time in HTTP round trips; cpu: its CPU time; floor: GET /search?q= (no search);")
    print("x/raw: p95 of the path over the raw p95; total: the backend's total for the class (median)")
    if args.compare:
        print(f"ref: the backend at {args.compare}; its answers (hits, highlights, totals, facets) "
              + (f"DIFFER for {sorted(differ)}" if differ else "are the current ones for every query"))

if __name__ == "__main__":
    main()
