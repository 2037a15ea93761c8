"""The bookmarklet in Chromium: its code (taken from the settings page's javascript: link) runs on
an X status page whose thread is rendered by script after load, on an arXiv abstract page and on a
blog post; the Lectern popup it opens is filled by postMessage, saved, and closes itself.

The pages are served by the local fakeweb server; the X and arXiv pages are reached at their real
addresses (https://x.com/..., https://arxiv.org/...) through Playwright routing to that server, so
the bookmarklet sees the host names it sees in real use. The saved items are then run through the
real ingest pipeline (as the worker does) and checked in the database.
"""

from __future__ import annotations

import html
import json
import re
from datetime import date
from urllib.parse import unquote, urlsplit

from app.ingest.http import SafeClient
from app.ingest.pipeline import process_item
from app.ingest.registry import default_resolvers
from app.models import Item, Note
from app.repo import tags as tags_repo
from tests.e2e.browser import log_in
from tests.fixtures.fakeweb import FakeWeb, make_test_pdf

ARXIV_ID = "2502.09992"
TWEET_ID = "1886192184808149383"
TITLE = "Large Language Diffusion Models"
ABSTRACT = ("Autoregressive models (ARMs) are widely regarded as the cornerstone of large language "
            "models. We challenge this notion by introducing LLaDA, a diffusion model.")


def _tweet_article(tweet: dict, focal: bool) -> str:
    """One tweet as X renders it (data-testid hooks, the time link, links shown shortened)."""
    time_link = (f'<a href="/{tweet["handle"]}/status/{tweet["id"]}" role="link">'
                 f'<time datetime="{tweet["date"]}">{tweet["shown_date"]}</time></a>')
    name = (
        '<div data-testid="User-Name"><div><a href="/{h}" role="link"><div><span><span>{n}</span></span>'
        '</div></a></div><div><div><a href="/{h}" role="link" tabindex="-1"><div><span>@{h}</span></div></a>'
        '</div>{t}</div></div>'
    ).format(h=tweet["handle"], n=html.escape(tweet["name"]), t="" if focal else f"<div>·</div><div>{time_link}</div>")
    return (
        f'<article data-testid="tweet" role="article" tabindex="-1"><div class="r-1iusvr4">{name}'
        f'<div data-testid="tweetText" lang="{tweet.get("lang", "en")}" dir="auto">{tweet["html"]}</div>'
        + (f'<div class="r-focal-time">{time_link}<span> · </span><span>1.2M Views</span></div>' if focal else "")
        + '<div role="group" aria-label="312 replies, 1.4K reposts, 9.8K likes"></div></div></article>'
    )


def _tco(full: str, shown: str, code: str) -> str:
    """X's link markup: the t.co address, the start of the real one shown, the rest hidden."""
    scheme, rest = full.split("://", 1)
    hidden = rest[len(shown):]
    return (f'<a dir="ltr" href="https://t.co/{code}" rel="noopener noreferrer nofollow" target="_blank" role="link">'
            f'<span aria-hidden="true" style="display:none">{scheme}://</span>{shown}'
            f'<span aria-hidden="true" style="display:none">{hidden}</span>'
            '<span aria-hidden="true">…</span></a>')


def x_status_page() -> str:
    tweets = [
        {"id": TWEET_ID, "handle": "karpathy", "name": "Andrej Karpathy", "date": "2025-02-15T17:01:00.000Z",
         "shown_date": "5:01 PM · Feb 15, 2025",
         "html": ('<span>LLaDA is a diffusion language model trained from scratch </span>'
                  '<img alt="🧵" draggable="false" src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">'
                  '<span>\n大型语言扩散模型, cc </span><div class="r-xoduu5"><span><a href="/ylecun" role="link">@ylecun</a></span></div>'
                  '<span>\npaper: </span>' + _tco(f"https://arxiv.org/abs/{ARXIV_ID}", "arxiv.org/abs/2502.0", "Xy1AbC"))},
        {"id": "1886192184808149384", "handle": "karpathy", "name": "Andrej Karpathy",
         "date": "2025-02-15T17:03:00.000Z", "shown_date": "Feb 15",
         "html": '<span>2/ The sampler unmasks tokens in parallel; code: </span>'
                 + _tco("https://github.com/ML-GSAI/LLaDA", "github.com/ML-GSAI/LLa", "Zz9QqR")},
        {"id": "1886200000000000000", "handle": "someone_else", "name": "Some One",
         "date": "2025-02-15T18:00:00.000Z", "shown_date": "Feb 15",
         "html": "<span>Not part of the thread.</span>"},
    ]
    articles = json.dumps([_tweet_article(t, i == 0) for i, t in enumerate(tweets)])
    # The page arrives empty; X's script renders the conversation after load.
    return (
        '<!DOCTYPE html><html dir="ltr" lang="en"><head><meta charset="utf-8"><title>X</title></head>'
        '<body><div id="react-root"><main role="main"><div aria-label="Timeline: Conversation" id="timeline">'
        '</div></main></div><script>\n'
        f"const articles = {articles};\n"
        "setTimeout(() => {\n"
        "  const timeline = document.getElementById('timeline');\n"
        "  for (const markup of articles) {\n"
        "    const cell = document.createElement('div'); cell.setAttribute('data-testid', 'cellInnerDiv');\n"
        "    cell.innerHTML = markup; timeline.appendChild(cell);\n"
        "  }\n"
        "  document.title = 'Andrej Karpathy on X: \"LLaDA is a diffusion language model\" / X';\n"
        "}, 400);\n"
        "</script></body></html>"
    )


BLOG = (
    '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Notes on masked diffusion | Lil Log</title>'
    '<meta property="og:type" content="article"><meta name="author" content="Lilian Weng">'
    '<meta property="article:published_time" content="2025-03-01T00:00:00Z">'
    '<meta name="csrf-token" content="host-page-secret-123"></head><body>'
    '<nav><a href="/">Home</a> <a href="/archive">Archive</a></nav>'
    '<article><h1>Notes on masked diffusion</h1>'
    '<p id="p1">Masked diffusion language models corrupt text by replacing tokens with a mask token.</p>'
    '<p>The reverse process predicts the masked tokens; the loss is a weighted cross-entropy, '
    '$\\mathcal{L} = \\mathbb{E}_t[\\frac{1}{t} \\sum_i \\log p_\\theta(x_0^i | x_t)]$.</p>'
    '<pre><code>def unmask(x):\n    return model(x).argmax(-1)</code></pre></article>'
    '<form><input type="hidden" name="authenticity_token" value="host-page-secret-456"></form>'
    '<footer>© 2025</footer></body></html>'
)


def bookmarklet_js(page, base: str) -> str:
    """The code of the javascript: link on the settings page, as the browser would run it."""
    page.goto(base + "/settings/bookmarklet")
    href = page.get_attribute("#bookmarklet-link", "href")
    assert href and href.startswith("javascript:")
    return unquote(href[len("javascript:"):])


def run_bookmarklet(page, code: str):
    with page.context.expect_page() as opened:
        page.evaluate(code)
    popup = opened.value
    popup.wait_for_load_state("domcontentloaded")
    assert urlsplit(popup.url).path == "/capture/popup"
    popup.wait_for_selector('#capture-form[data-captured="true"]', state="attached", timeout=10000)
    return popup


def select_text(page, selector: str) -> None:
    page.evaluate(
        """(selector) => { const range = document.createRange();
        range.selectNodeContents(document.querySelector(selector));
        const sel = window.getSelection(); sel.removeAllRanges(); sel.addRange(range); }""",
        selector,
    )


def process(live, settings, item_id: int) -> None:
    with SafeClient(settings) as http:
        outcome = process_item(item_id=item_id, owner="e2e", settings=settings, factory=live.services.factory,
                               http=http, resolvers=default_resolvers(settings), search=None)
    assert outcome.state == "ready", outcome


def test_bookmarklet_saves_a_tweet_thread_an_arxiv_paper_and_a_blog_post(live_app, browser_context, fakeweb: FakeWeb):
    base = live_app.url
    factory = live_app.services.factory
    pipeline_settings = live_app.settings.model_copy(
        update={"arxiv_api_url": fakeweb.url("/api/query"), "arxiv_pdf_url": fakeweb.url("/pdf")}
    )
    with factory() as session:
        tags_repo.get_or_create_tags(session, ["ml/diffusion", "ml/rl"])
        session.commit()
    fakeweb.add_arxiv_paper(ARXIV_ID, TITLE, ["Shen Nie", "Fengqi Zhu"], ABSTRACT,
                            make_test_pdf([f"{TITLE}\n{ABSTRACT}"], title=TITLE))
    fakeweb.routes[f"/abs/{ARXIV_ID}v2"] = fakeweb.routes[f"/abs/{ARXIV_ID}"]
    fakeweb.add(f"/karpathy/status/{TWEET_ID}", x_status_page())
    blog_url = fakeweb.add("/posts/2025-03-01-masked-diffusion/", BLOG)

    def to_fakeweb(route):
        parts = urlsplit(route.request.url)
        route.fulfill(response=route.fetch(url=fakeweb.url(parts.path + (f"?{parts.query}" if parts.query else ""))))

    browser_context.route(re.compile(r"^https://(x\.com|arxiv\.org)/"), to_fakeweb)
    page = browser_context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    log_in(page, base)
    code = bookmarklet_js(page, base)
    session_cookie = next(c["value"] for c in browser_context.cookies(base) if c["name"] == "lectern_session")

    # 1. The arXiv abstract page, with part of the abstract selected.
    page.goto(f"https://arxiv.org/abs/{ARXIV_ID}v2?utm_source=feed")
    select_text(page, "blockquote.abstract")
    popup = run_bookmarklet(page, code)
    popup_errors: list[str] = []
    popup.on("pageerror", lambda exc: popup_errors.append(str(exc)))
    assert popup.input_value("#capture-kind") == "paper"
    assert popup.input_value("#capture-title") == TITLE
    assert "Abstract: Autoregressive models" in popup.input_value("#capture-selection")
    assert popup.input_value("#capture-html") == "" and popup.input_value("#capture-text") == ""
    # Tag autocomplete from existing tags.
    assert popup.locator("#tag-options option").count() == 2  # every tag, before typing
    popup.locator("#capture-tags").press_sequentially("ml/d", delay=30)
    popup.wait_for_function("() => document.querySelectorAll('#tag-options option').length === 1")
    assert popup.get_attribute("#tag-options option", "value") == "ml/diffusion"
    popup.fill("#capture-tags", "ml/diffusion, to-read")
    popup.fill("#capture-note", "Compare with MDLM.")
    csrf = popup.input_value("input[name=csrf_token]")
    with popup.expect_event("close", timeout=15000):
        popup.click("#capture-save")
    with factory() as session:
        paper = session.query(Item).filter_by(arxiv_id=ARXIV_ID).one()
        assert paper.canonical_url == f"https://arxiv.org/abs/{ARXIV_ID}" and paper.kind == "paper"
        assert sorted(t.name for t in tags_repo.tags_of_item(session, paper.id)) == ["ml/diffusion", "to-read"]
        note = session.query(Note).filter_by(item_id=paper.id).one().body
        assert note.startswith("> Abstract: Autoregressive models") and note.endswith("\n\nCompare with MDLM.")
        paper_id = paper.id
    process(live_app, pipeline_settings, paper_id)
    with factory() as session:
        paper = session.get(Item, paper_id)
        assert paper.title == TITLE and paper.authors == ["Shen Nie", "Fengqi Zhu"] and paper.file_id

    # 2. An X status page: the thread by the same author, rendered by script after load.
    page.goto(f"https://x.com/karpathy/status/{TWEET_ID}?s=46&t=AbCdEf")
    page.wait_for_selector('[data-testid="tweetText"]')
    popup = run_bookmarklet(page, code)
    assert "LLaDA" not in popup.url and "diffusion" not in popup.url  # the text came by postMessage
    assert popup.input_value("#capture-kind") == "tweet"
    assert "A thread of 2 posts by @karpathy (2025-02-15)" in popup.text_content("#capture-summary")
    captured_text = popup.input_value("#capture-text")
    assert captured_text == (
        "LLaDA is a diffusion language model trained from scratch 🧵\n大型语言扩散模型, cc @ylecun\n"
        f"paper: https://arxiv.org/abs/{ARXIV_ID}\n\n"
        "2/ The sampler unmasks tokens in parallel; code: https://github.com/ML-GSAI/LLaDA"
    )
    assert "Not part of the thread" not in captured_text
    with popup.expect_navigation():
        popup.click("#capture-save")
    # The tweet links to a paper that is already in the library: the popup says so and stays open.
    assert "Saved" in popup.text_content("h1")
    assert popup.locator(".paper-offers", has_text="already in your library").count() == 1
    with factory() as session:
        tweet = session.query(Item).filter_by(kind="tweet").one()
        assert tweet.canonical_url == f"https://x.com/i/status/{TWEET_ID}"
        tweet_id = tweet.id
    process(live_app, pipeline_settings, tweet_id)
    with factory() as session:
        tweet = session.get(Item, tweet_id)
        assert tweet.text == captured_text
        assert tweet.title.startswith("LLaDA is a diffusion language model trained from scratch 🧵")
        assert tweet.extra["handle"] == "karpathy" and tweet.authors == ["Andrej Karpathy"]
        assert tweet.published_at == date(2025, 2, 15)
        assert tweet.extra["links"] == [f"https://arxiv.org/abs/{ARXIV_ID}", "https://github.com/ML-GSAI/LLaDA"]
        assert [t["id"] for t in tweet.extra["tweets"]] == [TWEET_ID, "1886192184808149384"]
    popup.close()

    # 3. A blog post (the page the user sees, with its HTML, since Lectern cannot tell it is public).
    page.goto(blog_url)
    select_text(page, "#p1")
    popup = run_bookmarklet(page, code)
    assert popup.input_value("#capture-kind") == "post"
    assert popup.input_value("#capture-title") == "Notes on masked diffusion | Lil Log"
    captured_html = popup.input_value("#capture-html")
    assert "Masked diffusion language models" in captured_html
    assert "host-page-secret" not in captured_html  # the page's own tokens stay behind
    with popup.expect_event("close", timeout=15000):
        popup.click("#capture-save")
    with factory() as session:
        post = session.query(Item).filter_by(kind="post").one()
        assert post.canonical_url == blog_url.rstrip("/")
        assert session.query(Note).filter_by(item_id=post.id).one().body == (
            "> Masked diffusion language models corrupt text by replacing tokens with a mask token."
        )
        post_id = post.id
    process(live_app, pipeline_settings, post_id)
    with factory() as session:
        post = session.get(Item, post_id)
        assert "\\mathcal{L} = \\mathbb{E}_t" in post.text and "def unmask(x):" in post.text
        assert "Archive" not in post.text and post.published_at == date(2025, 3, 1)

    # 4. The same post again: Lectern shows the item it already has and says so.
    popup = run_bookmarklet(page, code)
    with popup.expect_navigation():
        popup.click("#capture-save")
    assert popup.text_content("h1") == "Already in your library"
    assert popup.locator(f'a[href="/items/{post_id}"]').count() >= 1
    assert urlsplit(popup.url).path == f"/capture/saved/{post_id}"
    popup.close()
    with factory() as session:
        assert session.query(Item).count() == 3

    # Nothing secret reached the host pages: no CSRF token or session in their DOM, storage or URL.
    for secret in (csrf, session_cookie):
        assert secret not in page.content()
        assert secret not in page.evaluate("JSON.stringify(localStorage) + JSON.stringify(sessionStorage) + location.href")
    assert not errors and not popup_errors, (errors, popup_errors)
