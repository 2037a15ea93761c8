"""Chromium for browser tests (Debian's /usr/bin/chromium through Python Playwright's sync API), and
Lectern served by a real uvicorn server on a free loopback port.

    def test_x(browser_page, live_app): browser_page.goto(live_app.url + "/")
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fixtures.app import ROOT, TEST_PASSWORD, make_settings, wait_for
from tests.fixtures.services import free_port, service_missing

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
ARTIFACTS = ROOT / "test-artifacts"


def artifact(name: str) -> Path:
    """A path under test-artifacts/ (gitignored) for screenshots and traces."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / name


@dataclass
class LiveApp:
    url: str
    app: object
    settings: object

    @property
    def services(self):
        return self.app.state.services  # type: ignore[attr-defined]


@contextmanager
def serve(settings) -> Iterator[LiveApp]:
    """Lectern with these settings on a real uvicorn server (no broker: tests apply the index
    outbox with app.services.indexing.apply_pending, as the worker would)."""
    import uvicorn

    from app.main import create_app
    from app.services.jobs import NoJobQueue

    app = create_app(settings, jobs=NoJobQueue())
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, timeout=30, what="uvicorn to start")
    try:
        yield LiveApp(url=f"http://127.0.0.1:{port}", app=app, settings=settings)
    finally:
        server.should_exit = True
        thread.join(timeout=15)


@pytest.fixture
def live_app(tmp_path: Path) -> Iterator[LiveApp]:
    """Lectern on the embedded default (SQLite and its search index)."""
    with serve(make_settings(tmp_path)) as live:
        yield live


@pytest.fixture(scope="session")
def chromium():
    if not os.path.exists(CHROMIUM):
        service_missing(f"Chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def browser_context(chromium):
    context = chromium.new_context(viewport={"width": 1360, "height": 900})
    yield context
    context.close()


def log_in(page, base_url: str, password: str = TEST_PASSWORD) -> None:
    page.goto(base_url + "/login")
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(base_url + "/")
