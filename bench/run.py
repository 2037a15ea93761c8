"""Lectern's benchmark: every path a user waits on, beside its limit measured in the same run.

    bench/run                       # 10,000 items, embedded stack (+ Meilisearch search backend)
    bench/run --size 100000
    bench/run --quick               # 1-2 minute smoke run (1,000 items, few repetitions)
    bench/run --stack production    # also PostgreSQL + Redis + Meilisearch at 127.0.0.1
    bench/run --size 100000 --stack all --keep    # then, to measure new code on that library:
    bench/run --library /tmp/lectern-bench-XXXX --stack all

Builds a library (bench/data.py), indexes it into both search backends (timed: figure 6), starts
`lectern serve --no-worker` (embedded search, and a second one on the same database with the
Meilisearch backend), `lectern worker`, a throwaway Meilisearch and a local stand-in for arXiv
and blogs, all on loopback; then measures and prints one table (bench/out/results.json too).
The machine is shared and noisy: read the medians and the ratios to the limit, not one time.
"""

from __future__ import annotations

import argparse
import html
import json
import multiprocessing
import os
import random
import re
import shutil
import sqlite3
import statistics
import string
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import quote

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pymupdf  # noqa: E402
from sqlalchemy import event, text  # noqa: E402

from app.config import Settings  # noqa: E402
from app.db import make_engine, make_session_factory  # noqa: E402
from app.migrate import upgrade_database  # noqa: E402
from app.search.embedded import EmbeddedBackend  # noqa: E402
from app.search.meili import MeiliBackend  # noqa: E402
from app.search.query import parse_query  # noqa: E402
from app.search.text import terms_of  # noqa: E402
from app.services.indexing import reindex_all  # noqa: E402
from bench.data import Corpus, common_tag, load_library, serve_stand_ins, stack_env  # noqa: E402
from bench.import_bench import make_bib  # noqa: E402
from bench.meili_bench import KeptAlive, RawSearch  # noqa: E402
from bench.search_bench import QUERIES, start_meili  # noqa: E402
from tests.e2e.stack import Stack, production_env  # noqa: E402
from tests.fixtures.app import TEST_PASSWORD, csrf_of  # noqa: E402
from tests.fixtures.fakeweb import FakeWeb, make_test_pdf  # noqa: E402
from tests.fixtures.services import PG_URL, port_open  # noqa: E402
from tests.fixtures.sql import slow_statements  # noqa: E402

OUT = ROOT / "bench" / "out"
# Figure 8's people: four type searches (the search box sends at most one request per 200 ms),
# four save a link a second. bench/save_bench.py paces its saves from these too.
SEARCHERS, SEARCH_EVERY = 4, 0.2
SAVERS, SAVE_EVERY = 4, 1.0
# pattern_alone's roles: the _clients argument that sets their number, that number, the row's words.
PATTERNS = {"search": ("searchers", SEARCHERS, f"the {SEARCHERS} searchers alone"),
            "save": ("savers", SAVERS, f"the {SAVERS} savers alone"),
            "ping": ("pingers", SEARCHERS, f"{SEARCHERS} clients at the searchers' pace")}
# Meilisearch runs at this nice level, as docker-compose.yml gives it (and the worker) a quarter
# of the CPU shares of the web process: indexing must not take the cores a save is waiting for.
MEILI_NICE = int(os.environ.get("LECTERN_BENCH_MEILI_NICE", "10"))
# The count and facets a results fragment leaves to load after it (Meilisearch backend).
COUNTS_URL = re.compile(r'hx-get="(/search/counts\?[^"]+)"')
# The embedded stack logs its slow statements (LECTERN_SLOW_SQL_MS, app.db.log_slow_statements);
# figure 8 says how many the web process logged while it was under load, and how long they waited.
SLOW_SQL_MS = 5
REDIS_BENCH_URL = os.environ.get("LECTERN_BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")


# Measuring ------------------------------------------------------------------------------------


def pct(xs: list[float]) -> tuple[float, float]:
    if not xs:
        return float("nan"), float("nan")
    if len(xs) == 1:
        return xs[0], xs[0]
    return statistics.median(xs), statistics.quantiles(xs, n=20, method="inclusive")[-1]


def ms(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return (time.perf_counter() - t) * 1000


@dataclass
class Row:
    figure: str
    what: str
    unit: str = "ms"
    p50: float | None = None
    p95: float | None = None
    limit: str = ""
    limit_p50: float | None = None
    limit_p95: float | None = None
    target: str = ""
    ok: bool | None = None
    note: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.unit == "ms" and self.p95 is not None and self.limit_p95:
            return self.p95 / self.limit_p95
        if self.unit != "ms" and self.p50 is not None and self.limit_p50:
            return self.p50 / self.limit_p50
        return None


class Report:
    def __init__(self) -> None:
        self.rows: list[Row] = []

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        ratio = f" ratio {row.ratio:.2f}" if row.ratio is not None else ""
        print(f"  [{row.figure}] {row.what}: p50 {_f(row.p50)} p95 {_f(row.p95)} {row.unit}{ratio}",
              file=sys.stderr, flush=True)
        return row

    def table(self) -> str:
        head = (f"{'fig':<4}{'measure':<54}{'p50':>9}{'p95':>9}{'unit':>9}  {'limit':<26}"
                f"{'lim p50':>9}{'lim p95':>9}{'ratio':>7}  {'target':<19}{'ok':<4}")
        lines = [head, "-" * len(head)]
        for r in self.rows:
            ok = "" if r.ok is None else ("yes" if r.ok else "NO")
            ratio = "" if r.ratio is None else f"{r.ratio:.2f}"
            lines.append(
                f"{r.figure:<4}{r.what[:53]:<54}{_f(r.p50):>9}{_f(r.p95):>9}{r.unit:>9}  {r.limit[:25]:<26}"
                f"{_f(r.limit_p50):>9}{_f(r.limit_p95):>9}{ratio:>7}  {r.target[:18]:<19}{ok:<4}"
            )
            if r.note:
                lines.append(f"{'':<4}  {r.note}")
        return "\n".join(lines)


def _f(x: float | None) -> str:
    if x is None or x != x:
        return "-"
    return f"{x:.0f}" if abs(x) >= 100 else f"{x:.1f}"


# Processes ------------------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def process_tree(pid: int) -> list[int]:
    seen, todo = [], [pid]
    while todo:
        p = todo.pop()
        seen.append(p)
        todo += _children(p)
    return seen


def status_kb(pid: int, *field_names: str) -> list[int]:
    """The kB fields of /proc/<pid>/status, in order (0 for each when the process is gone)."""
    found: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            name, _, rest = line.partition(":")
            if name in field_names:
                found[name] = int(rest.split()[0])
    except OSError:
        pass
    return [found.get(name, 0) for name in field_names]


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")[:80]
    except OSError:
        return ""


class RssWatch:
    """Samples VmHWM of the watched process trees (children come and go: extraction sandboxes),
    and the largest RssAnon seen: the memory a process has of its own, without the files it maps
    (Meilisearch maps its whole index; those pages count in its RSS and the kernel drops them first)."""

    def __init__(self) -> None:
        self.trees: dict[str, int] = {}
        self.peak: dict[str, dict[int, tuple[int, str]]] = {}
        self.anon: dict[str, dict[int, int]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def watch(self, name: str, pid: int) -> None:
        self.trees[name] = pid
        self.peak.setdefault(name, {})
        self.anon.setdefault(name, {})

    def start(self) -> None:
        self._thread.start()

    def sample(self) -> None:
        for name, root in list(self.trees.items()):
            for pid in process_tree(root):
                kb, anon = status_kb(pid, "VmHWM", "RssAnon")
                self.anon[name][pid] = max(anon, self.anon[name].get(pid, 0))
                old = self.peak[name].get(pid, (0, ""))
                if kb > old[0]:
                    self.peak[name][pid] = (kb, old[1] or cmdline(pid))

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self.sample()

    def stop(self) -> None:
        self._stop.set()
        self.sample()


# The run --------------------------------------------------------------------------------------


def wait_for(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(interval)


def word_for(n: int) -> str:
    """A made-up word no library text contains (letters only, so every tokenizer keeps it whole)."""
    letters = string.ascii_lowercase
    out = ""
    for _ in range(3):
        n, r = divmod(n, 26)
        out += letters[r] * 3
    return "qz" + out


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.quick = args.quick
        self.with_meili = args.backends in ("both", "meilisearch")
        self.report = Report()
        self.workdir = Path(tempfile.mkdtemp(prefix="lectern-bench-"))
        self.corpus = Corpus.load()
        self.web = FakeWeb()
        self.rss = RssWatch()
        self.stacks: list[Stack] = []
        self.meili_proc = None
        self.arxiv_n = 0
        # The next generated BibTeX entry's number (upload_import): one no earlier run used, or
        # on a reused library (--library) the import would find every entry already saved.
        self.bib_start = time.time_ns() // 1000
        self.idle: dict[str, float] = {}

    # Set-up ---------------------------------------------------------------------------------

    def stand_in_pages(self) -> None:
        self.pdf20 = serve_stand_ins(self.web, self.corpus, 400)

    def arxiv_paper(self) -> tuple[str, str, str]:
        """A new arXiv id served by the stand-in (20-page PDF), the made-up word in its title and
        the one at the end of its last page."""
        self.arxiv_n += 1
        n = self.arxiv_n
        arxiv_id = f"2601.{10000 + n:05d}"
        word = word_for(n)
        page_word = "qp" + word[2:]
        title = f"Benchmark paper {word} on diffusion"
        pdf = make_test_pdf([*self.pdf20[:-1], f"{self.pdf20[-1]}\n{page_word}"], title=title)
        self.web.add_arxiv_paper(arxiv_id, title, ["Ada Bench", "Bo Mark"], f"An abstract about {word}.", pdf)
        return arxiv_id, word, page_word

    def build(self) -> None:
        if self.args.library:
            return self.reuse(Path(self.args.library))
        n = self.args.size
        data_dir = self.workdir / "embedded"
        self.settings = Settings(data_dir=data_dir)
        engine = make_engine(self.settings)
        upgrade_database(engine)
        t = time.perf_counter()
        counts = load_library(engine, self.corpus, n)
        print(f"library: {counts} inserted in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        self.counts = counts
        self.engine = engine
        factory = make_session_factory(engine)

        backends = [("embedded", EmbeddedBackend(self.settings.search_db_path))]
        if self.with_meili:
            meili_dir = self.workdir / "meili"
            meili_dir.mkdir()
            self.meili_proc, self.meili_url, self.meili_key = start_meili(meili_dir, nice=MEILI_NICE)
            self.rss.watch("meilisearch", self.meili_proc.pid)
            self.meili_index = f"bench_{n}"
            self.meili_size = n
            backends.append(("meilisearch", MeiliBackend(self.meili_url, self.meili_key, self.meili_index,
                                                         timeout=30, task_timeout=7200)))

        for name, backend in backends:
            t = time.perf_counter()
            done = reindex_all(factory, backend, progress=_progress(name))
            seconds = time.perf_counter() - t
            print(file=sys.stderr)
            self.report.add(Row("6", f"reindex {name} ({done} items)", "items/s", p50=done / seconds,
                                note=f"{seconds:.1f} s, {counts['pdf_pages']} PDF pages"))
            backend.close()

    def reuse(self, library: Path) -> None:
        """--library: the working directory a previous --keep run left, measured as it is: no
        build, no reindex figure. Its embedded data directory (``embedded/``) is copied, so this
        run's saves do not grow it; its Meilisearch data (``meili/``), when there, is used in
        place (copying 13 GB at 100k items takes longer than a run), after deleting what earlier
        runs saved into it. A bare embedded data directory is measured on the embedded backend only."""
        data_dir = library / "embedded" if (library / "embedded" / "lectern.db").exists() else library
        if not (data_dir / "lectern.db").exists() or not (data_dir / "search.db").exists():
            raise SystemExit(f"{library} holds no lectern.db and search.db (nor embedded/ with them)")
        copy = self.workdir / "embedded"
        print(f"copying {data_dir} to {copy}", file=sys.stderr)
        shutil.copytree(data_dir, copy, ignore=shutil.ignore_patterns("*-wal", "*-shm"))
        self.settings = Settings(data_dir=copy)
        self.engine = make_engine(self.settings)
        upgrade_database(self.engine)
        with self.engine.connect() as conn:
            count = lambda sql: conn.execute(text(sql)).scalar() or 0  # noqa: E731
            self.counts = {"items": count("SELECT count(*) FROM items"),
                           "pdfs": count("SELECT count(*) FROM items WHERE file_id IS NOT NULL"),
                           "pdf_pages": count("SELECT count(*) FROM file_pages"),
                           "notes": count("SELECT count(*) FROM notes")}
            # The run that left this library saved arXiv papers (2601.1xxxx, figures 1, 5 and 8):
            # this run's must be new ones, or figure 5 times a save that finds them already there.
            self.arxiv_n = count("SELECT max(CAST(substr(arxiv_id, 6) AS INTEGER)) - 10000 FROM items"
                                 " WHERE arxiv_id LIKE '2601.1%'")
        self.args.size = self.counts["items"]
        meili_dir = library / "meili"
        if not self.with_meili or not (meili_dir / "data.ms").exists():
            self.with_meili = False
            self.args.backends = "embedded"
            if self.args.stack != "embedded":
                print("no meili/ beside the library: embedded backend and stack only", file=sys.stderr)
                self.args.stack = "embedded"
            return
        self.meili_proc, self.meili_url, self.meili_key = start_meili(meili_dir, nice=MEILI_NICE)
        self.rss.watch("meilisearch", self.meili_proc.pid)
        names = [i["uid"] for i in httpx.get(f"{self.meili_url}/indexes", headers=self._meili_auth()).json()["results"]]
        found = [n for n in names if n.startswith("bench_")]
        if len(found) != 1:
            raise SystemExit(f"{meili_dir} holds indexes {names}, expected one bench_<size>")
        self.meili_index = found[0]
        self.meili_size = int(self.meili_index.removeprefix("bench_"))
        # The build gave items ids 1..size. Earlier runs' saves on the production stack (the next
        # ids: a run saves a few hundred) are deleted: the production stack loads the library
        # again with the same ids, and its saves take those ids once more.
        backend = MeiliBackend(self.meili_url, self.meili_key, self.meili_index, timeout=30, task_timeout=3600)
        backend.delete(list(range(self.meili_size + 1, self.meili_size + 5001)))
        backend.close()

    def _meili_auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.meili_key}"}

    def start_stacks(self) -> None:
        emb_env = stack_env(self.workdir, self.web.base_url, LECTERN_DATA_DIR=str(self.settings.data_dir),
                            LECTERN_LOG_LEVEL="WARNING", LECTERN_SLOW_SQL_MS=str(SLOW_SQL_MS))
        self.emb = Stack("embedded", emb_env, self.workdir)
        self.emb.start_web()
        self.stacks.append(self.emb)
        self.rss.watch("web (embedded)", self.emb.processes[0].pid)
        if not self.with_meili:
            self.rss.start()
            return
        meili_env = dict(emb_env, LECTERN_SEARCH_BACKEND="meilisearch", LECTERN_MEILI_URL=self.meili_url,
                         LECTERN_MEILI_KEY=self.meili_key, LECTERN_MEILI_INDEX=self.meili_index)
        self.msearch = Stack("meili", meili_env, self.workdir)
        self.msearch.start_web()
        self.stacks.append(self.msearch)
        self.rss.watch("web (meilisearch)", self.msearch.processes[0].pid)
        self.rss.start()

    def start_worker(self, stack: Stack, name: str) -> None:
        proc = stack.start_worker()
        self.rss.watch(name, proc.pid)
        # The worker is up when it has taken and finished a job.
        with stack.api() as api:
            item = api.post("/api/v1/items", json={"url": self.web.url("/blog/399")}).json()["item"]
        stack.wait_item(item["id"], timeout=120)

    # Figures --------------------------------------------------------------------------------

    def queries(self) -> list[tuple[str, str]]:
        runs = 4 if self.quick else 25  # 8 classes x 25 = 200 queries
        out = []
        for cls, qs in QUERIES.items():
            out += [(cls, qs[r % len(qs)]) for r in range(runs)]
        return out

    def raw_embedded(self) -> Callable[[str], object]:
        conn = sqlite3.connect(self.settings.search_db_path, check_same_thread=False)
        backend = EmbeddedBackend(self.settings.search_db_path)

        def run(q: str) -> object:
            query = parse_query(q)
            terms, phrases = terms_of(query.terms, query.phrases)
            if not terms and not phrases:
                where, params = backend._filters(query)
                sql = "SELECT i.item_id FROM items i " + (f"WHERE {where} " if where else "") + \
                      "ORDER BY i.rowkey DESC LIMIT 20"
                return conn.execute(sql, params).fetchall()
            expr = " AND ".join('"' + " ".join(t.tokens) + '"' for t in terms + phrases)
            rows = conn.execute("SELECT rowid FROM head WHERE head MATCH ? ORDER BY rowid DESC LIMIT 20",
                                (expr,)).fetchall()
            if len(rows) < 20:
                rows += conn.execute("SELECT rowid FROM chunks WHERE chunks MATCH ? ORDER BY rowid DESC LIMIT 20",
                                     (expr,)).fetchall()
            return rows

        return run

    def raw_meili(self) -> Callable[[str], object]:
        """Meilisearch's own search over a kept-alive connection, as the app sends its searches:
        words and filters only, 20 hits, no facets, highlighting or cropping."""
        return RawSearch(self.meili_url, self.meili_key, self.meili_index)

    def fig_search(self) -> None:
        queries = self.queries()
        runs = [("embedded", self.emb, self.raw_embedded())]
        if self.with_meili:
            runs.append(("meilisearch", self.msearch, self.raw_meili()))
        for name, stack, raw in runs:
            with stack.browser() as browser:
                client = KeptAlive(stack.base_url, browser.cookies, {"HX-Request": "true"})
                later: list[str] = []  # the count-and-facets URL of the last fragment, if any

                def http(q: str, client=client, name=name, later=later) -> None:
                    status, body = client.get(f"/search?q={quote(q)}")
                    if status != 200:
                        raise SystemExit(f"search {q!r} on {name}: {status}")
                    found = COUNTS_URL.search(body)
                    later[:] = [html.unescape(found.group(1))] if found else []

                def count(client=client, name=name, later=later) -> None:
                    status, body = client.get(later[0])
                    if status != 200 or "result" not in body:
                        raise SystemExit(f"counts {later[0]!r} on {name}: {status}")

                # Warm up: every distinct query once on both paths. The figure is a library in
                # use, not first reads from disk (after a 100k Meilisearch build pushed the index
                # out of the page cache, a first query read its pages from disk: up to 700 ms).
                for q in dict.fromkeys(q for _, q in queries):
                    http(q)
                    raw(q)
                    if later:
                        count()
                times: dict[str, list[float]] = {}
                limits: dict[str, list[float]] = {}
                counts: list[float] = []  # the count and facets the fragment left to load after it
                settled: list[float] = []  # fragment, then its count: until the page is complete
                order = list(queries)
                random.Random(3).shuffle(order)
                for n, (cls, q) in enumerate(order):  # alternate which path goes first
                    pair = [(times, lambda q=q: http(q)), (limits, lambda q=q, raw=raw: raw(q))]
                    for out, fn in pair if n % 2 == 0 else pair[::-1]:
                        out.setdefault(cls, []).append(ms(fn))
                        if out is times and later:
                            counts.append(ms(count))
                            settled.append(times[cls][-1] + counts[-1])
                client.close()
            target_ms = 15 if name == "meilisearch" else 40
            all_t = [x for v in times.values() for x in v]
            all_l = [x for v in limits.values() for x in v]
            p50, p95 = pct(all_t)
            self.idle[f"search {name}"] = p95
            lp50, lp95 = lp50_all, lp95_all = pct(all_l)
            self.report.add(Row("2", f"search {name}: all {len(all_t)} queries", p50=p50, p95=p95,
                                limit=f"raw {'SQL' if name == 'embedded' else 'Meilisearch HTTP'}",
                                limit_p50=lp50, limit_p95=lp95, target=f"p95<={target_ms}", ok=p95 <= target_ms))
            for cls in QUERIES:
                p50, p95 = pct(times[cls])
                lp50, lp95 = pct(limits[cls])
                self.report.add(Row("2", f"  {name}: {cls}", p50=p50, p95=p95,
                                    limit=f"raw {'SQL' if name == 'embedded' else 'Meilisearch HTTP'}",
                                    limit_p50=lp50, limit_p95=lp95, target=f"p95<={target_ms}",
                                    ok=p95 <= target_ms))
            if counts:
                # Not the figure's target: what the page loads after the results are shown.
                for what, values in ((f"count and facets, loaded after the hits ({len(counts)} queries)", counts),
                                     ("hits, then count and facets (page complete)", settled)):
                    p50, p95 = pct(values)
                    self.report.add(Row("2", f"  {name}: {what}", p50=p50, p95=p95,
                                        limit="raw Meilisearch HTTP", limit_p50=lp50_all, limit_p95=lp95_all))

    def ping_times(self, api: httpx.Client, n: int) -> list[float]:
        out = []
        for _ in range(n):
            out.append(ms(lambda: api.get("/api/v1/ping").raise_for_status()))
        return out

    def fig_library(self) -> None:
        tag = common_tag(self.corpus)
        runs = 15 if self.quick else 100
        with self.emb.browser() as client, self.emb.api() as api:
            self.ping_times(api, 10)
            for _ in range(5):
                client.get(f"/?tag={quote(tag)}&per_page=50").raise_for_status()
            page, lim = [], []
            for _ in range(runs):
                page.append(ms(lambda: client.get(f"/?tag={quote(tag)}&per_page=50").raise_for_status()))
                lim.append(ms(lambda: api.get("/api/v1/ping").raise_for_status()))
        counts = {size: self.sql_count(tag, size) for size in (10, 50)}
        p50, p95 = pct(page)
        lp50, lp95 = pct(lim)
        self.report.add(Row("3", f"library page, 50 items, tag:{tag[:16]}", p50=p50, p95=p95, limit="ping (auth'd)",
                            limit_p50=lp50, limit_p95=lp95, target="p95<=40", ok=p95 <= 40))
        self.report.add(Row("3", "library page SQL queries at 10 / 50 items", "queries", p50=counts[10],
                            p95=counts[50], target="equal", ok=counts[10] == counts[50]))

    def sql_count(self, tag: str, page_size: int) -> int:
        from app.services.library import LibraryQuery, library_page

        statements: list[str] = []

        def count(conn, cursor, statement, *a):
            statements.append(statement)

        event.listen(self.engine, "before_cursor_execute", count)
        try:
            with make_session_factory(self.engine)() as session:
                library_page(session, self.settings, LibraryQuery(tag=tag, per_page=page_size))
        finally:
            event.remove(self.engine, "before_cursor_execute", count)
        return len(statements)

    def make_busy(self, stack: Stack, n: int) -> None:
        with stack.api() as api:
            for _ in range(n):
                arxiv_id, _, _ = self.arxiv_paper()
                api.post("/api/v1/items", json={"url": f"https://arxiv.org/abs/{arxiv_id}"}).raise_for_status()

    def save_bodies(self) -> Callable[[int], dict]:
        counter = iter(range(10**9))

        def url_body(_: int) -> dict:
            return {"url": self.web.url(f"/blog/{next(counter) % 390}?v={random.random()}")}

        def tweet_body(_: int) -> dict:
            i = next(counter)
            tweet = self.corpus.tweets[i % len(self.corpus.tweets)].text
            return {"url": f"https://x.com/benchuser/status/{2 * 10**18 + i}{random.randrange(10**6)}",
                    "kind": "tweet", "text": tweet, "title": tweet[:80]}

        return url_body, tweet_body

    def fig_save(self, stack: Stack, label: str) -> None:
        runs = 20 if self.quick else 200
        self.make_busy(stack, 4 if self.quick else 10)
        url_body, tweet_body = self.save_bodies()
        url_t, tweet_t, lim = [], [], []
        with stack.api() as api:
            self.ping_times(api, 10)
            for i in range(runs):
                url_t.append(ms(lambda i=i: api.post("/api/v1/items", json=url_body(i)).raise_for_status()))
                tweet_t.append(ms(lambda i=i: api.post("/api/v1/items", json=tweet_body(i)).raise_for_status()))
                lim.append(ms(lambda: api.get("/api/v1/ping").raise_for_status()))
        lp50, lp95 = pct(lim)
        for what, xs in (("URL", url_t), ("captured tweet", tweet_t)):
            p50, p95 = pct(xs)
            self.idle[f"save {what} {label}"] = p95
            self.report.add(Row("1", f"save {what} ({label}, worker busy)", p50=p50, p95=p95,
                                limit="ping (auth'd)", limit_p50=lp50, limit_p95=lp95, target="p95<=20",
                                ok=p95 <= 20))

    def idle_worker(self, stack: Stack, engine) -> None:
        """Wait until the worker has nothing left: every item processed, nothing waiting to be
        indexed (an item is ready before the worker indexes it, from index_pending), no import
        running; what is measured next does not share the CPU with the worker's backlog."""
        def drained() -> bool:
            with engine.connect() as conn:
                return conn.execute(text(
                    "SELECT (SELECT count(*) FROM items WHERE status NOT IN ('ready', 'failed'))"
                    " + (SELECT count(*) FROM index_pending)"
                    " + (SELECT count(*) FROM import_jobs WHERE status IN ('queued', 'running'))"
                )).scalar() == 0

        wait_for(drained, timeout=1800, what="the worker to finish its queue", interval=0.5)

    def fig_e2e(self, stack: Stack, label: str, target_s: float) -> None:
        """Figure 5: from saving an arXiv URL until search finds the paper by the word in its
        title, and until it finds it by the word at the end of its last page (on Meilisearch the
        head document and the pages go in one addition: MeiliBackend.upsert)."""
        runs = 5 if self.quick else 50
        times, page_times, limits = [], [], []
        pdf_url = None
        with stack.api() as api:
            def found(word: str, item_id: int) -> bool:
                r = api.get(f"/api/v1/search?q={word}")
                return r.status_code == 200 and any(h["item_id"] == item_id for h in r.json()["hits"])

            for _ in range(runs):
                arxiv_id, word, page_word = self.arxiv_paper()
                pdf_url = self.web.url(f"/pdf/{arxiv_id}")
                t = time.perf_counter()
                saved = api.post("/api/v1/items", json={"url": f"https://arxiv.org/abs/{arxiv_id}"})
                item_id = saved.raise_for_status().json()["item"]["id"]
                wait_for(lambda w=word, i=item_id: found(w, i), timeout=120, interval=0.02,
                         what=f"{arxiv_id} to become searchable ({label})")
                times.append((time.perf_counter() - t) * 1000)
                wait_for(lambda w=page_word, i=item_id: found(w, i), timeout=120, interval=0.02,
                         what=f"{arxiv_id}'s last page to become searchable ({label})")
                page_times.append((time.perf_counter() - t) * 1000)
                limits.append(ms(lambda url=pdf_url: _fetch_and_extract(url)))
        lp50, lp95 = pct(limits)
        for what, xs in (("title", times), ("last page", page_times)):
            p50, p95 = pct(xs)
            self.report.add(Row("5", f"save arXiv URL -> found by its {what} ({label})", p50=p50, p95=p95,
                                limit="fetch PDF + raw get_text", limit_p50=lp50, limit_p95=lp95,
                                target=f"p95<={target_s * 1000:.0f}", ok=p95 <= target_s * 1000,
                                note=f"{runs} saves, one at a time, 20-page PDF, polling search every 20 ms",
                                extra={"samples_ms_in_order": [round(x) for x in xs]}))

    def fig_extract(self) -> None:
        from app.extract.sandbox import ExtractSandbox
        from bench.extract_bench import DEFAULT_PDFS, raw, sandboxed

        paths = sorted(DEFAULT_PDFS.glob("*.pdf"))
        settings = Settings()
        sandbox = ExtractSandbox()
        rates, raws = [], []
        try:
            sandboxed(paths[:1], sandbox, settings)  # start the sandbox's server outside the timing
            for _ in range(1 if self.quick else 3):
                rp, rs = raw(paths)
                bp, bs = sandboxed(paths, sandbox, settings)
                raws.append(rp / rs)
                rates.append(bp / bs)
        finally:
            sandbox.close()
        p50, lp50 = statistics.median(rates), statistics.median(raws)
        self.report.add(Row("4", f"extraction step, {len(paths)} shared PDFs", "pages/s", p50=p50,
                            limit="raw page.get_text()", limit_p50=lp50, target="ratio>=0.8",
                            ok=p50 / lp50 >= 0.8, note=f"median of {len(rates)} rounds"))

    def upload_import(self, stack: Stack, entries: int, marker: str) -> int:
        """Upload a generated BibTeX file of ``entries`` new papers on the import page, as a
        browser does; the import job's id. The last entry's title ends with ``marker``."""
        # Entries without arXiv ids, DOIs or URLs: the worker fetches nothing for them afterwards
        # (with them it would go on fetching 10,000 pages long after the import, from hosts this
        # offline run cannot reach); the import and the indexing are the same.
        data = make_bib(entries, start=self.bib_start, marker=marker, identifiers=False).encode()
        self.bib_start += entries
        with stack.browser() as client:
            r = client.post("/imports", data={"format": "bibtex", "csrf_token": csrf_of(client)},
                            files={"file": ("library.bib", data, "application/x-bibtex")})
        if r.status_code != 303:
            raise SystemExit(f"the import upload answered {r.status_code}: {r.text[:300]}")
        return int(r.headers["location"].rsplit("/", 1)[1])

    def fig_import(self, stack: Stack, label: str) -> None:
        """Figure 6: a 10,000-entry BibTeX file uploaded on the import page, until its last entry
        is found by search (the worker reads it, inserts the items in batches, indexes them)."""
        entries = 1000 if self.quick else 10_000
        self.idle_worker(stack, self.engine)
        marker = word_for(900_000 + self.arxiv_n)
        t = time.perf_counter()
        job_id = self.upload_import(stack, entries, marker)
        with stack.api() as api:
            def found() -> bool:
                r = api.get(f"/api/v1/search?q={marker}")
                return r.status_code == 200 and r.json()["total"] >= 1

            wait_for(found, timeout=600, what=f"the last of {entries} imported entries to be searchable", interval=0.2)
        seconds = time.perf_counter() - t
        with self.engine.connect() as conn:
            status, created = conn.execute(text("SELECT status, created FROM import_jobs WHERE id = :id"),
                                           {"id": job_id}).one()
        self.report.add(Row("6", f"BibTeX import of {entries} entries -> searchable ({label})", "s", p50=seconds,
                            target="<=120 s", ok=seconds <= 120 and created == entries,
                            note=f"uploaded on /imports, worker running; job {status}, {created} created; entries without"
                                 " identifiers (nothing to fetch afterwards)"))

    def _clients(self, seconds: float, search_every: float, save_every: float, *, searchers: int = SEARCHERS,
                 savers: int = SAVERS, pingers: int = 0) -> tuple[dict[str, list], list, dict[str, list]]:
        """``searchers`` + ``savers`` clients (8 by default) for ``seconds``, each starting a request
        at most every ``*_every`` seconds (0: back to back); ``pingers`` ask the trivial
        authenticated endpoint, paced as the searchers. Returns (ms of each request by role
        {"search": [...], "save": [...], "ping": [...]}, errors, the ms the app itself took by its
        Server-Timing header, by role).

        Each client is a process of its own, as each person has a browser of their own, and out of
        step with the others (run_client). Clients started together and paced exactly send together:
        the four searchers alone, at 10k items, took p50 25 / p95 55 ms that way, each waiting
        for the others' searches, and 15 / 30 ms out of step (the sequential idle figure: 11 / 20)."""
        queries = [q for _, q in self.queries()]
        common = {"base_url": self.emb.base_url, "token": self.emb.token, "queries": queries,
                  "blog_url": self.web.url("/blog/"), "tweets": [t.text for t in self.corpus.tweets[:200]],
                  "seconds": seconds}
        roles = [("search", 2 * i, search_every) for i in range(searchers)]
        roles += [("save", 2 * i + 1, save_every) for i in range(savers)]
        roles += [("ping", 100 + i, search_every) for i in range(pingers)]
        ctx = multiprocessing.get_context("spawn")
        with ctx.Manager() as manager:
            ready, go, out = manager.Barrier(len(roles) + 1), manager.Event(), manager.Queue()
            procs = [ctx.Process(target=client_process, args=(r, common, ready, go, out)) for r in roles]
            for proc in procs:
                proc.start()
            ready.wait(timeout=120)  # every client has started and logged in
            go.set()
            results = [out.get(timeout=seconds + 120) for _ in procs]
            for proc in procs:
                proc.join(timeout=30)
        times: dict[str, list] = {"search": [], "save": [], "ping": []}
        in_app: dict[str, list] = {"search": [], "save": [], "ping": []}
        errors = []
        for role, xs, errs, server in results:
            times[role] += xs
            in_app[role] += server
            errors += errs
        return times, errors, in_app

    def pattern_alone(self, role: str, seconds: float, limit: str, limit_p95: float | None, note: str) -> float:
        """Figure 8's four ``role`` clients ("search" or "save"; "ping": four clients asking the
        trivial endpoint, paced as the searchers) alone for ``seconds``, once the worker is idle:
        the request pattern of the loaded row without its load. Adds a reported row beside
        ``limit``; returns its p95."""
        self.idle_worker(self.emb, self.engine)
        clients = {"searchers": 0, "savers": 0, "pingers": 0}
        argument, count, who = PATTERNS[role]
        clients[argument] = count
        times, errors, in_app = self._clients(seconds, search_every=SEARCH_EVERY, save_every=SAVE_EVERY, **clients)
        xs = times[role]
        p50, p95 = pct(xs)
        self.report.add(Row("8", f"{role}, {who} ({seconds} s)", p50=p50, p95=p95, limit=limit,
                            limit_p95=limit_p95, target="(reported)",
                            extra={"requests": len(xs), "errors": len(errors)},
                            note=f"{len(xs)} requests, errors: {len(errors)}; in the app (Server-Timing) p95"
                                 f" {pct(in_app[role])[1]:.1f}; {note}"))
        return p95

    def under_load(self, seconds: float) -> tuple[dict[str, list], list, dict[str, list]]:
        """Figure 8's load: the eight people of _clients while the worker imports a BibTeX file,
        then arXiv papers."""
        self.upload_import(self.emb, 1000 if self.quick else 10_000, word_for(800_000 + self.arxiv_n))
        self.make_busy(self.emb, 10 if self.quick else 40)
        return self._clients(seconds, search_every=SEARCH_EVERY, save_every=SAVE_EVERY)

    def saturation(self, seconds: float) -> tuple[dict[str, list], list, dict[str, list]]:
        """Figure 8's last rows: the eight people of _clients back to back, with no pause, while
        the worker fetches arXiv papers."""
        self.make_busy(self.emb, 5 if self.quick else 20)
        return self._clients(seconds, search_every=0.0, save_every=0.0)

    def fig_load(self) -> None:
        """Figure 8. Eight people at once while the worker imports (a 10,000-entry BibTeX file,
        then arXiv papers): four search as they type (the search box sends at most one request
        per 200 ms, its debounce), four save a link a second, each in a process of its own and
        out of step with the others (run_client); before them, the four savers alone, the four
        searchers alone and four clients asking the trivial endpoint at the searchers' pace, as
        references (pattern_alone). Then the same eight clients back to back,
        with no pause: the saturation throughput and latency, reported without a target (on 2 cores
        the latency of N back-to-back clients is about N/2 service times whatever the code does)."""
        seconds = 10 if self.quick else 60
        idle_save = max(v for k, v in self.idle.items() if k.startswith("save") and "embedded" in k)
        # The same four savers first, then the four searchers, with nothing else running: figure 1's
        # and figure 2's idle figures are one client saving or searching back to back, and a client
        # that sends once a second (or five times) finds a machine that went idle in between.
        # Reported beside the targets, which keep figure 1's and figure 2's idle figures.
        alone_seconds = 5 if self.quick else 30
        savers_alone_p95 = self.pattern_alone(
            "save", alone_seconds, "idle p95 (figure 1)", idle_save,
            "1 link/s each, no searches, no import (the worker fetches what they save): the request pattern"
            " of the save row below without its load")
        searchers_alone_p95 = self.pattern_alone(
            "search", alone_seconds, "idle p95 (figure 2)", self.idle.get("search embedded"),
            "1 search / 200 ms each, no saves, no import, worker idle: the request pattern of the search row"
            " below without its load")
        # The pattern's own floor: the trivial endpoint asked back to back by one client, then by
        # four at the searchers' pace, the worker idle for both. A process that sleeps between
        # requests finds its caches cold: on one machine a ping took 2x the CPU time paced.
        self.idle_worker(self.emb, self.engine)
        with self.emb.api() as api:
            self.ping_times(api, 10)
            ping_p95 = pct(self.ping_times(api, 200))[1]
        pingers_p95 = self.pattern_alone(
            "ping", alone_seconds, "ping back to back", ping_p95,
            "GET /api/v1/ping (auth'd) every 200 ms on average from each of 4 clients, worker idle: what"
            " the searchers' pacing costs a request that does nothing")
        web_log = self.workdir / "web.log"
        log_start = web_log.stat().st_size
        times, errors, in_app_t = self.under_load(seconds)
        search_t, save_t = times["search"], times["save"]
        slow = slow_statements_since(web_log, log_start)
        in_app = {what: pct(xs)[1] for what, xs in in_app_t.items() if xs}
        for what, xs, idle in (("search", search_t, self.idle.get("search embedded")), ("save", save_t, idle_save)):
            p50, p95 = pct(xs)
            self.report.add(Row("8", f"{what} under load (8 people, {seconds:.0f} s)", p50=p50, p95=p95,
                                limit="idle p95 (this run)", limit_p95=idle, target="<=2x idle, no err",
                                ok=bool(idle) and p95 <= 2 * idle and not errors,
                                extra={"requests": len(xs), "errors": len(errors)},
                                note=f"{len(xs)} requests, {len(xs) / seconds:.1f}/s, errors: {len(errors)}"
                                     + (f" ({errors[:3]})" if errors else "")
                                     + f"; in the app (Server-Timing) p95 {in_app.get(what, float('nan')):.1f}"
                                     + "; 4 people typing (<= 1 search / 200 ms each), 4 saving 1 link/s each,"
                                       " each a process, out of step; worker importing a BibTeX file, then arXiv papers"
                                     + (f"; p95 {p95 / savers_alone_p95:.2f}x the 4 savers alone; web SQL meanwhile: {slow}"
                                        if what == "save" else f"; p95 {p95 / searchers_alone_p95:.2f}x the 4 searchers alone"
                                        f" (a ping paced as they are: {pingers_p95 / ping_p95:.2f}x"
                                        " one back to back)")))
        burst = 5 if self.quick else 20
        times, errors, _ = self.saturation(burst)
        search_t, save_t = times["search"], times["save"]
        for what, xs, idle in (("search", search_t, self.idle.get("search embedded")), ("save", save_t, idle_save)):
            p50, p95 = pct(xs)
            self.report.add(Row("8", f"{what}, 8 clients back to back ({burst} s)", p50=p50, p95=p95,
                                limit="idle p95 (this run)", limit_p95=idle, target="(reported)",
                                extra={"requests": len(xs), "errors": len(errors)},
                                note=f"{len(xs) / burst:.1f} {what} requests/s; errors: {len(errors)}"
                                     + (f" ({errors[:3]})" if errors else "")))

    def fig_rss(self) -> None:
        self.rss.stop()
        for name, peaks in self.rss.peak.items():
            if not peaks:
                continue
            root = self.rss.trees[name]
            top_pid, (kb, cmd) = max(peaks.items(), key=lambda kv: kv[1][0])
            limit = 200 if name.startswith("web") else 350 if name.startswith("worker") else None
            root_kb = peaks.get(root, (0, ""))[0]
            anon_mb = self.rss.anon[name].get(top_pid, 0) / 1024
            self.report.add(Row("7", f"peak RSS {name}", "MB", p50=root_kb / 1024, p95=kb / 1024,
                                target=f"<={limit} MB" if limit else "(reported)",
                                ok=None if limit is None else kb / 1024 <= limit,
                                extra={"largest_rss_anon_mb": anon_mb},
                                note=f"p50 column: main process; p95 column: largest process of the tree "
                                     f"({cmd.strip()[:60]}); {len(peaks)} processes seen; that process's largest "
                                     f"RssAnon (its own memory, without the files it maps) {anon_mb:.0f} MB"))

    def production(self) -> None:
        if not (port_open("127.0.0.1", 5432) and port_open("127.0.0.1", 6379)):
            print("production stack skipped: PostgreSQL or Redis is not on 127.0.0.1", file=sys.stderr)
            return
        import uuid

        import redis
        from sqlalchemy import create_engine

        schema = f"bench_{uuid.uuid4().hex[:10]}"
        admin = create_engine(PG_URL)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        sep = "&" if "?" in PG_URL else "?"
        url = f"{PG_URL}{sep}options={quote(f'-csearch_path={schema}')}"
        try:
            redis.Redis.from_url(REDIS_BENCH_URL).flushdb()
            settings = Settings(data_dir=self.workdir / "production", database_url=url)
            engine = make_engine(settings)
            upgrade_database(engine)
            t = time.perf_counter()
            load_library(engine, self.corpus, self.meili_size)  # same ids as the Meilisearch index
            print(f"production: library loaded into PostgreSQL in {time.perf_counter() - t:.1f} s", file=sys.stderr)
            env = stack_env(self.workdir, self.web.base_url, LECTERN_DATA_DIR=str(settings.data_dir),
                            LECTERN_LOG_LEVEL="WARNING",
                            **production_env(url, REDIS_BENCH_URL, self.meili_url, self.meili_key))
            env["LECTERN_MEILI_INDEX"] = self.meili_index
            stack = Stack("production", env, self.workdir)
            stack.start_web()
            self.stacks.append(stack)
            self.rss.watch("web (production)", stack.processes[0].pid)
            self.start_worker(stack, "worker (production)")
            self.fig_e2e(stack, "production", 1.0)
            self.fig_save(stack, "production")
            stack.stop()
            engine.dispose()
        finally:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()

    # Whole run -------------------------------------------------------------------------------

    def run(self) -> None:
        started = time.time()
        self.stand_in_pages()
        self.build()
        self.start_stacks()
        self.fig_search()
        self.fig_library()
        self.start_worker(self.emb, "worker (embedded)")
        self.fig_e2e(self.emb, "embedded", 2.0)
        self.fig_save(self.emb, "embedded")
        self.fig_import(self.emb, "embedded")
        self.fig_load()
        self.idle_worker(self.emb, self.engine)
        self.fig_extract()
        if self.args.stack in ("production", "all") and self.with_meili:
            self.production()
        self.fig_rss()
        self.elapsed = time.time() - started

    def close(self) -> None:
        for stack in self.stacks:
            stack.stop()
        if self.meili_proc is not None:
            self.meili_proc.terminate()
            self.meili_proc.wait(timeout=30)
        self.web.close()
        if not self.args.keep:
            shutil.rmtree(self.workdir, ignore_errors=True)


def client_process(role: tuple[str, int, float], common: dict, ready, go, out) -> None:
    """One person of figure 8, in a process of its own (Bench._clients)."""
    out.put(run_client(*role, ready=ready, go=go, **common))


def run_client(role: str, seed: int, every: float, *, base_url: str, token: str, queries: list[str],
               blog_url: str, tweets: list[str], seconds: float, ready, go) -> tuple[str, list, list, list]:
    """Search as the search box does (``role`` "search": the results fragment, a logged-in
    browser), save (``role`` "save": a link or a captured tweet by the API, half each) or ask
    the trivial authenticated endpoint (``role`` "ping": the floor of the pattern), a request
    at most every ``every`` seconds on average, for ``seconds``. Returns (role, ms of each
    request, errors, ms the app took for each by its Server-Timing header)."""
    rng = random.Random(seed * 7919 + os.getpid())
    times: list[float] = []
    server: list[float] = []
    errors: list[str] = []
    with httpx.Client(base_url=base_url, timeout=30) as client:
        if role == "search":  # a browser, logged in
            r = client.post("/login", data={"password": TEST_PASSWORD, "next": "/"})
            if r.status_code not in (200, 303):
                raise SystemExit(f"login answered {r.status_code}")
        else:
            client.headers["Authorization"] = f"Bearer {token}"
        ready.wait(timeout=120)
        go.wait(timeout=120)
        stop = time.monotonic() + seconds
        # People are not in step: each starts at a moment of its own and waits a little more or
        # less each time (clients started together and paced exactly would all send at the same
        # instants, every ``every`` seconds, and queue behind one another each time).
        time.sleep(rng.uniform(0, every))
        while time.monotonic() < stop:
            if role == "search":
                t = time.perf_counter()
                r = client.get(f"/search?q={quote(rng.choice(queries))}", headers={"HX-Request": "true"})
            elif role == "ping":
                t = time.perf_counter()
                r = client.get("/api/v1/ping")
            else:
                if rng.random() < 0.5:
                    body = {"url": f"{blog_url}{rng.randrange(390)}?v={rng.random()}"}
                else:
                    tweet = rng.choice(tweets)
                    body = {"url": f"https://x.com/benchuser/status/{2 * 10**18 + rng.randrange(10**15)}",
                            "kind": "tweet", "text": tweet, "title": tweet[:80]}
                t = time.perf_counter()
                r = client.post("/api/v1/items", json=body)
            took = time.perf_counter() - t
            times.append(took * 1000)
            server.append(float(r.headers.get("server-timing", "app;dur=nan").partition("dur=")[2]))
            if r.status_code not in (200, 201):
                errors.append(f"{role} {r.status_code}")
            time.sleep(max(0.0, rng.uniform(0.5, 1.5) * every - took))
    return role, times, errors, server


def slow_statements_since(log: Path, start: int) -> str:
    """What the web log, from byte ``start`` on, says of the statements slower than SLOW_SQL_MS:
    how many, of which writes, the longest, and how many spent under half their time on the CPU
    (they waited: for SQLite's write lock, or for the CPU)."""
    with log.open("rb") as f:
        f.seek(start)
        found = slow_statements(f.read().decode(errors="replace"))
    if not found:
        return f"no statement over {SLOW_SQL_MS} ms"
    writes = [s.wall_ms for s in found if s.statement.split()[0].upper() in {"INSERT", "UPDATE", "DELETE"}]
    return (f"{len(found)} statements over {SLOW_SQL_MS} ms (longest {max(s.wall_ms for s in found):.0f} ms; "
            f"{len(writes)} writes, longest {max(writes, default=0):.0f} ms; "
            f"{sum(s.waited for s in found)} spent under half their time on the CPU)")


def _fetch_and_extract(url: str) -> None:
    data = httpx.get(url, timeout=30).content
    with pymupdf.open(stream=data, filetype="pdf") as doc:
        for page in doc:
            page.get_text()


def _progress(name: str) -> Callable[[int, int], None]:
    def show(done: int, total: int) -> None:
        print(f"\r  indexing {name}: {done}/{total}", end="", file=sys.stderr, flush=True)

    return show


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=None, help="items in the library (default 10000; 1000 with --quick)")
    ap.add_argument("--quick", action="store_true", help="a 1-2 minute smoke run")
    ap.add_argument("--stack", choices=["embedded", "production", "all"], default="embedded",
                    help="production (or all): also PostgreSQL + Redis + Meilisearch for saving and end to end")
    ap.add_argument("--backends", choices=["both", "embedded"], default="both",
                    help="search backends to index and measure (embedded alone skips Meilisearch and the "
                         "production stack: a 100k Meilisearch index takes a long time to build on 2 cores)")
    ap.add_argument("--keep", action="store_true", help="keep the working directory (logs, data)")
    ap.add_argument("--library", metavar="DIR",
                    help="measure the library a --keep run left in DIR instead of building one: a copy of "
                         "DIR/embedded, and DIR/meili's index in place (all stacks); DIR/embedded alone: "
                         "embedded search backend and stack only")
    ap.add_argument("--out", type=Path, default=OUT, help=f"directory results.json goes in (default {OUT})")
    args = ap.parse_args()
    args.size = args.size or (1000 if args.quick else 10_000)
    bench = Bench(args)
    print(f"working directory {bench.workdir}", file=sys.stderr)
    try:
        bench.run()
    finally:
        bench.close()
    title = (f"Lectern benchmark: {args.size} items ({bench.counts['pdfs']} with PDFs, "
             f"{bench.counts['pdf_pages']} pages, {bench.counts['notes']} notes), stack={args.stack}"
             f"{', quick' if args.quick else ''}, backends={args.backends}; {bench.elapsed:.0f} s; ratio = p95 / limit p95 "
             "(throughputs: value / limit)")
    print("\n" + title + "\n" + bench.report.table())
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(
        {"title": title, "args": {**vars(args), "out": str(args.out)}, "counts": bench.counts,
         "elapsed_s": bench.elapsed, "rows": [dict(asdict(r), ratio=r.ratio) for r in bench.report.rows]}, indent=2))
    print(f"\n(written to {args.out / 'results.json'})")
    return 0 if all(r.ok is not False for r in bench.report.rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
