"""What a pause between requests costs the same work, in this process.

    .venv/bin/python bench/paced_bench.py               # 100 of each, each way, 2 rounds
    .venv/bin/python bench/paced_bench.py --runs 300 --pause 1.0

Figures 1 and 2 time one client sending back to back; figure 8's people pause between requests
(a search at most every 200 ms, a save every second), and its targets compare the two. This
times the same work three ways, with no server, no socket and no other thread:

- back to back: one after the other, as figures 1 and 2 send;
- after a sleep of ``--pause`` seconds (jittered x0.5-1.5), as figure 8's people send;
- after the same pause spent in a busy loop: this thread keeps the CPU meanwhile.

The work: a save (``items.save_item`` with the embedded broker, on a library in a temporary
directory), an embedded search (a word in all of 2,000 small documents, with facets and
snippets) and a fixed piece of pure Python (sorting 5,000 strings). Rounds alternate the order
of the three ways. Prints wall p50/p95 and CPU time (this thread's) p50 per way, and the p95 of
each way over back to back: the share of a paced request's time that no code in Lectern decides.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import pct  # noqa: E402

WAYS = ("back to back", "after a sleep", "after a busy wait")
WORDS = "model data learning network training language attention diffusion graph agent".split()


def pause(way: str, seconds: float, rng: random.Random) -> None:
    if way == "back to back":
        return
    seconds *= rng.uniform(0.5, 1.5)
    if way == "after a sleep":
        time.sleep(seconds)
        return
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def timed(work: Callable[[], object]) -> tuple[float, float]:
    """(wall ms, this thread's CPU ms) of one call."""
    wall, cpu = time.perf_counter(), time.thread_time()
    work()
    return (time.perf_counter() - wall) * 1000, (time.thread_time() - cpu) * 1000


def make_work(tmp: Path) -> tuple[dict[str, Callable[[], object]], Callable[[], None]]:
    """The three pieces of work, and what closes them."""
    from app.config import Settings
    from app.main import Services
    from app.search.base import SearchDocument
    from app.search.embedded import EmbeddedBackend
    from app.search.query import parse_query
    from app.services import items as items_service

    services = Services(Settings(data_dir=tmp / "data"))
    services.start()
    saved = iter(range(1, 10**9))

    def save() -> object:
        req = items_service.SaveRequest(url=f"https://example.org/paced/{next(saved)}", tags=["paced", "bench"])
        return items_service.save_item(services.factory, services.jobs, req)

    rng = random.Random(7)
    backend = EmbeddedBackend(tmp / "search.db")
    backend.setup()
    start = datetime(2025, 1, 1, tzinfo=UTC)
    backend.upsert([
        SearchDocument(
            item_id=i, kind=("paper", "tweet", "post")[i % 3], title=" ".join(rng.sample(WORDS, 4)) + f" model {i}",
            body=" ".join(rng.choice(WORDS) for _ in range(120)), tags=[f"tag{i % 7}"],
            saved_at=start + timedelta(minutes=i),
        )
        for i in range(1, 2001)
    ])
    query = parse_query("model", limit=20)

    def search() -> object:
        return backend.search(query)

    def python() -> object:
        return sorted(str(i * 7919 % 5000) for i in range(5000))

    def close() -> None:
        backend.close()
        services.close()

    return {"save": save, "search": search, "pure Python": python}, close


def measure(runs: int, rounds: int, seconds: float) -> dict[tuple[str, str], tuple[list[float], list[float]]]:
    out: dict[tuple[str, str], tuple[list[float], list[float]]] = {}
    rng = random.Random(1)
    with tempfile.TemporaryDirectory(prefix="lectern-paced-") as tmp:
        work, close = make_work(Path(tmp))
        try:
            for fn in work.values():  # warm up
                for _ in range(50):
                    fn()
            for r in range(rounds):
                ways = WAYS if r % 2 == 0 else tuple(reversed(WAYS))
                for way in ways:
                    for name, fn in work.items():
                        walls, cpus = out.setdefault((name, way), ([], []))
                        for _ in range(runs):
                            pause(way, seconds, rng)
                            wall, cpu = timed(fn)
                            walls.append(wall)
                            cpus.append(cpu)
                print(f"round {r + 1} of {rounds} done", file=sys.stderr)
        finally:
            close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=100, help="calls timed per work, way and round")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--pause", type=float, default=0.2, help="seconds between paced calls (jittered x0.5-1.5)")
    args = ap.parse_args()
    if args.runs < 1 or args.rounds < 1 or args.pause < 0:
        ap.error("--runs and --rounds must be 1 or more, --pause 0 or more")
    out = measure(args.runs, args.rounds, args.pause)
    print(f"\nThe same work back to back and paced ({args.pause} s pauses), ms; {args.runs} x {args.rounds} per row")
    print(f"{'work':<13}{'way':<19}{'wall p50':>9}{'p95':>8}{'CPU p50':>9}{'p95 / back to back':>20}")
    for name in dict.fromkeys(n for n, _ in out):
        base = pct(out[(name, WAYS[0])][0])[1]
        for way in WAYS:
            walls, cpus = out[(name, way)]
            p50, p95 = pct(walls)
            print(f"{name:<13}{way:<19}{p50:>9.2f}{p95:>8.2f}{pct(cpus)[0]:>9.2f}{p95 / base:>19.2f}x")


if __name__ == "__main__":
    main()
