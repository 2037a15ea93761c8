"""How long a short write waits while another process keeps writing: SQLite's own lock (its busy
handler retries after 1, 2, 5, 10, 15 ms...) beside the turns of app.db.TurnTakingConnection.

    .venv/bin/python bench/write_turns.py                  # 3 rounds of 20 s per variant
    .venv/bin/python bench/write_turns.py --rounds 5 --seconds 30 --hold-ms 1 12

The figure-8 situation without the rest of the stack: a "worker" process runs write transactions
one after another, each holding the write lock for a random 1-10 ms (--hold-ms), with a random
0-5 ms between them; the measuring process commits a one-row INSERT every 20 ms, as a save does,
and times it. Both use the same kind of connection: `sqlite` (SQLite's lock alone, SQLite's own
automatic checkpoint) or `turns` (make_engine, as Lectern runs). The variants alternate, a fresh
database each run; prints p50/p95/max of the INSERT + COMMIT per run and the medians per variant.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, create_engine, event, text  # noqa: E402

from app.config import Settings  # noqa: E402
from app.db import _sqlite_configurer, make_engine  # noqa: E402

VARIANTS = ("sqlite", "turns")


def engine_for(variant: str, data_dir: Path) -> Engine:
    settings = Settings(data_dir=data_dir)
    if variant == "turns":
        return make_engine(settings)
    settings.ensure_data_dir()  # the engine as it was before the turns: plain sqlite3 connections
    engine = create_engine(settings.effective_database_url,
                           connect_args={"check_same_thread": False, "timeout": settings.sqlite_busy_timeout})
    event.listen(engine, "connect", _sqlite_configurer(int(settings.sqlite_busy_timeout * 1000), None))
    return engine


def hold_writes(variant: str, data_dir: Path, seconds: float, hold_ms: tuple[float, float]) -> None:
    """The other writer: transactions that hold the lock for hold_ms, one after another."""
    engine = engine_for(variant, data_dir)
    rng = random.Random(1)
    end = time.monotonic() + seconds
    print("ready", flush=True)
    while time.monotonic() < end:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO t (who, pad) VALUES ('worker', :pad)"), {"pad": "x" * 2000})
            busy_until = time.perf_counter() + rng.uniform(*hold_ms) / 1000
            while time.perf_counter() < busy_until:  # holds the lock, on the CPU, as the worker does
                pass
        time.sleep(rng.uniform(0, 0.005))
    engine.dispose()


def measure(variant: str, seconds: float, hold_ms: tuple[float, float]) -> list[float]:
    with tempfile.TemporaryDirectory(prefix="lectern-turns-") as tmp:
        data_dir = Path(tmp)
        engine = engine_for(variant, data_dir)
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, who TEXT, pad TEXT)"))
        other = subprocess.Popen(
            [sys.executable, __file__, "--hold", variant, str(data_dir), str(seconds + 2), *map(str, hold_ms)],
            stdout=subprocess.PIPE, text=True,
        )
        try:
            assert other.stdout is not None and other.stdout.readline().strip() == "ready"
            times = []
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                t0 = time.perf_counter()
                with engine.begin() as conn:
                    conn.execute(text("INSERT INTO t (who, pad) VALUES ('save', 'x')"))
                times.append((time.perf_counter() - t0) * 1000)
                time.sleep(0.02)
        finally:
            other.wait()
            engine.dispose()
        return times


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--hold":
        _, _, variant, data_dir, seconds, low, high = sys.argv
        hold_writes(variant, Path(data_dir), float(seconds), (float(low), float(high)))
        return 0
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--hold-ms", type=float, nargs=2, default=(1.0, 10.0), metavar=("LOW", "HIGH"))
    args = ap.parse_args()
    rows: list[tuple[str, int, float, float, float, int]] = []
    for r in range(args.rounds):
        for variant in VARIANTS if r % 2 == 0 else VARIANTS[::-1]:
            times = measure(variant, args.seconds, tuple(args.hold_ms))
            row = (variant, r + 1, pct(times, 0.5), pct(times, 0.95), max(times), len(times))
            rows.append(row)
            print(f"round {r + 1} {variant}: p50 {row[2]:.2f} p95 {row[3]:.2f} max {row[4]:.1f} ms",
                  file=sys.stderr)
    print(f"one-row INSERT + COMMIT while another process holds the write lock {args.hold_ms[0]:g}-"
          f"{args.hold_ms[1]:g} ms at a time; ms")
    print(f"{'variant':<8} {'round':>5} {'p50':>7} {'p95':>7} {'max':>7} {'n':>5}")
    for variant, rnd, p50, p95, mx, n in rows:
        print(f"{variant:<8} {rnd:>5} {p50:7.2f} {p95:7.2f} {mx:7.1f} {n:>5}")
    for variant in VARIANTS:
        mine = [row for row in rows if row[0] == variant]
        print(f"{variant:<8} {'med':>5} {statistics.median(r[2] for r in mine):7.2f} "
              f"{statistics.median(r[3] for r in mine):7.2f} {statistics.median(r[4] for r in mine):7.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
