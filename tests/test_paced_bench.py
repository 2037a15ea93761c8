"""bench/paced_bench.py: the same save, search and pure Python, timed back to back and paced.

A harness check (every piece of work timed each way, each doing what it says), never a speed."""

from __future__ import annotations

from bench.paced_bench import WAYS, make_work, measure, pause


def test_the_work_saves_searches_and_sorts(tmp_path):
    work, close = make_work(tmp_path)
    try:
        first, second = work["save"](), work["save"]()
        assert first.created and second.created and first.item.id != second.item.id
        found = work["search"]()
        assert found.total == 2000 and len(found.hits) == 20 and found.facets["kind"]
        assert len(work["pure Python"]()) == 5000
    finally:
        close()


def test_each_piece_of_work_is_timed_each_way():
    out = measure(runs=3, rounds=2, seconds=0.01)
    assert set(out) == {(name, way) for name in ("save", "search", "pure Python") for way in WAYS}
    for walls, cpus in out.values():
        assert len(walls) == len(cpus) == 6
        assert all(w > 0 and c >= 0 for w, c in zip(walls, cpus, strict=True))


def test_a_busy_wait_keeps_the_cpu_and_a_sleep_gives_it_up():
    import random
    import time

    rng = random.Random(0)
    for way, busy in (("after a busy wait", True), ("after a sleep", False)):
        wall, cpu = time.perf_counter(), time.thread_time()
        pause(way, 0.1, rng)
        wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
        assert 0.05 <= wall < 1.0
        assert (cpu > wall / 2) is busy
    wall = time.perf_counter()
    pause("back to back", 0.1, rng)
    assert time.perf_counter() - wall < 0.01


def test_counts_below_one_and_a_negative_pause_are_refused_with_a_message():
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    for bad in (["--runs", "0"], ["--rounds", "0"], ["--pause", "-1"]):
        proc = subprocess.run([sys.executable, "bench/paced_bench.py", *bad], capture_output=True, text=True,
                              timeout=60, cwd=root)
        assert proc.returncode == 2 and "--runs and --rounds must be 1 or more" in proc.stderr
