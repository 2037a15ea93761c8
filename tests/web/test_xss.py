"""What a user (or a captured page) writes never runs: titles, tags and notes are escaped or sanitised."""

from __future__ import annotations

from sqlalchemy import select

from app.models import Item, ItemStatus
from app.services.markdown import render_markdown
from tests.web.conftest import HTMX
from tests.web.html import parse

EVIL = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'


def _no_active_content(html: str) -> None:
    tree = parse(html)
    scripts = [s for s in tree.find_all("script")]
    assert all(s.attrs.get("src", "").startswith("/static/") for s in scripts), scripts
    for el in tree.iter():
        for name, value in el.attrs.items():
            assert not name.startswith("on"), (el.tag, name)
            assert not value.strip().lower().startswith(("javascript:", "data:text", "vbscript:")), (el.tag, name, value)


def test_evil_title_tag_and_note_never_reach_the_page(ui):
    factory = ui.app.state.services.factory
    with factory() as session:
        item = Item(kind="paper", title=EVIL, url="javascript:alert(3)", canonical_url="evil", authors=[EVIL],
                    extra={"handle": EVIL}, status=ItemStatus.ready, abstract=EVIL, site=EVIL)
        session.add(item)
        session.commit()
        item_id = item.id
    ui.post(f"/items/{item_id}/tags", data={"name": EVIL}, headers=HTMX)
    ui.post(f"/items/{item_id}/notes", data={"body": EVIL + " [x](javascript:alert(4)) [y](data:text/html;base64,PHNjcmlwdD4=)"
                                          " <a href=\"javascript:alert(5)\">z</a> $\\href{javascript:alert(6)}{k}$"},
            headers=HTMX)
    for path in ("/", f"/items/{item_id}", "/tags", "/notes", "/stats", "/?tag=" + EVIL, "/search?q=" + EVIL):
        answer = ui.get(path)
        _no_active_content(answer.text)
        assert "<script>alert" not in answer.text, path
    page = parse(ui.get(f"/items/{item_id}").text)
    assert page.find("title").text().startswith(EVIL)  # shown as text, escaped
    assert page.find("h1").text() == EVIL


def test_markdown_strips_raw_html_unsafe_links_and_handlers():
    html = render_markdown(
        '<b onclick="x()">hi</b> [a](javascript:alert(1)) [b](JAVASCRIPT:alert(1)) [c](data:text/html,x) '
        '![i](javascript:alert(1)) [ok](https://example.org/p?q=1) <iframe src="https://e"></iframe>'
    ).html
    _no_active_content(html)
    tree = parse(html)
    assert [a.attrs["href"] for a in tree.find_all("a")] == ["https://example.org/p?q=1"]
    assert "noopener" in tree.find("a").attrs["rel"]
    assert tree.find("iframe") is None and tree.find("b") is None


def test_math_inside_a_link_target_cannot_break_out_of_the_attribute():
    html = render_markdown('[l]($" onmouseover="alert(1)$)').html
    _no_active_content(html)


def test_escaped_xss_in_search_box_value(ui):
    page = parse(ui.get("/search", params={"q": '"><script>alert(1)</script>'}).text)
    assert page.find("input", id="search-input").attrs["value"] == '"><script>alert(1)</script>'


def test_the_evil_tag_is_stored_as_text(ui):
    from app.models import Tag

    factory = ui.app.state.services.factory
    with factory() as session:
        session.add(Item(kind="link", title="x", url="https://e.org", canonical_url="c", authors=[], extra={}))
        session.commit()
    ui.post("/items/1/tags", data={"name": "<script>"}, headers=HTMX)
    with factory() as session:
        assert session.scalars(select(Tag.name)).all() == ["<script>"]
    assert "&lt;script&gt;" in ui.get("/tags").text
