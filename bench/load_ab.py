"""Figure 8 (search and save under load) for two or more settings of the web process, alternated
on one library, so a change to the web process can be judged on the ratio it moves.

    .venv/bin/python bench/load_ab.py --library /tmp/lectern-bench-XXXX \\
        --variant nice10:LECTERN_WORKER_NICE=10 --variant nice19:LECTERN_WORKER_NICE=19
    # two versions of the code: PYTHONPATH names the checkout the web and the worker run
    git worktree add /tmp/lectern-old HEAD~1
    .venv/bin/python bench/load_ab.py --library /tmp/lectern-bench-XXXX \
        --variant old:PYTHONPATH=/tmp/lectern-old --variant new:PYTHONPATH=$PWD

``--library`` is a directory a ``bench/run --keep`` run left (its ``embedded/``). Each round runs
every variant once, in turn (the order reversed every other round), each on a fresh copy of the
library with its own embedded stack (web + worker, the variant's environment added): first the
idle figures as ``bench/run`` measures them (one client saving back to back with the worker
busy, figure 1; the 200 search queries one after the other, figure 2), then the load of figure 8
(four people typing searches, four saving a link a second, the worker importing a BibTeX file and
then arXiv papers). Prints one row per run and the medians per variant of each figure and of the
load/idle ratios. With ``--burst S``, each run then has the same eight people back to back for S
seconds (figure 8's last rows: the throughput and latency at saturation), in a second table.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.data import stack_env  # noqa: E402
from bench.run import SLOW_SQL_MS, Bench, ms, pct  # noqa: E402
from tests.e2e.stack import Stack  # noqa: E402


def parse_variant(text: str) -> tuple[str, dict[str, str]]:
    name, _, rest = text.partition(":")
    env = {}
    for pair in filter(None, rest.split(",")):
        key, eq, value = pair.partition("=")
        if not eq or not (key.startswith("LECTERN_") or key == "PYTHONPATH"):
            raise SystemExit(f"--variant {text!r}: expected NAME:LECTERN_X=value[,LECTERN_Y=value]"
                             " (or PYTHONPATH=<a checkout>)")
        env[key] = value
    return name, env


class LoadAB:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        library = Path(args.library)
        self.source = library / "embedded" if (library / "embedded" / "lectern.db").exists() else library
        if not (self.source / "lectern.db").exists():
            raise SystemExit(f"{library} holds no lectern.db (nor embedded/lectern.db)")
        bench_args = argparse.Namespace(quick=False, backends="embedded", library=str(library), size=None,
                                        stack="embedded", keep=False)
        self.bench = Bench(bench_args)
        self.bench.stand_in_pages()
        self.bench.build()  # copies the library once: arXiv numbering and counts
        self.workdir = Path(tempfile.mkdtemp(prefix="lectern-load-ab-"))
        self.rows: list[dict] = []

    def run_one(self, name: str, env: dict[str, str], round_no: int) -> dict:
        b = self.bench
        run_dir = self.workdir / f"{round_no}-{name}"
        data_dir = run_dir / "data"
        shutil.copytree(self.source, data_dir, ignore=shutil.ignore_patterns("*-wal", "*-shm"))
        run_env = stack_env(run_dir, b.web.base_url, LECTERN_DATA_DIR=str(data_dir), LECTERN_LOG_LEVEL="WARNING",
                            LECTERN_SLOW_SQL_MS=str(SLOW_SQL_MS), **env)
        stack = Stack(name, run_env, run_dir)
        b.emb = stack
        try:
            stack.start_web()
            b.start_worker(stack, f"worker {name}")
            # Idle: figure 2's queries one after the other, then figure 1 (it adds a URL row and a
            # tweet row; figure 8 divides by the larger of them, as here).
            search_idle = []
            with stack.browser() as client:
                for _, q in b.queries():
                    search_idle.append(ms(lambda q=q: client.get(f"/search?q={quote(q)}",
                                                                 headers={"HX-Request": "true"}).raise_for_status()))
            b.fig_save(stack, name)
            url_row, tweet_row = b.report.rows[-2:]
            save_idle = (max(url_row.p50, tweet_row.p50), max(url_row.p95, tweet_row.p95))
            times, errors, _ = b.under_load(self.args.seconds)
            search_t, save_t = times["search"], times["save"]
            burst = b.saturation(self.args.burst) if self.args.burst else None
        finally:
            stack.stop()
            shutil.rmtree(data_dir, ignore_errors=True)
        row = {"variant": name, "round": round_no, "errors": len(errors)}
        row.update(search_idle=pct(search_idle), save_idle=save_idle, search_load=pct(search_t),
                   save_load=pct(save_t))
        row["search_ratio"] = row["search_load"][1] / row["search_idle"][1]
        row["save_ratio"] = row["save_load"][1] / row["save_idle"][1]
        if burst is not None:
            burst_times, burst_errors, _ = burst
            row["burst"] = {what: (len(xs) / self.args.burst, *pct(xs)) for what, xs in burst_times.items() if xs}
            row["errors"] += len(burst_errors)
        return row

    def run(self) -> None:
        variants = [parse_variant(v) for v in self.args.variant]
        for r in range(self.args.rounds):
            order = variants if r % 2 == 0 else variants[::-1]
            for name, env in order:
                t = time.perf_counter()
                row = self.run_one(name, env, r + 1)
                self.rows.append(row)
                print(f"round {r + 1} {name}: {fmt(row)}  ({time.perf_counter() - t:.0f} s)", file=sys.stderr)
        print(self.table(variants))

    def table(self, variants) -> str:
        head = (f"{'variant':<12} {'round':>5} {'search idle':>13} {'search load':>13} {'ratio':>6} "
                f"{'save idle':>13} {'save load':>13} {'ratio':>6} {'err':>4}")
        lines = ["p50/p95 ms; ratio = load p95 / idle p95", head, "-" * len(head)]
        for row in self.rows:
            lines.append(f"{row['variant']:<12} {row['round']:>5} {fmt(row)}")
        lines.append("-" * len(head))
        for name, _ in variants:
            rows = [r for r in self.rows if r["variant"] == name]
            med = {k: tuple(statistics.median(r[k][i] for r in rows) for i in (0, 1))
                   for k in ("search_idle", "search_load", "save_idle", "save_load")}
            med.update({k: statistics.median(r[k] for r in rows) for k in ("search_ratio", "save_ratio")})
            med["errors"] = sum(r["errors"] for r in rows)
            lines.append(f"{name:<12} {'med':>5} {fmt(med)}")
        if self.args.burst:
            lines += ["", f"8 people back to back for {self.args.burst:g} s: requests/s, p50/p95 ms",
                      f"{'variant':<12} {'round':>5} {'search/s':>9} {'search':>13} {'save/s':>7} {'save':>13}"]
            for row in self.rows:
                lines.append(f"{row['variant']:<12} {row['round']:>5} {fmt_burst(row['burst'])}")
            for name, _ in variants:
                rows = [r["burst"] for r in self.rows if r["variant"] == name]
                med = {what: tuple(statistics.median(r[what][i] for r in rows) for i in range(3))
                       for what in ("search", "save")}
                lines.append(f"{name:<12} {'med':>5} {fmt_burst(med)}")
        return "\n".join(lines)

    def close(self) -> None:
        self.bench.close()
        shutil.rmtree(self.workdir, ignore_errors=True)
        shutil.rmtree(self.bench.workdir, ignore_errors=True)


def fmt(row: dict) -> str:
    pair = lambda p: f"{p[0]:6.1f}/{p[1]:6.1f}"  # noqa: E731
    return (f"{pair(row['search_idle'])} {pair(row['search_load'])} {row['search_ratio']:6.2f} "
            f"{pair(row['save_idle'])} {pair(row['save_load'])} {row['save_ratio']:6.2f} {row['errors']:>4}")


def fmt_burst(burst: dict) -> str:
    def one(what: str) -> str:
        rate, p50, p95 = burst[what]
        return f"{rate:>{9 if what == 'search' else 7}.1f} {p50:6.1f}/{p95:6.1f}"

    return f"{one('search')} {one('save')}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--library", required=True, help="a directory a bench/run --keep run left")
    ap.add_argument("--variant", action="append", required=True,
                    help="NAME:LECTERN_X=value[,LECTERN_Y=value] (NAME: alone runs the defaults; "
                         "PYTHONPATH=<dir>: the code of that checkout); two or more")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=40, help="length of the load (figure 8 uses 60)")
    ap.add_argument("--burst", type=float, default=0,
                    help="then the eight people back to back for this many seconds (figure 8 uses 20; 0: not)")
    args = ap.parse_args()
    if len(args.variant) < 2:
        ap.error("give two or more --variant")
    ab = LoadAB(args)
    try:
        ab.run()
    finally:
        ab.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
