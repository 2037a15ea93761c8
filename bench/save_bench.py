"""Saving through the API (figure 1) beside an authenticated ping, measured side by side.

    .venv/bin/python bench/save_bench.py                      # production: PostgreSQL + Redis + Meilisearch
    .venv/bin/python bench/save_bench.py --stack both --runs 300

Starts `lectern serve --no-worker` and `lectern worker` on a throwaway PostgreSQL schema, Redis
db 12 and a throwaway Meilisearch (production), or on SQLite with the SQLite broker (embedded);
puts a library of --size items in the database and keeps the worker busy with 20-page arXiv papers
served by a local stand-in, as bench/run's figure 1 does. Then, per round: GET /api/v1/ping,
POST /api/v1/items with a blog URL, POST /api/v1/items with a captured tweet. Prints p50/p95 of each
and their ratio to the ping of the same run: the machine is shared, compare ratios across commits.

With --paced, then: saves (URLs and tweets in turn) one at a time with a pause of 0.125-0.375 s
before each (the rate of figure 8's four savers together), with the worker busy; then the worker
is stopped and the same saves are timed back to back and paced again. Figure 8 holds its savers'
p95 to twice figure 1's, which is saves back to back with the worker busy: these rows tell how much
of that the pattern of the requests costs alone, with no other load.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402

from app.config import Settings  # noqa: E402
from app.db import make_engine  # noqa: E402
from app.migrate import upgrade_database  # noqa: E402
from bench.data import Corpus, load_library, serve_stand_ins, stack_env  # noqa: E402
from bench.run import SAVE_EVERY, SAVERS  # noqa: E402
from bench.search_bench import start_meili  # noqa: E402
from tests.e2e.stack import Stack, flush_redis_db, production_env  # noqa: E402
from tests.fixtures.fakeweb import FakeWeb, make_test_pdf  # noqa: E402
from tests.fixtures.services import PG_URL, port_open  # noqa: E402

REDIS_URL = os.environ.get("LECTERN_SAVE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")


def pct(xs: list[float]) -> tuple[float, float]:
    return statistics.median(xs), statistics.quantiles(xs, n=20, method="inclusive")[-1]


def timed(fn: Callable[[], httpx.Response]) -> float:
    t = time.perf_counter()
    fn().raise_for_status()
    return (time.perf_counter() - t) * 1000


class SaveBench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.workdir = Path(tempfile.mkdtemp(prefix="lectern-save-bench-"))
        self.corpus = Corpus.load()
        self.web = FakeWeb()
        self.meili = None
        self.arxiv_n = 0
        self.counter = 0
        self.pdf20 = serve_stand_ins(self.web, self.corpus, 200)

    # Bodies ---------------------------------------------------------------------------------

    def url_body(self) -> dict:
        self.counter += 1
        return {"url": self.web.url(f"/blog/{self.counter % 200}?v={uuid.uuid4().hex}")}

    def tweet_body(self) -> dict:
        self.counter += 1
        tweet = self.corpus.tweets[self.counter % len(self.corpus.tweets)].text
        return {"url": f"https://x.com/benchuser/status/{2 * 10**18 + self.counter}{random.randrange(10**6)}",
                "kind": "tweet", "text": tweet, "title": tweet[:80]}

    def arxiv_body(self) -> dict:
        self.arxiv_n += 1
        arxiv_id = f"2601.{10000 + self.arxiv_n:05d}"
        title = f"Save benchmark paper {self.arxiv_n}"
        self.web.add_arxiv_paper(arxiv_id, title, ["Ada Bench"], "An abstract.",
                                 make_test_pdf(self.pdf20, title=title))
        return {"url": f"https://arxiv.org/abs/{arxiv_id}"}

    # Stacks ---------------------------------------------------------------------------------

    def env(self, data_dir: Path, **extra: str) -> dict[str, str]:
        return stack_env(self.workdir, self.web.base_url, LECTERN_DATA_DIR=str(data_dir),
                         LECTERN_LOG_LEVEL="WARNING", **extra)

    def embedded(self) -> dict[str, tuple[float, float]]:
        data_dir = self.workdir / "embedded"
        engine = make_engine(Settings(data_dir=data_dir))
        upgrade_database(engine)
        load_library(engine, self.corpus, self.args.size)
        engine.dispose()
        return self.measure(Stack("embedded", self.env(data_dir), self.workdir))

    def production(self) -> dict[str, tuple[float, float]]:
        if not (port_open("127.0.0.1", 5432) and port_open("127.0.0.1", 6379)):
            raise SystemExit("PostgreSQL and Redis must run on 127.0.0.1 for the production stack")
        schema = f"savebench_{uuid.uuid4().hex[:10]}"
        admin = create_engine(PG_URL)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        sep = "&" if "?" in PG_URL else "?"
        url = f"{PG_URL}{sep}options={quote(f'-csearch_path={schema}')}"
        try:
            flush_redis_db(REDIS_URL)
            if self.meili is None:
                meili_dir = self.workdir / "meili"
                meili_dir.mkdir()
                self.meili = start_meili(meili_dir)
            _, meili_url, meili_key = self.meili
            data_dir = self.workdir / "production"
            engine = make_engine(Settings(data_dir=data_dir, database_url=url))
            upgrade_database(engine)
            load_library(engine, self.corpus, self.args.size)
            engine.dispose()
            env = self.env(data_dir, **production_env(url, REDIS_URL, meili_url, meili_key))
            return self.measure(Stack("production", env, self.workdir))
        finally:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
            flush_redis_db(REDIS_URL)

    def measure(self, stack: Stack) -> dict[str, tuple[float, float]]:
        try:
            stack.start_web()
            stack.start_worker()
            with stack.api() as api:
                first = api.post("/api/v1/items", json=self.url_body()).raise_for_status().json()["item"]
            stack.wait_item(first["id"], timeout=120)  # the worker is up
            times: dict[str, list[float]] = {"ping": [], "save URL": [], "save tweet": []}
            with stack.api() as api:
                for _ in range(self.args.busy):  # the worker has work while we save, as in figure 1
                    api.post("/api/v1/items", json=self.arxiv_body()).raise_for_status()
                for _ in range(10):  # warm up
                    api.get("/api/v1/ping")
                    api.post("/api/v1/items", json=self.url_body())
                    api.post("/api/v1/items", json=self.tweet_body())
                for _ in range(self.args.runs):
                    times["ping"].append(timed(lambda: api.get("/api/v1/ping")))
                    times["save URL"].append(timed(lambda: api.post("/api/v1/items", json=self.url_body())))
                    times["save tweet"].append(timed(lambda: api.post("/api/v1/items", json=self.tweet_body())))
                if self.args.paced:
                    times["paced saves"] = self.saves(api, self.args.paced, pause=True)
                    stack.kill_worker()
                    times["saves, no worker"] = self.saves(api, self.args.paced, pause=False)
                    times["paced, no worker"] = self.saves(api, self.args.paced, pause=True)
            return {k: pct(v) for k, v in times.items()}
        finally:
            stack.stop()

    def saves(self, api: httpx.Client, n: int, *, pause: bool) -> list[float]:
        """``n`` saves, a URL and a tweet in turn, each after a pause if ``pause``: figure 8's four
        savers send a link a second each, at 0.5-1.5 times their mean gap (bench/run.run_client), so
        together one every 0.125-0.375 s."""
        gap = SAVE_EVERY / SAVERS
        out = []
        for i in range(n):
            if pause:
                time.sleep(random.uniform(0.5, 1.5) * gap)
            body = self.url_body() if i % 2 else self.tweet_body()
            out.append(timed(lambda body=body: api.post("/api/v1/items", json=body)))
        return out

    def close(self) -> None:
        if self.meili is not None:
            self.meili[0].terminate()
            self.meili[0].wait(timeout=30)
        self.web.close()
        shutil.rmtree(self.workdir, ignore_errors=True)


def table(results: dict[str, dict[str, tuple[float, float]]]) -> str:
    head = f"{'stack':<12}{'measure':<18}{'p50 ms':>9}{'p95 ms':>9}{'p50/ping':>10}{'p95/ping':>10}"
    lines = [head, "-" * len(head)]
    for stack, rows in results.items():
        ping50, ping95 = rows["ping"]
        for what, (p50, p95) in rows.items():
            lines.append(f"{stack:<12}{what:<18}{p50:>9.1f}{p95:>9.1f}{p50 / ping50:>10.2f}{p95 / ping95:>10.2f}")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stack", choices=["production", "embedded", "both"], default="production")
    ap.add_argument("--runs", type=int, default=200, help="rounds of ping + save URL + save tweet (default 200)")
    ap.add_argument("--size", type=int, default=2000, help="items in the library before saving (default 2000)")
    ap.add_argument("--busy", type=int, default=10, help="arXiv papers queued for the worker first (default 10)")
    ap.add_argument("--paced", type=int, default=0, metavar="N",
                    help="then N paced saves, N back to back and N paced with the worker stopped (see above)")
    args = ap.parse_args()
    bench = SaveBench(args)
    results = {}
    try:
        for name in ("production", "embedded"):
            if args.stack in (name, "both"):
                results[name] = getattr(bench, name)()
    finally:
        bench.close()
    print(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
