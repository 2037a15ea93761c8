"""The reading UI in Chromium: tag with the keyboard, a three-level note thread, KaTeX, read toggles,
search, and screenshots of the library, an item page and the dark theme (in test-artifacts/)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pymupdf
import pytest
from playwright.sync_api import expect

from app.extract.sandbox import thumbnail_in_child
from app.models import File, FilePage, Item, ItemStatus, Note
from app.repo import tags as tags_repo
from app.services.indexing import apply_pending
from app.services.items import store_pdf_bytes
from app.services.library import thumbnail_path
from tests.e2e.browser import artifact, log_in

pytestmark = [pytest.mark.browser]

PAPERS = [
    ("Score-Based Generative Modeling through Stochastic Differential Equations",
     ["Yang Song", "Jascha Sohl-Dickstein", "Diederik P. Kingma", "Abhishek Kumar", "Stefano Ermon", "Ben Poole"],
     "2011.13456", ["diffusion", "generative"], "ICLR 2021"),
    ("Denoising Diffusion Probabilistic Models", ["Jonathan Ho", "Ajay Jain", "Pieter Abbeel"], "2006.11239",
     ["diffusion"], "NeurIPS 2020"),
    ("Attention Is All You Need", ["Ashish Vaswani", "Noam Shazeer", "Niki Parmar"], "1706.03762",
     ["transformers"], "NeurIPS 2017"),
    ("Flow Matching for Generative Modeling", ["Yaron Lipman", "Ricky T. Q. Chen", "Heli Ben-Hamu"], "2210.02747",
     ["generative", "flows"], "ICLR 2023"),
]


def _pdf(title: str, pages: int = 2) -> bytes:
    doc = pymupdf.open()
    for n in range(pages):
        page = doc.new_page()
        if n == 0:
            page.insert_textbox(pymupdf.Rect(60, 70, 540, 160), title, fontsize=17, align=1)
            page.insert_textbox(pymupdf.Rect(60, 170, 540, 200), "Anonymous authors", fontsize=10, align=1)
        body = ("We study generative models defined by stochastic differential equations. " * 30)
        page.insert_textbox(pymupdf.Rect(60, 220 if n == 0 else 60, 540, 780), body, fontsize=9)
    return doc.tobytes()


def seed(live) -> dict[str, int]:
    """A small library: four papers (two with PDFs and first-page thumbnails), a tweet and a post."""
    factory, settings = live.services.factory, live.settings
    now = datetime.now(UTC)
    ids: dict[str, int] = {}
    with factory() as session:
        for n, (title, authors, arxiv_id, tags, venue) in enumerate(PAPERS):
            file_id = None
            if n < 2:
                digest, path = store_pdf_bytes(settings, _pdf(title))
                thumbnail_path(settings, digest).write_bytes(thumbnail_in_child(path, settings))
                f = File(sha256=digest, size=path.stat().st_size, page_count=2)
                session.add(f)
                session.flush()
                session.add_all([FilePage(file_id=f.id, page_no=1, text=f"{title}\n\nAbstract. We study SDEs."),
                                 FilePage(file_id=f.id, page_no=2, text="2 Background\n\nThe score function.")])
                file_id = f.id
            item = Item(kind="paper", title=title, authors=authors, arxiv_id=arxiv_id, site="arXiv",
                        url=f"https://arxiv.org/abs/{arxiv_id}", canonical_url=f"https://arxiv.org/abs/{arxiv_id}",
                        abstract="Creating noise from data is easy; creating data from noise is generative modeling. "
                                 "We present a stochastic differential equation that smoothly transforms a complex data "
                                 "distribution to a known prior distribution by slowly injecting noise.",
                        extra={"journal_ref": venue, "primary_category": "cs.LG"}, file_id=file_id,
                        status=ItemStatus.ready, published_at=date(2020 + n % 3, 6, 1),
                        saved_at=now - timedelta(days=3 * n + 1), read_state="read" if n == 2 else "unread",
                        read_at=now - timedelta(days=2) if n == 2 else None, starred=n == 0)
            session.add(item)
            session.flush()
            tags_repo.add_tags_to_item(session, item.id, tags_repo.get_or_create_tags(session, tags))
            ids[arxiv_id] = item.id
        tweet = Item(kind="tweet", title="Karpathy on reading papers", authors=["Andrej Karpathy"],
                     url="https://x.com/karpathy/status/1", canonical_url="https://x.com/karpathy/status/1",
                     text="Reading a paper: skim the figures first, then the abstract, then the experiments.",
                     site="X", extra={"handle": "karpathy", "author_name": "Andrej Karpathy"},
                     status=ItemStatus.ready, saved_at=now - timedelta(hours=5))
        post = Item(kind="post", title="What are Diffusion Models?", authors=["Lilian Weng"], site="lilianweng.github.io",
                    url="https://lilianweng.github.io/posts/2021-07-11-diffusion-models/",
                    canonical_url="https://lilianweng.github.io/posts/2021-07-11-diffusion-models/",
                    text="Diffusion models are inspired by non-equilibrium thermodynamics.\n\nThey define a Markov chain.",
                    status=ItemStatus.failed, error="The blog answered 503; try again later.",
                    saved_at=now - timedelta(hours=2))
        session.add_all([tweet, post])
        session.flush()
        tags_repo.add_tags_to_item(session, post.id, tags_repo.get_or_create_tags(session, ["diffusion", "blog"]))
        session.add(Note(item_id=ids["2006.11239"], body="The $\\epsilon$-prediction loss is a reweighted ELBO."))
        ids["tweet"], ids["post"] = tweet.id, post.id
        from app.repo import index_queue

        index_queue.mark_for_index(session, list(ids.values()))
        session.commit()
    apply_pending(factory, live.services.search)
    return ids


def test_reading_ui_in_chromium(live_app, browser_context):
    ids = seed(live_app)
    base = live_app.url
    page = browser_context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    log_in(page, base)

    # Library: j moves the selection, t opens the tag box, Enter creates the tag.
    page.wait_for_selector(".item-row")
    page.screenshot(path=artifact("library.png"), full_page=False)
    page.keyboard.press("j")
    first = page.locator(".item-row.is-selected")
    item_id = first.get_attribute("data-item-id")
    page.keyboard.press("t")
    tag_input = page.locator(f"#tag-input-{item_id}")
    tag_input.wait_for(state="visible")
    assert tag_input.evaluate("el => el === document.activeElement")
    page.keyboard.type("reading-group")
    page.keyboard.press("Enter")
    page.locator(f"#tags-{item_id} a", has_text="#reading-group").wait_for()
    expect(page.locator(f"#tag-input-{item_id}")).to_be_focused()  # ready for the next tag

    # r toggles read on the selected row (after leaving the tag box).
    page.keyboard.press("Escape")  # the first may only close the suggestions popup
    page.keyboard.press("Escape")
    expect(page.locator(f"#tag-input-{item_id}")).not_to_be_focused()
    read_button = page.locator(f"#actions-{item_id} [data-action=read]")
    before = read_button.get_attribute("aria-pressed")
    after = "true" if before == "false" else "false"
    page.keyboard.press("r")
    page.locator(f"#actions-{item_id} [data-action=read][aria-pressed={after}]").wait_for()
    # ... and a click toggles it back.
    page.locator(f"#actions-{item_id} [data-action=read]").click()
    page.locator(f"#actions-{item_id} [data-action=read][aria-pressed={before}]").wait_for()

    # Bulk: select two rows, delete them, and Undo brings them back.
    checks = page.locator(".item-row input.pick")
    checks.nth(0).check()
    checks.nth(1).check()
    page.locator("#bulk-form button[value=delete]").click()
    page.locator(".flash", has_text="Deleted 2 items").wait_for()
    assert page.locator(".item-row").count() == 4
    page.locator(".flash button.undo").click()
    page.locator(".flash", has_text="Restored 2 items").wait_for()
    assert page.locator(".item-row").count() == 6

    # The item page: a note with LaTeX rendered by KaTeX, replies three levels deep.
    paper = ids["2011.13456"]
    page.goto(f"{base}/items/{paper}")
    page.keyboard.press("n")
    editor = page.locator("#new-note")
    assert editor.evaluate("el => el === document.activeElement")
    editor.fill(r"The score $\nabla \log p_t(x)$ drives the reverse SDE.")
    page.locator("#new-note-preview .katex").wait_for()  # the live preview renders math too
    page.locator(f"#thread-{paper} button[type=submit]").first.click()
    page.locator(".notes .note .katex").first.wait_for()
    parent = page.locator(".notes > details.note").first
    parent_id = parent.get_attribute("id").removeprefix("note-")
    for level in (1, 2, 3):
        page.locator(f"#note-{parent_id} > .note-actions > .reply-box > summary").click()
        box = page.locator(f"#reply-{parent_id}")
        box.fill(f"Reply at level {level}: see $$\\int_0^T g(t)^2\\,dt$$" if level == 2 else f"Reply at level {level}")
        page.locator(f"#note-{parent_id} > .note-actions > .reply-box button[type=submit]").click()
        child = page.locator(f"#note-{parent_id} > .replies > details.note").first
        child.wait_for()
        parent_id = child.get_attribute("id").removeprefix("note-")
    deepest = page.locator(f"#note-{parent_id}")
    assert "Reply at level 3" in deepest.inner_text()
    depth = deepest.evaluate("el => { let d = 0; for (let p = el.parentElement; p; p = p.parentElement) if (p.matches('details.note')) d++; return d; }")
    assert depth == 3
    # KaTeX renders a swapped-in note after htmx settles it: wait for it rather than race it.
    page.locator(".notes .katex-display").first.wait_for(timeout=10_000)
    assert page.locator(".notes .katex-display").count() >= 1
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=artifact("item-with-notes.png"), full_page=False)

    # Search and open a result.
    page.goto(base + "/")
    page.keyboard.press("/")
    page.keyboard.type("attention")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/search?q=attention*")
    hit = page.locator("#results .hit a.title").first
    hit.wait_for()
    hit.click()
    page.wait_for_url(f"{base}/items/{ids['1706.03762']}*")
    assert "Attention Is All You Need" in page.locator("h1").inner_text()

    # ? shows the shortcuts.
    page.keyboard.press("?")
    assert page.locator("#shortcuts").is_visible()
    page.keyboard.press("Escape")

    # The dark theme.
    dark = browser_context.browser.new_context(viewport={"width": 1360, "height": 900}, color_scheme="dark")
    try:
        dpage = dark.new_page()
        log_in(dpage, base)
        dpage.wait_for_selector(".item-row")
        dpage.screenshot(path=artifact("library-dark.png"))
        background = dpage.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(23, 23, 26)", background
        dpage.goto(f"{base}/items/{ids['2011.13456']}")
        dpage.locator(".notes .katex").first.wait_for()
        dpage.screenshot(path=artifact("item-dark.png"))
        phone = dark.browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
        ppage = phone.new_page()
        log_in(ppage, base)
        ppage.screenshot(path=artifact("library-phone.png"))
        assert ppage.evaluate("document.documentElement.scrollWidth") <= 390 + 1
        phone.close()
    finally:
        dark.close()
    assert not errors, errors
