"""The search page through the ASGI app: results fragment, facets as toggling links, sort, saved
searches, escaping, and the page when the engine is down."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

import pytest

from app.models import Item
from app.services.indexing import apply_pending
from app.services.items import SaveRequest, save_item
from app.services.jobs import NoJobQueue
from app.services.search import facet_links
from tests.fixtures.app import csrf_of, login, make_settings


class Links(HTMLParser):
    def __init__(self, html: str) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []
        self._href: str | None = None
        self._text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self._href, self._text = dict(attrs).get("href", ""), []

    def handle_data(self, data):
        if self._href is not None:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag == "a" and self._href is not None:
            self.links.append((self._href, " ".join("".join(self._text).split())))
            self._href = None


def _library(client):
    services = client.app.state.services
    rows = [
        ("https://arxiv.org/abs/2502.09992", "Large Language Diffusion Models", ["ml/diffusion"], "paper"),
        ("https://example.org/post", "Diffusion for <script>alert(1)</script> text", ["blog"], "post"),
        ("https://example.org/other", "Unrelated survey of sorting", ["ml"], "link"),
    ]
    ids = []
    for url, title, tags, kind in rows:
        item = save_item(services.factory, NoJobQueue(), SaveRequest(url=url, title=title, tags=tags, kind=kind)).item
        ids.append(item.id)
    apply_pending(services.factory, services.search)
    return ids


def test_results_fragment_for_htmx_and_full_page_otherwise(client):
    _library(client)
    fragment = client.get("/search", params={"q": "diffusion"}, headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert fragment.text.lstrip().startswith('<section id="results"') and "<html" not in fragment.text
    page = client.get("/search", params={"q": "diffusion"})
    assert "<html" in page.text and 'id="results"' in page.text
    assert "2 results" in page.text


def test_titles_are_escaped_and_only_marks_are_added(client):
    _library(client)
    page = client.get("/search", params={"q": "diffusion"}).text
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;" in page
    assert re.search(r"<mark>Diffusion</mark>", page, flags=re.I)


def test_facets_are_links_that_toggle_their_filter(client):
    _library(client)
    page = client.get("/search", params={"q": "diffusion"}).text
    links = dict((text, href) for href, text in Links(page).links)
    paper_link = next(href for text, href in links.items() if text.startswith("paper"))
    assert "kind%3Apaper" in paper_link
    filtered = client.get(paper_link).text
    assert "1 result " in filtered and "Large Language" in filtered
    active = [href for href, text in Links(filtered).links if text.startswith("paper")]
    assert active and "kind%3Apaper" not in active[0]  # clicking again removes the filter


def test_tag_facet_and_query_syntax_agree(client):
    _library(client)
    by_syntax = client.get("/search", params={"q": "tag:ml"}).text
    assert "Large Language" in by_syntax and "Unrelated survey" in by_syntax and "alert" not in by_syntax


def test_facet_toggle_keeps_words_and_other_filters():
    links = facet_links("diffusion is:unread", {"kind": {"paper": 3}, "tags": {"ml/diffusion": 2}})
    assert links["Kind"][0].query == "diffusion kind:paper is:unread"
    removed = facet_links("diffusion kind:paper", {"kind": {"paper": 3}})
    assert removed["Kind"][0].active and removed["Kind"][0].query == "diffusion"


def test_sort_links_keep_the_query(client):
    _library(client)
    page = client.get("/search", params={"q": "diffusion", "sort": "saved"}).text
    sorts = [href for href, text in Links(page).links if text in ("Best match", "Recently saved", "Recently published")]
    assert len(sorts) == 3 and all("q=diffusion" in s for s in sorts)


def test_saved_searches_are_named_listed_and_removed(client):
    _library(client)
    token = csrf_of(client)
    empty = client.post("/search/saved", data={"name": "", "q": "x", "csrf_token": token}, headers={"HX-Request": "true"})
    assert empty.status_code == 400 and "needs a name" in empty.text
    made = client.post("/search/saved", data={"name": "Diffusion papers", "q": "diffusion kind:paper",
                                              "csrf_token": token}, headers={"HX-Request": "true"})
    assert made.status_code == 200 and "Diffusion papers" in made.text
    sidebar = client.get("/search/saved").text
    href = next(h for h, t in Links(sidebar).links if t == "Diffusion papers")
    assert "diffusion%20kind%3Apaper" in href or "diffusion+kind%3Apaper" in href
    assert "Large Language" in client.get(href).text
    delete = re.search(r'action="(/search/saved/\d+/delete)"', sidebar).group(1)
    gone = client.post(delete, data={"csrf_token": token}, headers={"HX-Request": "true"})
    assert "Diffusion papers" not in gone.text


def test_saving_a_search_needs_the_csrf_token(client):
    assert client.post("/search/saved", data={"name": "x", "q": "y"}).status_code == 403


@pytest.mark.parametrize("q", ['"unbalanced', "tag:", "year:abc", "-", "foo:bar", "((", "\\nabla \\log p_t"])
def test_malformed_queries_never_error(client, q):
    _library(client)
    response = client.get("/search", params={"q": q})
    assert response.status_code == 200


def test_search_page_says_unavailable_when_the_engine_is_down(tmp_path, make_client):
    settings = make_settings(tmp_path, search_backend="meilisearch", meili_url="http://127.0.0.1:9", meili_key="k")
    client = login(make_client(settings))
    response = client.get("/search", params={"q": "anything"})
    assert response.status_code == 503 and "Search is unavailable" in response.text
    # Saving still works while search is down.
    saved = client.post("/items", data={"url": "https://example.org/x", "csrf_token": csrf_of(client)},
                        follow_redirects=False)
    assert saved.status_code == 303
    with client.app.state.services.factory() as s:
        assert s.query(Item).count() == 1


@pytest.fixture(params=["embedded", "meilisearch"])
def backend_client(request, tmp_path, make_client):
    if request.param == "embedded":
        return login(make_client(make_settings(tmp_path)))
    server = request.getfixturevalue("meili_server")
    settings = make_settings(tmp_path, search_backend="meilisearch", meili_url=server.url, meili_key=server.key,
                             meili_index=request.getfixturevalue("meili_index_name"))
    return login(make_client(settings))


def _many(client, n: int = 25) -> None:
    services = client.app.state.services
    for i in range(n):
        save_item(services.factory, NoJobQueue(), SaveRequest(
            url=f"https://example.org/d{i}", title=f"Diffusion study {i}", kind="paper" if i % 5 else "post",
            tags=["ml"]))
    apply_pending(services.factory, services.search)


def test_results_come_before_their_count_when_the_engine_counts_separately(backend_client):
    client = backend_client
    _many(client)
    fragment = client.get("/search", params={"q": "diffusion"}, headers={"HX-Request": "true"}).text
    assert fragment.count('class="hit"') == 20 and "More results" in fragment
    later = re.search(r'hx-get="(/search/counts\?[^"]+)"', fragment)
    if client.app.state.services.search.name == "meilisearch":
        # The hits alone: the count and facets are Meilisearch's second request, loaded after.
        assert later and "25 results" not in fragment and "Counting results" in fragment
        url = html.unescape(later.group(1))
        assert "q=diffusion" in url and re.search(r"matched=[1-9]", url)
        counts = client.get(url, headers={"HX-Request": "true"})
        assert counts.status_code == 200 and counts.text.lstrip().startswith('<aside id="counts"')
    else:
        assert later is None  # counted as it searched
        counts = client.get("/search/counts", params={"q": "diffusion"})
    assert "25 results for" in counts.text
    facets = dict((text, href) for href, text in Links(counts.text).links)
    assert facets["paper 20"] == "/search?q=diffusion%20kind%3Apaper&sort=relevance" and "post 5" in facets
    # Without HTMX the page comes whole; a missing or malformed hint costs a search, not an error.
    assert "25 results for" in client.get("/search", params={"q": "diffusion"}).text
    for hint in ("", "abc", "-3", "99999999999999", "²", "１２"):  # "²".isdigit(), yet int("²") fails
        again = client.get("/search/counts", params={"q": "diffusion", "matched": hint})
        assert again.status_code == 200 and "25 results for" in again.text


def test_counts_say_unavailable_when_the_engine_is_down(tmp_path, make_client):
    settings = make_settings(tmp_path, search_backend="meilisearch", meili_url="http://127.0.0.1:9", meili_key="k")
    client = login(make_client(settings))
    response = client.get("/search/counts", params={"q": "anything", "matched": "40"}, headers={"HX-Request": "true"})
    assert response.status_code == 503 and "Counting is unavailable" in response.text
