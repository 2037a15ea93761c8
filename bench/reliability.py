"""Reliability under load with a worker that keeps dying.

    .venv/bin/python bench/reliability.py [--stack embedded|production|both] [--seconds 60]
                                          [--clients 8] [--kill-every 10] [--settle-timeout 360]

Runs real `lectern serve --no-worker` and `lectern worker` processes, on the embedded default
(SQLite, SQLite broker, embedded index) and/or on PostgreSQL + Redis + Meilisearch (the server at
127.0.0.1:5432 in a fresh schema, Redis at 127.0.0.1:6379 in its own database, a throwaway
Meilisearch). N clients save distinct PDF links (served by a local stand-in web server) through the
API for the given time while the worker's process group is killed with SIGKILL every few seconds
and started again at once; then the worker runs undisturbed until every item is ready or failed.

Prints one table per stack: saves requested and answered 201, items in the database (must equal the
saves requested), items ready, failed and stuck, worker kills, save latency p50/p95/max, and what
`lectern check` says about the search index; then the error of every failed item, counted.
Exits 1 when a save is lost, an item is stuck after the settle timeout, or the index disagrees.
Only loopback addresses are contacted; every loop is bounded in time; every process is stopped.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import warnings
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# tests/fixtures/app.py imports FastAPI's TestClient, which warns about itself; this script never uses it.
warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette.testclient`")

from sqlalchemy import create_engine, func, select  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402

from app.models import ACTIVE_STATUSES, IndexPending, Item, utcnow  # noqa: E402
from tests.e2e.stack import Stack, base_env, production_env  # noqa: E402
from tests.fixtures.fakeweb import FakeWeb, Route, make_test_pdf  # noqa: E402
from tests.fixtures.services import PG_URL, REDIS_URL, port_open  # noqa: E402

# Tests use Redis databases 0-14 (tests/fixtures/app.py: pid % 14 + 1); this run takes the last one.
REDIS_DB = 15
LEASE_SECONDS = "5"  # the default is 60 s; shorter so a killed job is taken up again within the run
DOWNLOAD_DELAY = 0.1  # seconds the stand-in web server takes to answer a PDF download
SETTLE_MAX_SECONDS = 3 * 3600  # a bound on the wait however slowly items keep finishing
DESCRIPTIONS = {
    "embedded": "SQLite + SQLite broker + embedded index",
    "production": "PostgreSQL + Redis + Meilisearch",
}


@dataclass
class Result:
    stack: str
    seconds: float
    clients: int
    kill_every: float
    requested: int = 0
    answered_201: int = 0
    other_answers: Counter = field(default_factory=Counter)  # "503 ..." / "ReadTimeout" -> count
    saved_ids: set[int] = field(default_factory=set)  # ids the 201 answers named
    db_ids: set[int] = field(default_factory=set)  # ids in the database after the run
    latencies_ms: list[float] = field(default_factory=list)
    kills: int = 0
    kills_mid_job: int = 0
    in_database: int = 0
    statuses: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)  # error of failed items -> count
    attempts: Counter = field(default_factory=Counter)  # attempts of ready items -> count
    settle_seconds: float = 0.0
    finished_at_load_end: int = 0
    index_pending: int = 0
    missing_from_index: int | None = None
    check_output: str = ""
    leftover_processes: list[str] = field(default_factory=list)
    workdir: Path | None = None

    @property
    def stuck(self) -> int:
        return self.in_database - self.statuses["ready"] - self.statuses["failed"]

    @property
    def lost_ids(self) -> int:
        """Saves answered 201 whose item is not in the database (by id; counts can hide this)."""
        return len(self.saved_ids - self.db_ids)

    def problems(self) -> list[str]:
        found = []
        if self.in_database != self.requested or self.answered_201 != self.requested or self.lost_ids:
            found.append(
                f"saves lost: {self.requested} requested, {self.answered_201} answered 201, "
                f"{self.in_database} in the database, {self.lost_ids} answered ids missing"
            )
        if self.stuck:
            found.append(f"{self.stuck} items stuck (neither ready nor failed) after the settle timeout")
        if self.index_pending:
            found.append(f"{self.index_pending} index updates still pending after the settle timeout")
        if self.missing_from_index is None or self.missing_from_index:
            found.append(f"`lectern check`: search index disagrees with the database:\n{self.check_output}")
        if self.leftover_processes:
            found.append(f"processes left running (killed now): {self.leftover_processes}")
        return found


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


# The services ------------------------------------------------------------------------------------


def production_services(workdir: Path, cleanups: ExitStack) -> dict[str, str]:
    """A fresh PostgreSQL schema, an empty Redis database and a throwaway Meilisearch."""
    import redis
    from sqlalchemy import text

    from tests.faults.servers import MeiliServer

    for what, port in (("PostgreSQL", 5432), ("Redis", 6379)):
        if not port_open("127.0.0.1", port):
            raise SystemExit(f"{what} is not running on 127.0.0.1:{port}")
    redis_url = REDIS_URL.rsplit("/", 1)[0] + f"/{REDIS_DB}"
    broker = redis.Redis.from_url(redis_url)
    if broker.dbsize():
        raise SystemExit(
            f"Redis database {REDIS_DB} is not empty: another reliability run may be using it. "
            f"If not, empty it with `redis-cli -n {REDIS_DB} flushdb`."
        )
    cleanups.callback(broker.close)
    cleanups.callback(broker.flushdb)

    schema = f"reliability_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))

    def drop_schema() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    cleanups.callback(drop_schema)

    meili = MeiliServer(workdir / "meili")
    cleanups.callback(meili.stop)
    meili.start()
    sep = "&" if "?" in PG_URL else "?"
    pg_url = f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    return production_env(pg_url, redis_url, meili.url, meili.KEY)


def _distinct_paper(query: dict[str, list[str]]) -> Route:
    """A different small PDF for every link, so every item is downloaded, extracted, thumbnailed
    and indexed (the same bytes would be extracted once and re-used); the download takes a moment,
    so kills land mid-job."""
    client, n = (query.get("client") or ["?"])[0], (query.get("n") or ["?"])[0]
    pdf = make_test_pdf(
        [f"Field notes {client}-{n}: the lyrebird mimics chainsaws.", "Second page.", "Third page."],
        title=f"Lyrebird study {client}-{n}",
    )
    return Route(pdf, "application/pdf", delay=DOWNLOAD_DELAY)


def database_url(stack: Stack) -> str:
    return stack.env.get("LECTERN_DATABASE_URL") or f"sqlite:///{stack.workdir / 'data' / 'lectern.db'}"


def count_states(engine: Engine) -> tuple[Counter, int]:
    """Items by status, and index updates not yet applied."""
    with engine.connect() as conn:
        statuses = Counter(dict(conn.execute(select(Item.status, func.count()).group_by(Item.status)).all()))
        pending = conn.execute(select(func.count()).select_from(IndexPending)).scalar_one()
    return statuses, pending


def jobs_running(engine: Engine) -> int:
    """Items a worker holds a live lease on, in a working state: a kill now lands mid-job."""
    with engine.connect() as conn:
        return conn.execute(
            select(func.count()).select_from(Item).where(
                Item.status.in_([s.value for s in ACTIVE_STATUSES]), Item.lease_until > utcnow()
            )
        ).scalar_one()


def own_processes(workdir: Path) -> list[tuple[int, str]]:
    """Processes still running from this run: working in its directory or naming it."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cwd = os.readlink(entry / "cwd")
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if cwd.startswith(str(workdir)) or str(workdir) in cmdline:
            found.append((int(entry.name), cmdline.strip()[:120]))
    return found


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# One run -----------------------------------------------------------------------------------------


def run_stack(name: str, args: argparse.Namespace) -> Result:
    result = Result(name, args.seconds, args.clients, args.kill_every)
    workdir = Path(tempfile.mkdtemp(prefix=f"lectern-reliability-{name}-"))
    result.workdir = workdir
    (workdir / "tmp").mkdir()
    with ExitStack() as cleanups:
        cleanups.callback(_reap, workdir, result)  # runs last
        web = FakeWeb()
        cleanups.callback(web.close)
        web.add_handler("/paper.pdf", _distinct_paper)
        extra = production_services(workdir, cleanups) if name == "production" else {}
        # TMPDIR: the worker's beat schedule files (one per start) stay inside the run's directory.
        env = base_env(workdir, web.base_url, LECTERN_JOB_LEASE_SECONDS=LEASE_SECONDS,
                       TMPDIR=str(workdir / "tmp"), **extra)
        stack = Stack(name, env, workdir)
        cleanups.callback(stack.stop)
        log(f"{name}: starting the web app and the worker in {workdir}")
        stack.start_web()
        stack.start_worker()
        engine = create_engine(database_url(stack))
        cleanups.callback(engine.dispose)
        _load(stack, engine, web.url("/paper.pdf"), result, args)
        _settle(engine, result, args.settle_timeout)
        with engine.connect() as conn:
            rows = conn.execute(select(Item.id, Item.status, Item.error, Item.attempts)).all()
        result.db_ids = {row.id for row in rows}
        result.in_database = len(rows)
        result.statuses = Counter(row.status for row in rows)
        result.errors = Counter((row.error or "(no error recorded)") for row in rows if row.status == "failed")
        result.attempts = Counter(row.attempts for row in rows if row.status == "ready")
        _check_index(stack, result)
    if not result.problems() and not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
        result.workdir = None
    return result


def _load(stack: Stack, engine: Engine, pdf_url: str, result: Result, args: argparse.Namespace) -> None:
    lock = threading.Lock()
    stop = threading.Event()
    started = time.monotonic()
    deadline = started + args.seconds

    def client(n: int) -> None:
        with stack.api() as api:
            i = 0
            while not stop.is_set() and time.monotonic() < deadline:
                i += 1
                url = f"{pdf_url}?client={n}&n={i}"
                began = time.perf_counter()
                item_id, failure = None, None
                try:
                    response = api.post("/api/v1/items", json={"url": url})
                    if response.status_code == 201:
                        item_id = response.json()["item"]["id"]
                    else:
                        failure = f"HTTP {response.status_code}: {response.text[:160]}"
                except httpx.HTTPError as exc:
                    failure = f"{type(exc).__name__}: {exc}"[:200]
                elapsed = (time.perf_counter() - began) * 1000
                with lock:
                    result.requested += 1
                    result.latencies_ms.append(elapsed)
                    if item_id is not None:
                        result.answered_201 += 1
                        result.saved_ids.add(item_id)
                    else:
                        result.other_answers[failure] += 1

    def killer() -> None:
        next_kill = started + args.kill_every
        while next_kill < deadline and not stop.wait(max(0.0, next_kill - time.monotonic())):
            try:
                result.kills_mid_job += 1 if jobs_running(engine) else 0
            except Exception as exc:  # noqa: BLE001 - only a statistic
                log(f"could not count running jobs: {exc}")
            stack.kill_worker()
            result.kills += 1
            stack.start_worker()
            log(f"{stack.name}: worker killed (SIGKILL to its process group) and started again "
                f"at {time.monotonic() - started:.1f} s")
            next_kill += args.kill_every

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(args.clients)]
    threads.append(threading.Thread(target=killer, daemon=True))
    log(f"{stack.name}: {args.clients} clients saving for {args.seconds:g} s, worker killed every "
        f"{args.kill_every:g} s")
    for t in threads:
        t.start()
    try:
        for t in threads:
            while t.is_alive():
                t.join(timeout=0.5)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=40)


def _settle(engine: Engine, result: Result, stall_timeout: float) -> None:
    """Wait until every item is ready or failed and the index outbox is empty, or until nothing
    has finished for ``stall_timeout`` seconds (then what is left counts as stuck); never longer
    than SETTLE_MAX_SECONDS."""
    began = last_report = last_progress = time.monotonic()
    finished_before = -1
    statuses, _ = count_states(engine)
    result.finished_at_load_end = statuses["ready"] + statuses["failed"]
    while True:
        statuses, pending = count_states(engine)
        finished = statuses["ready"] + statuses["failed"]
        open_items = sum(statuses.values()) - finished
        now = time.monotonic()
        if finished != finished_before:
            finished_before, last_progress = finished, now
        if open_items == 0 and pending == 0:
            break
        if now - last_progress > stall_timeout or now - began > SETTLE_MAX_SECONDS:
            log(f"settling: gave up, nothing finished for {now - last_progress:.0f} s")
            break
        if now - last_report >= 15:
            last_report = now
            log(f"settling: {open_items} items not done ({dict(statuses)}), {pending} index updates pending")
        time.sleep(0.5)
    result.settle_seconds = time.monotonic() - began
    result.index_pending = pending


def _check_index(stack: Stack, result: Result) -> None:
    """`lectern check`, as an operator would run it, for items missing from the search index."""
    done = subprocess.run([sys.executable, "-m", "app.cli", "check"], cwd=stack.workdir, env=stack.env,
                          capture_output=True, text=True, timeout=120)
    result.check_output = done.stdout.strip() + ("\n" + done.stderr.strip()[-2000:] if done.returncode > 1 else "")
    missing = re.search(r"items missing from the search index: (\d+)", done.stdout)
    stray = re.search(r"index entries without an item: (\d+)", done.stdout)
    if missing and stray and "search index not checked" not in done.stdout:
        result.missing_from_index = int(missing.group(1)) + int(stray.group(1))


def _reap(workdir: Path, result: Result) -> None:
    """After everything was stopped: anything of ours still running is reported and killed."""
    deadline = time.monotonic() + 10
    while (left := own_processes(workdir)) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid, cmdline in left:
        result.leftover_processes.append(f"{pid} {cmdline}")
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


# Report ------------------------------------------------------------------------------------------


def table(r: Result) -> str:
    lat = r.latencies_ms
    ready, failed = r.statuses["ready"], r.statuses["failed"]
    index = "not checked" if r.missing_from_index is None else f"{r.missing_from_index} items differ"
    rows = [
        ("saves requested", f"{r.requested}"),
        ("saves answered 201", f"{r.answered_201}"),
        ("saves answered otherwise", f"{sum(r.other_answers.values())}"),
        ("items saved (in the database)", f"{r.in_database}  ({'=' if r.in_database == r.requested else '≠'} requested)"),
        ("items ready", f"{ready}"),
        ("items failed", f"{failed}"),
        ("items stuck (neither)", f"{r.stuck}"),
        ("worker kills (landing mid-job)", f"{r.kills} ({r.kills_mid_job})"),
        ("items finished during the load", f"{r.finished_at_load_end}"),
        ("time to settle after the load", f"{r.settle_seconds:.1f} s "
         f"({(r.statuses['ready'] + r.statuses['failed'] - r.finished_at_load_end) / max(r.settle_seconds, 0.001):.1f} items/s)"),
        ("save latency p50", f"{statistics.median(lat) if lat else float('nan'):.0f} ms"),
        ("save latency p95", f"{percentile(lat, 0.95):.0f} ms"),
        ("save latency max", f"{max(lat) if lat else float('nan'):.0f} ms"),
        ("search index vs database", index),
        ("ready items by attempts", ", ".join(f"{n}×{k}" for k, n in sorted(r.attempts.items())) or "-"),
    ]
    width = max(len(k) for k, _ in rows)
    head = (f"{r.stack}: {DESCRIPTIONS[r.stack]}; {r.clients} clients for {r.seconds:g} s, "
            f"worker SIGKILLed every {r.kill_every:g} s")
    lines = [head, "-" * len(head)] + [f"{k:<{width}}  {v}" for k, v in rows]
    if r.errors:
        lines.append("failed items, by error:")
        lines += [f"  {n:>6}  {error}" for error, n in r.errors.most_common()]
    if r.other_answers:
        lines.append("saves not answered 201, by answer:")
        lines += [f"  {n:>6}  {answer}" for answer, n in r.other_answers.most_common()]
    problems = r.problems()
    lines.append("verdict: " + ("OK" if not problems else "FAILED"))
    lines += [f"  - {p}" for p in problems]
    if r.workdir:
        lines.append(f"logs kept in {r.workdir}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stack", choices=["embedded", "production", "both"], default="both")
    parser.add_argument("--seconds", type=float, default=60, help="how long the clients save (default 60)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument("--kill-every", type=float, default=10, help="seconds between worker kills (default 10)")
    parser.add_argument("--settle-timeout", type=float, default=360,
                        help="after the load, items still open when nothing has finished for this many "
                             "seconds are stuck (default 360: the sweeper re-sends a lost job after 300)")
    parser.add_argument("--keep", action="store_true", help="keep the run directories (logs) even when all is well")
    args = parser.parse_args()
    stacks = ["embedded", "production"] if args.stack == "both" else [args.stack]
    failed = False
    for name in stacks:
        result = run_stack(name, args)
        print(table(result) + "\n", flush=True)
        failed |= bool(result.problems())
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
