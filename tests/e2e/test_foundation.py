"""The spine end to end, as a user runs it: save a link, the worker fetches and extracts the PDF,
the text is searchable — on the embedded default and on PostgreSQL + Redis + Meilisearch, each with
real `lectern serve` and `lectern worker` processes."""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.stack import Stack, base_env, production_env
from tests.fixtures.app import wait_for
from tests.fixtures.fakeweb import FakeWeb, make_test_pdf

ARXIV_ID = "2502.09992"
PAGES = [
    "Large Language Diffusion Models. We introduce a masked diffusion language model.\n"
    "大型语言扩散模型：我们提出一种掩码扩散语言模型。",
    "Method. The forward process masks tokens independently; the reverse process predicts them.\n"
    "方法：前向过程独立地遮盖词元。",
    "Experiments. On the zanzibarite benchmark the model matches autoregressive baselines.\n"
    "实验：在基准测试上，模型的参数量与自回归基线相当，推理速度更快。",
    "Conclusion. Diffusion is a viable alternative for language modeling.",
]


def serve_paper(web: FakeWeb, *, delay: float = 0.0) -> None:
    pdf = make_test_pdf(PAGES, title="Large Language Diffusion Models", authors=["Shen Nie", "Fengqi Zhu"])
    web.add_arxiv_paper(
        ARXIV_ID, "Large Language Diffusion Models", ["Shen Nie", "Fengqi Zhu", "Zebin You"],
        "Autoregressive models are widely regarded as the cornerstone of large language models.", pdf,
    )
    if delay:
        for suffix in ("", "v2"):
            web.add(f"/pdf/{ARXIV_ID}{suffix}", pdf, "application/pdf", delay=delay)


@pytest.fixture(params=["embedded", "production"])
def stack(request, tmp_path, fakeweb) -> Iterator[Stack]:
    extra: dict[str, str] = {}
    if request.param == "production":
        pg = request.getfixturevalue("pg_database_url")
        redis = request.getfixturevalue("redis_url")
        meili = request.getfixturevalue("meili_server")
        from tests.e2e.stack import flush_redis_db

        flush_redis_db(redis)
        extra = production_env(pg, redis, meili.url, meili.key)
    workdir = tmp_path / "run"
    workdir.mkdir()
    s = Stack(request.param, base_env(workdir, fakeweb.base_url, **extra), workdir)
    s.fakeweb = fakeweb  # type: ignore[attr-defined]
    try:
        yield s
    finally:
        s.stop()


def test_saved_arxiv_paper_is_extracted_per_page_and_searchable(stack: Stack):
    serve_paper(stack.fakeweb)
    stack.start_web()
    stack.start_worker()
    with stack.api() as api:
        saved = api.post("/api/v1/items", json={"url": f"https://arxiv.org/abs/{ARXIV_ID}v2"})
        assert saved.status_code == 201, saved.text
        item_id = saved.json()["item"]["id"]
        item = stack.wait_item(item_id)
        assert item["status"] == "ready", item
        assert item["kind"] == "paper"
        assert item["title"] == "Large Language Diffusion Models"
        assert item["authors"][:2] == ["Shen Nie", "Fengqi Zhu"]
        assert item["arxiv_id"] == ARXIV_ID
        assert item["page_count"] == 4

        # The same paper through its other forms is the same item.
        for form in (f"https://arxiv.org/abs/{ARXIV_ID}", f"https://arxiv.org/pdf/{ARXIV_ID}",
                     f"http://www.arxiv.org/pdf/{ARXIV_ID}v1.pdf"):
            again = api.post("/api/v1/items", json={"url": form})
            assert again.status_code == 200, again.text
            assert again.json()["created"] is False and again.json()["item"]["id"] == item_id

        # A word only on page 3, and a Chinese word inside a longer one on page 3.
        for query in ("zanzibarite", "参数"):
            found = api.get("/api/v1/search", params={"q": query}).json()
            hits = [h for h in found["hits"] if h["item_id"] == item_id]
            assert hits, (query, found)
            assert hits[0]["page"] == 3, (query, hits[0])

    # The PDF was stored once, content-addressed; the reader shows page anchors.
    with stack.browser() as browser:
        page = browser.get(f"/items/{item_id}").text
        assert 'id="page-3"' in page and "zanzibarite" in page
    if stack.name == "embedded":
        stored = list((stack.workdir / "data" / "files").rglob("*.pdf"))
        assert len(stored) == 1


def test_killed_worker_job_runs_again_and_ends_ready_once(stack: Stack):
    serve_paper(stack.fakeweb, delay=3.0)  # the download takes 3 s: time to kill the worker in it
    stack.start_web()
    worker = stack.start_worker()
    with stack.api() as api:
        item_id = api.post("/api/v1/items", json={"url": f"https://arxiv.org/abs/{ARXIV_ID}"}).json()["item"]["id"]
        stack.wait_item(item_id, states=("fetching", "extracting"), timeout=60)
        # Background work yields the CPU to the pages people wait on (LECTERN_WORKER_NICE, 10).
        assert os.getpriority(os.PRIO_PROCESS, worker.pid) == min(19, os.getpriority(os.PRIO_PROCESS, 0) + 10)
        stack.kill_worker()
        assert worker.poll() is not None
        stuck = api.get(f"/api/v1/items/{item_id}").json()
        assert stuck["status"] in ("fetching", "extracting")
        stack.start_worker()
        item = stack.wait_item(item_id, timeout=90)
        assert item["status"] == "ready", item
        assert item["attempts"] >= 2
        listed = api.get("/api/v1/search", params={"q": "zanzibarite"}).json()
        assert [h["item_id"] for h in listed["hits"]] == [item_id]


def test_a_stopped_worker_leaves_nothing_in_the_temporary_directory(stack: Stack, tmp_path):
    """Beat's schedule (a shelve file) lives in a directory that goes with the worker: it used to
    stay in /tmp, three files per worker start. A worker without beat makes none; the directory of
    a worker killed outright is removed by the next worker."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    stack.env["TMPDIR"] = str(tmp)
    worker = stack.start_worker()
    wait_for(lambda: list(tmp.glob("lectern-beat-*/schedule*")), timeout=60, what="beat's schedule file")
    os.killpg(worker.pid, signal.SIGTERM)
    assert worker.wait(timeout=30) == 0
    assert list(tmp.iterdir()) == []
    # A worker without the schedule makes no directory for it.
    log = stack.workdir / "worker.log"
    start = log.stat().st_size
    worker = stack.start_worker("--no-beat")
    wait_for(lambda: b" ready." in log.read_bytes()[start:], timeout=60, what="the worker to be ready")
    assert list(tmp.glob("lectern-beat-*")) == []
    os.killpg(worker.pid, signal.SIGTERM)
    assert worker.wait(timeout=30) == 0
    assert list(tmp.iterdir()) == []
    # A worker killed outright leaves its directory; the next worker removes it.
    worker = stack.start_worker()
    wait_for(lambda: list(tmp.glob("lectern-beat-*/schedule*")), timeout=60, what="beat's schedule file")
    stack.kill_worker()
    abandoned = list(tmp.glob("lectern-beat-*"))
    assert len(abandoned) == 1
    worker = stack.start_worker()
    wait_for(lambda: list(tmp.glob("lectern-beat-*/schedule*")) and not abandoned[0].exists(), timeout=60,
             what="a new schedule file, and the killed worker's directory gone")
    os.killpg(worker.pid, signal.SIGTERM)
    assert worker.wait(timeout=30) == 0
    assert list(tmp.glob("lectern-beat-*")) == []


def test_bad_links_fail_with_a_clear_message_and_the_worker_keeps_serving(stack: Stack):
    web = stack.fakeweb
    web.add("/paper.pdf", "<html><body>Please log in</body></html>", "text/html")
    web.add("/broken.pdf", b"%PDF-1.7\n" + b"\x00garbage" * 200, "application/pdf")
    serve_paper(web)
    stack.start_web()
    stack.start_worker()
    cases = {
        web.url("/missing-page"): "404",
        web.url("/paper.pdf"): "not a PDF",
        web.url("/broken.pdf"): "PDF",
    }
    with stack.api() as api:
        ids = {}
        for url in cases:
            response = api.post("/api/v1/items", json={"url": url})
            assert response.status_code == 201, response.text
            ids[url] = response.json()["item"]["id"]
        good = api.post("/api/v1/items", json={"url": f"https://arxiv.org/abs/{ARXIV_ID}"}).json()["item"]["id"]
        for url, expected in cases.items():
            item = stack.wait_item(ids[url])
            assert item["status"] == "failed", item
            assert expected.lower() in item["error"].lower(), item["error"]
        assert stack.wait_item(good)["status"] == "ready"
    with stack.browser() as browser:
        for url, expected in cases.items():
            page = browser.get(f"/items/{ids[url]}").text
            assert "Failed" in page and "Retry" in page
            assert expected.lower() in page.lower()


def test_plain_serve_starts_its_own_worker(tmp_path, fakeweb):
    serve_paper(fakeweb)
    workdir = tmp_path / "run"
    workdir.mkdir()
    s = Stack("embedded", base_env(workdir, fakeweb.base_url), workdir)
    try:
        s.start_web(with_worker=True)
        with s.api() as api:
            item_id = api.post("/api/v1/items", json={"url": f"https://arxiv.org/abs/{ARXIV_ID}"}).json()["item"]["id"]
        assert s.wait_item(item_id)["status"] == "ready"
        assert (workdir / "data" / "lectern.db").exists() and (workdir / "data" / "broker.db").exists()

        # However serve dies, its worker goes with it (no orphan keeps the data directory busy).
        found = re.search(r"Started the worker \(pid (\d+)\)", (workdir / "web.log").read_text())
        assert found, (workdir / "web.log").read_text()
        worker_pid = int(found.group(1))
        os.kill(s.processes[0].pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while _alive(worker_pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _alive(worker_pid), "the worker outlived a killed `lectern serve`"
    finally:
        s.stop()


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited; only its parent's wait() is missing
