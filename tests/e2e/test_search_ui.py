"""Searching as one types in Chromium, on Meilisearch: the hits come first, then the count and the
facets load into the page by themselves, and a facet narrows the results."""

from __future__ import annotations

import re

import meilisearch
import pytest
from playwright.sync_api import expect

from app.services.indexing import apply_pending
from app.services.items import SaveRequest, save_item
from app.services.jobs import NoJobQueue
from tests.e2e.browser import log_in, serve
from tests.fixtures.app import make_settings

pytestmark = [pytest.mark.browser]


def test_counts_and_facets_load_after_the_hits(tmp_path, meili_server, meili_index_name, browser_context):
    settings = make_settings(tmp_path, search_backend="meilisearch", meili_url=meili_server.url,
                             meili_key=meili_server.key, meili_index=meili_index_name)
    with serve(settings) as live:
        factory = live.services.factory
        for i in range(25):
            save_item(factory, NoJobQueue(), SaveRequest(
                url=f"https://example.org/d{i}", title=f"Diffusion study {i}", kind="paper" if i % 5 else "post"))
        apply_pending(factory, live.services.search)

        page = browser_context.new_page()
        log_in(page, live.url)
        counts_requests: list[str] = []
        page.on("request", lambda r: counts_requests.append(r.url) if "/search/counts" in r.url else None)
        page.goto(live.url + "/search")
        page.locator("#search-input").type("diffusion")
        expect(page.locator("#results .hit")).to_have_count(20)
        expect(page.locator("#counts .count")).to_have_text(re.compile(r"^25 results for “diffusion”$"))
        assert len(counts_requests) == 1 and "matched=" in counts_requests[0]

        page.locator("#counts a.facet", has_text="post").click()
        expect(page.locator("#results .hit")).to_have_count(5)
        expect(page).to_have_url(re.compile(r"q=diffusion(%20|\+)kind%3Apost"))
        # Five results fit on one page: counted with the hits, no second request.
        expect(page.locator("#counts .count")).to_have_text(re.compile(r"^5 results for"))
        assert len(counts_requests) == 1

        # The engine fails: the page says so in place of the results (an HTMX 503 is swapped in).
        admin = meilisearch.Client(meili_server.url, meili_server.key)
        admin.wait_for_task(admin.delete_index(meili_index_name).task_uid)
        page.locator("#search-input").fill("diffusion study")
        expect(page.locator("#results .error")).to_contain_text("Search is unavailable")
