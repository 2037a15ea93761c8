"""bench/run, the one benchmark command: a quick run goes end to end on both stacks, measures
every figure of issue 8 beside its limit and writes the table it prints as JSON.

What is checked is that the harness works (every figure measured, no request failed under load,
the exit status agrees with the verdicts), never a speed: targets are read off a full run
(`bench/run --size 100000 --stack all`), not asserted on a shared machine.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.meili import meili_binary
from tests.fixtures.services import port_open, service_missing

ROOT = Path(__file__).resolve().parent.parent

# The run takes 2-3 minutes; whichever test comes first pays for it.
pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis, pytest.mark.meili, pytest.mark.timeout(960)]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], dict]:
    if not port_open("127.0.0.1", 5432):
        service_missing("PostgreSQL on 127.0.0.1:5432")
    if not port_open("127.0.0.1", 6379):
        service_missing("Redis on 127.0.0.1:6379")
    if meili_binary() is None:
        service_missing("the Meilisearch binary")
    out = tmp_path_factory.mktemp("bench-out")
    proc = subprocess.run(
        [sys.executable, "bench/run.py", "--quick", "--stack", "all", "--size", "300", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )
    results = out / "results.json"
    assert results.is_file(), f"exit {proc.returncode}, no results.json; stderr:\n{proc.stderr[-4000:]}"
    return proc, json.loads(results.read_text())


def test_a_quick_run_measures_every_figure_on_both_stacks(quick_run: tuple[subprocess.CompletedProcess[str], dict]) -> None:
    proc, data = quick_run
    rows = data["rows"]
    assert data["counts"]["items"] == 300 and data["counts"]["pdfs"] > 0
    assert {r["figure"] for r in rows} == {str(n) for n in range(1, 9)}
    whats = [r["what"] for r in rows]
    for expected in (
        "search embedded: all", "search meilisearch: all", "save URL (embedded", "save URL (production",
        "save arXiv URL -> found by its title (embedded", "save arXiv URL -> found by its title (production",
        "reindex embedded", "reindex meilisearch", "BibTeX import", "extraction step",
        "library page, 50 items", "search under load", "save under load", "search, the 4 searchers alone",
        "save, the 4 savers alone", "ping, 4 clients at the searchers' pace",
        "peak RSS web (embedded)", "peak RSS worker (embedded)", "peak RSS web (production)",
        "peak RSS worker (production)", "peak RSS meilisearch",
    ):
        assert any(w.startswith(expected) for w in whats), f"no row for {expected!r} in {whats}"
    for r in rows:
        assert r["p50"] is not None and math.isfinite(r["p50"]) and r["p50"] > 0, r
    # Each timed row stands beside its limit, measured in the same run.
    for r in rows:
        if r["unit"] == "ms" and r["figure"] in {"1", "2", "3", "5"}:
            assert r["limit_p95"] and r["limit_p95"] > 0 and r["ratio"] == pytest.approx(r["p95"] / r["limit_p95"]), r
    # The same number of SQL queries for 10 and for 50 items holds whatever the machine's speed.
    queries = next(r for r in rows if r["what"].startswith("library page SQL queries"))
    assert queries["ok"] is True, queries


def test_no_request_fails_under_load(quick_run: tuple[subprocess.CompletedProcess[str], dict]) -> None:
    _, data = quick_run
    loaded = [r for r in data["rows"] if r["figure"] == "8"]
    assert len(loaded) == 7
    for r in loaded:
        assert r["extra"]["requests"] > 0 and r["extra"]["errors"] == 0, r


def test_the_table_and_exit_status_agree_with_the_json(quick_run: tuple[subprocess.CompletedProcess[str], dict]) -> None:
    proc, data = quick_run
    assert data["title"] in proc.stdout
    for r in data["rows"]:
        assert r["what"][:40] in proc.stdout
    missed = [r["what"] for r in data["rows"] if r["ok"] is False]
    assert proc.returncode == (1 if missed else 0), (proc.returncode, missed, proc.stderr[-2000:])
    rss = [r for r in data["rows"] if r["what"].startswith("peak RSS")]
    for r in rss:
        assert 0 < r["extra"]["largest_rss_anon_mb"] <= r["p95"], r
