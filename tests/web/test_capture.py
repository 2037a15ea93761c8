"""The bookmarklet's server side: the generated javascript: link, the popup, saving from it."""

from __future__ import annotations

import json
import re
import subprocess
from urllib.parse import unquote

import pytest

from app.models import Item, Note
from app.repo import tags as tags_repo
from app.services.capture import bookmarklet_code, minify_js, paper_urls_in

TWEET_URL = "https://x.com/karpathy/status/1886192184808149383?s=20&t=abc"


def popup_csrf(client) -> str:
    page = client.get("/capture/popup", params={"url": "https://example.org/"}).text
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, page
    return match.group(1)


def db(client):
    return client.app.state.services.factory


def test_settings_page_shows_a_bookmarklet_carrying_this_servers_address(client):
    page = client.get("/settings/bookmarklet")
    assert page.status_code == 200
    href = re.search(r'id="bookmarklet-link" href="([^"]+)"', page.text).group(1)
    assert href.startswith("javascript:")
    code = unquote(href[len("javascript:"):].replace("&amp;", "&").replace("&#39;", "'").replace("&quot;", '"'))
    assert 'var LECTERN="http://testserver/";' in code
    assert "__LECTERN_URL__" not in code and "/*" not in code
    assert 'draggable="true"' in page.text
    # Nothing in the link a page could use: no token, no cookie value.
    assert client.cookies.get("lectern_session") not in href


def test_bookmarklet_follows_the_address_the_server_is_reached_at(settings, make_client):
    from tests.fixtures.app import login

    client = login(make_client(settings))
    page = client.get("/settings/bookmarklet", headers={"host": "lectern.example.org:8443"})
    assert "lectern.example.org%3A8443" in page.text or "lectern.example.org:8443" in page.text


@pytest.mark.skipif(subprocess.run(["which", "node"], capture_output=True).returncode != 0,
                    reason="node is not installed")
def test_minified_bookmarklet_is_valid_javascript(tmp_path):
    path = tmp_path / "bm.js"
    path.write_text(bookmarklet_code("https://lectern.example.org/"))
    result = subprocess.run(["node", "--check", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_minify_keeps_strings_regexes_and_line_breaks_and_drops_comments():
    source = (
        "/* header */\nvar a = \"https://x.com/a // not a comment\"; // trailing\n"
        "var re = /\\/status\\/(\\d+)/g;   var b = a.length / 2 / 1;\n"
        "function f(x) {\n    return /^@\\w+$/.test(x) ? 'it\\'s' : `t ${x} // kept`;\n}\n"
        "var c = 1 + +b;\n"
    )
    out = minify_js(source)
    assert "header" not in out and "trailing" not in out
    assert '"https://x.com/a // not a comment"' in out
    assert "/\\/status\\/(\\d+)/g" in out and "a.length/2/1" in out
    assert "return/^@\\w+$/.test(x)?'it\\'s':`t ${x} // kept`" in out
    assert "1+ +b" in out
    assert out.count("\n") == 5


def test_popup_needs_a_login(settings, make_client):
    anonymous = make_client(settings)
    response = anonymous.get("/capture/popup", params={"url": "https://example.org/"}, follow_redirects=False)
    assert response.status_code in (302, 303, 307)
    assert "/login" in response.headers["location"]


def test_popup_is_prefilled_and_guesses_the_kind(client):
    page = client.get("/capture/popup", params={"url": "https://arxiv.org/abs/2502.09992v2", "kind": "link"})
    assert page.status_code == 200
    assert 'value="https://arxiv.org/abs/2502.09992v2"' in page.text
    assert re.search(r'<option value="paper" selected>', page.text)
    assert 'name="csrf_token"' in page.text
    assert "<script>" not in page.text and 'src="/static/js/popup.js"' in page.text
    blog = client.get("/capture/popup", params={"url": "https://blog.example.org/p/1", "kind": "post"})
    assert re.search(r'<option value="post" selected>', blog.text)


def test_popup_escapes_what_the_page_sent(client):
    page = client.get("/capture/popup", params={"url": 'https://e.org/"><script>alert(1)</script>'})
    assert "<script>alert(1)" not in page.text


def test_saving_a_captured_tweet_answers_at_once_and_a_second_save_says_it_is_there(client):
    token = popup_csrf(client)
    extra = {"handle": "karpathy", "author_name": "Andrej Karpathy", "date": "2025-02-15T17:01:00.000Z",
             "links": ["https://arxiv.org/abs/2502.09992"]}
    form = {"csrf_token": token, "url": TWEET_URL, "title": "", "kind": "tweet", "tags": "llm, diffusion",
            "note": "read this", "selection": "diffusion for language", "extra": json.dumps(extra),
            "text": "LLaDA: diffusion for language arxiv.org/abs/2502.09992", "html": ""}
    response = client.post("/capture/save", data=form, follow_redirects=False)
    assert response.status_code == 303, response.text
    assert re.fullmatch(r"/capture/saved/\d+\?new=1", response.headers["location"])
    saved = client.get(response.headers["location"])
    assert "Saved" in saved.text
    # A tweet linking to a paper offers to save the paper too, so this window stays open.
    assert "Save the paper too" in saved.text and "https://arxiv.org/abs/2502.09992" in saved.text
    assert "data-close-after" not in saved.text

    with db(client)() as session:
        item = session.query(Item).one()
        assert item.kind == "tweet" and item.canonical_url == "https://x.com/i/status/1886192184808149383"
        assert item.text.startswith("LLaDA") and item.captured["extra"]["handle"] == "karpathy"
        assert sorted(t.name for t in tags_repo.tags_of_item(session, item.id)) == ["diffusion", "llm"]
        bodies = [n.body for n in session.query(Note).filter_by(item_id=item.id)]
        assert bodies == ["> diffusion for language\n\nread this"]
        item_id = item.id

    again = client.post("/capture/save", data={**form, "url": "https://twitter.com/KARPATHY/status/1886192184808149383",
                                               "note": "", "selection": ""}, follow_redirects=False)
    assert again.headers["location"] == f"/capture/saved/{item_id}?new=0"
    page = client.get(again.headers["location"]).text
    assert "Already in your library" in page and f'href="/items/{item_id}"' in page

    # Save the paper from the offer.
    paper = client.post("/capture/save", data={"csrf_token": token, "url": "https://arxiv.org/abs/2502.09992"},
                        follow_redirects=False)
    assert paper.headers["location"].endswith("?new=1")
    assert "already in your library" in client.get(f"/capture/saved/{item_id}?new=0").text
    with db(client)() as session:
        assert session.query(Item).filter_by(arxiv_id="2502.09992", kind="paper").count() == 1


def test_line_breaks_a_browser_sends_as_crlf_are_kept_as_newlines(client):
    token = popup_csrf(client)
    client.post("/capture/save", data={"csrf_token": token, "url": "https://example.org/a",
                                       "selection": "line one\r\nline two", "note": "n1\r\nn2"})
    with db(client)() as session:
        assert session.query(Note).one().body == "> line one\n> line two\n\nn1\nn2"


def test_a_plain_save_closes_the_popup_by_itself(client):
    token = popup_csrf(client)
    response = client.post("/capture/save", data={"csrf_token": token, "url": "https://blog.example.org/post/1"})
    assert response.status_code == 200 and 'data-close-after="1200"' in response.text


def test_saving_needs_the_csrf_token(client):
    response = client.post("/capture/save", data={"url": "https://example.org/"}, follow_redirects=False)
    assert response.status_code == 403
    with db(client)() as session:
        assert session.query(Item).count() == 0


def test_bad_captured_details_are_refused_with_a_message(client):
    token = popup_csrf(client)
    response = client.post("/capture/save", data={"csrf_token": token, "url": "https://example.org/",
                                                  "extra": "[1, 2]"})
    assert response.status_code == 400 and "must be a JSON object" in response.text
    response = client.post("/capture/save", data={"csrf_token": token, "url": "javascript:alert(1)"})
    assert response.status_code == 400 and "not a web address" in response.text


def test_large_captured_page_html_is_accepted(client):
    token = popup_csrf(client)
    html = "<html><body><article><p>" + ("A long members-only post. " * 60000) + "</p></article></body></html>"
    response = client.post("/capture/save", data={"csrf_token": token, "url": "https://members.example.org/p/9",
                                                  "kind": "post", "html": html, "text": "seen"},
                           follow_redirects=False)
    assert response.status_code == 303, response.text[:300]
    with db(client)() as session:
        assert len(session.query(Item).one().captured["html"]) == len(html)


def test_tag_suggestions_complete_the_last_tag(client):
    with db(client)() as session:
        tags_repo.get_or_create_tags(session, ["ml/diffusion", "ml/rl", "physics"])
        session.commit()
    fragment = client.get("/capture/tags", params={"tags": "physics, ML/"}, headers={"HX-Request": "true"}).text
    assert fragment.startswith('<datalist id="tag-options">')
    assert '<option value="physics, ml/diffusion">' in fragment
    assert '<option value="physics, ml/rl">' in fragment
    assert 'value="physics, physics"' not in fragment


def test_paper_urls_in_a_tweet():
    text = ("ALERT arxiv.org/abs/2512.24880 ... and see openreview.net/forum?id=Cz9zjzyC5A, "
            "also doi.org/10.1145/3600006.3613165. Truncated: arxiv.org/abs/2512.2\u2026 arXiv:2502.09992v2")
    urls = paper_urls_in([text], ["https://www.alphaxiv.org/abs/2512.24880", "https://example.org/x"])
    assert urls == [
        "https://arxiv.org/abs/2512.24880",
        "https://openreview.net/forum?id=Cz9zjzyC5A",
        "https://doi.org/10.1145/3600006.3613165",
        "https://arxiv.org/abs/2502.09992",
    ]

