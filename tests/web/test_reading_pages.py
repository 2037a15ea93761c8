"""The reading UI through the ASGI app: library, item page, tags, notes, stats — asserting on parsed HTML."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from app.models import IndexPending, Item, ItemStatus, Note, utcnow
from app.repo import tags as tags_repo
from tests.fixtures.sql import recorded_statements
from tests.web.conftest import HTMX
from tests.web.html import parse


def factory_of(client):
    return client.app.state.services.factory


def add_items(client, n: int, **fields) -> list[int]:
    ids = []
    with factory_of(client)() as session:
        now = utcnow()
        for i in range(n):
            item = Item(
                kind=fields.get("kind", "paper"), title=fields.get("title", f"Paper {i}"), url=f"https://ex.org/{i}-{now.timestamp()}",
                canonical_url=f"https://ex.org/{i}-{now.timestamp()}-{len(ids)}", authors=["Ada Lovelace", "Alan Turing"],
                extra={}, status=fields.get("status", ItemStatus.ready), saved_at=now - timedelta(minutes=n - i),
                read_state=fields.get("read_state", "unread"), site="arXiv",
            )
            session.add(item)
            session.flush()
            tags_repo.add_tags_to_item(session, item.id, tags_repo.get_or_create_tags(session, [f"t{i % 3}", "ml/rl"]))
            session.add(Note(item_id=item.id, body=f"note {i}"))
            ids.append(item.id)
        session.commit()
    return ids


def rows(page) -> list:
    return page.find_all("li", cls="item-row")


def test_library_lists_items_with_tags_notes_and_state(ui):
    (item_id,) = add_items(ui, 1, title="Score-based models")
    page = parse(ui.get("/").text)
    (row,) = rows(page)
    assert row.find("a", cls="title").text() == "Score-based models"
    assert {t.text() for t in row.find_all("a") if t.attrs.get("href", "").startswith("/?tag=")} == {"#ml/rl", "#t0"}
    assert row.find("a", cls="notes-count").text().strip() == "1"
    assert row.find("button", data_action="read").text().strip() == "Unread"
    assert row.find("input", cls="pick").attrs["form"] == "bulk-form"
    assert page.find("form", id="bulk-form") is not None


def test_a_row_fragment_is_the_same_row_the_library_lists(ui):
    """A row still being processed polls /items/<id>/row; that fragment (the row template rendered
    alone) and the library's row (the same template called as a macro per item) must agree."""
    (item_id,) = add_items(ui, 1, title="Score-based models", status=ItemStatus.fetching)
    (listed,) = rows(parse(ui.get("/").text))
    (alone,) = rows(parse(ui.get(f"/items/{item_id}/row", headers=HTMX).text))
    for row in (listed, alone):
        assert row.attrs["hx-get"] == f"/items/{item_id}/row"  # still fetching: it polls
        assert row.find("a", cls="title").text() == "Score-based models"
        assert row.find("a", cls="notes-count").text().strip() == "1"
        assert row.find("div", id=f"tags-{item_id}").find("input", name="csrf_token").attrs["value"]
        assert row.find("span", id=f"actions-{item_id}").find("button", data_action="star") is not None
    assert " ".join(listed.text().split()) == " ".join(alone.text().split())


def test_library_page_runs_the_same_number_of_queries_for_10_and_50_items(ui):
    add_items(ui, 50)
    engine = ui.app.state.services.engine
    ui.get("/?per_page=5")  # the sidebar counts are computed once, then kept until a change
    counts = {}
    with recorded_statements(engine) as statements:
        for size in (10, 50):
            statements.clear()
            page = parse(ui.get(f"/?per_page={size}").text)
            counts[size] = len(statements)
            assert len(rows(page)) == size
    assert counts[10] == counts[50], counts
    # The counts are kept, so what is left is the login check, the library version (read once),
    # the rows, their tags and their note counts: five statements.
    versions = [s for s in statements if "library_state" in s]
    assert len(versions) == 1, versions
    assert counts[50] == 5, statements


def test_a_row_shows_the_pdf_thumbnail_once_it_exists(ui, settings):
    """A row shows its PDF's first page once the thumbnail is on disk; until then, and for an item
    without a PDF, the kind icon. The library's rows and the row fragment agree."""
    from app.models import File
    from app.services.library import thumbnail_path

    with_pdf, without = add_items(ui, 2)
    sha = "5e" * 32
    with factory_of(ui)() as session:
        pdf = File(sha256=sha, size=1000)
        session.add(pdf)
        session.flush()
        session.get(Item, with_pdf).file_id = pdf.id
        session.commit()

    def thumbs() -> dict[str, list[str | None]]:
        """Each item's thumbnail (None: the kind icon) in the library's row, then in its fragment."""
        listed = rows(parse(ui.get("/").text))
        alone = [rows(parse(ui.get(f"/items/{i}/row", headers=HTMX).text))[0] for i in (with_pdf, without)]
        shown: dict[str, list[str | None]] = {}
        for row in listed + alone:
            img = row.find("img", cls="thumb")
            shown.setdefault(row.attrs["data-item-id"], []).append(img.attrs["src"] if img is not None else None)
        return shown

    assert thumbs() == {str(with_pdf): [None, None], str(without): [None, None]}
    path = thumbnail_path(settings, sha)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG")
    assert thumbs() == {str(with_pdf): [f"/files/{sha}.png"] * 2, str(without): [None, None]}
    (row,) = [r for r in rows(parse(ui.get("/").text)) if r.attrs["data-item-id"] == str(without)]
    assert row.find("span", cls="thumb").attrs["title"] == "paper"


def test_filters_views_and_sorting_stay_in_the_pagination_links(ui):
    add_items(ui, 3, kind="tweet")
    ids = add_items(ui, 60, kind="paper")
    page = parse(ui.get("/?kind=paper&tag=ml&sort=saved_asc").text)
    assert len(rows(page)) == 50
    first = rows(page)[0]
    assert first.attrs["data-item-id"] == str(ids[0])  # oldest first
    next_link = page.find("a", rel="next")
    assert next_link is not None and "kind=paper" in next_link.attrs["href"]
    assert "tag=ml" in next_link.attrs["href"] and "sort=saved_asc" in next_link.attrs["href"]
    second = parse(ui.get(next_link.attrs["href"]).text)
    assert len(rows(second)) == 10
    assert parse(ui.get("/?kind=tweet").text).find("span", cls="count").text().startswith("3 items")


def test_reading_queue_is_unread_oldest_first_and_recently_read_lists_read(ui):
    ids = add_items(ui, 3)
    ui.post(f"/items/{ids[1]}/read", headers=HTMX)
    queue = [r.attrs["data-item-id"] for r in rows(parse(ui.get("/?view=queue").text))]
    assert queue == [str(ids[0]), str(ids[2])]
    recent = [r.attrs["data-item-id"] for r in rows(parse(ui.get("/?view=recent").text))]
    assert recent == [str(ids[1])]


def test_read_and_star_toggles_answer_the_actions_fragment(ui):
    (item_id,) = add_items(ui, 1)
    fragment = parse(ui.post(f"/items/{item_id}/read", headers=HTMX).text)
    assert fragment.find("span", id=f"actions-{item_id}").find("button", data_action="read").attrs["aria-pressed"] == "true"
    again = parse(ui.post(f"/items/{item_id}/read", headers=HTMX).text)
    assert again.find("button", data_action="read").attrs["aria-pressed"] == "false"
    star = parse(ui.post(f"/items/{item_id}/star", headers=HTMX).text)
    assert star.find("button", data_action="star").attrs["aria-pressed"] == "true"
    with factory_of(ui)() as session:
        assert session.get(IndexPending, item_id) is not None  # the search index hears about it


def test_bulk_tag_mark_read_delete_and_undo(ui):
    ids = add_items(ui, 4)
    picked = [str(i) for i in ids[:2]]
    tagged = parse(ui.post("/items/bulk", data={"action": "tag", "ids": picked, "tag_name": "to-read"}, headers=HTMX).text)
    assert "Tagged 2 items" in tagged.find("div", cls="flash").text()
    assert parse(ui.get("/?tag=to-read").text).find("span", cls="count").text().startswith("2 items")
    ui.post("/items/bulk", data={"action": "read", "ids": picked}, headers=HTMX)
    assert len(rows(parse(ui.get("/?view=recent").text))) == 2

    deleted = parse(ui.post("/items/bulk", data={"action": "delete", "ids": picked, "kind": "paper"}, headers=HTMX).text)
    assert len(rows(deleted)) == 2
    undo = deleted.find("button", cls="undo").parent
    undo_data = {}
    for inp in undo.find_all("input"):
        undo_data.setdefault(inp.attrs["name"], []).append(inp.attrs["value"])
    assert undo_data["ids"] == picked and undo_data["kind"] == ["paper"]
    assert ui.get(f"/items/{ids[0]}").status_code == 404
    assert len(rows(parse(ui.get("/?view=trash").text))) == 2
    with factory_of(ui)() as session:
        assert session.get(IndexPending, ids[0]).op == "delete"

    restored = parse(ui.post("/items/bulk", data=undo_data, headers=HTMX).text)
    assert len(rows(restored)) == 4
    assert ui.get(f"/items/{ids[0]}").status_code == 200
    with factory_of(ui)() as session:
        assert session.get(IndexPending, ids[0]).op == "upsert"


def test_inline_tag_add_suggest_and_remove(ui):
    (item_id,) = add_items(ui, 1)
    added = parse(ui.post(f"/items/{item_id}/tags", data={"name": "  Diffusion / Score "}, headers=HTMX).text)
    box = added.find("div", id=f"tags-{item_id}")
    names = [a.text() for a in box.find_all("a")]
    assert "#Diffusion/Score" in names
    suggest = parse(ui.get("/tags/suggest?name=sco").text)
    assert [o.attrs["value"] for o in suggest.find_all("option")] == ["Diffusion/Score"]
    remove = next(b for b in box.find_all("button", cls="tag-x") if "Diffusion/Score" in b.attrs["aria-label"])
    after = parse(ui.post(remove.attrs["hx-post"], headers=HTMX).text)
    assert "#Diffusion/Score" not in [a.text() for a in after.find_all("a")]
    empty = ui.post(f"/items/{item_id}/tags", data={"name": " / "}, headers=HTMX)
    assert empty.status_code == 400 and "needs a name" in empty.text


def test_tags_page_counts_rename_and_merge(ui):
    add_items(ui, 3)  # t0, t1, t2 once each; ml/rl on all three
    page = parse(ui.get("/tags").text)
    counts = {r.find("a").text(): r.find("td", cls="num").text() for r in page.find("tbody").find_all("tr")}
    assert counts == {"#ml/rl": "3", "#t0": "1", "#t1": "1", "#t2": "1"}
    with factory_of(ui)() as session:
        ids = {t.name: t.id for t in session.scalars(select(tags_repo.Tag))}
    renamed = parse(ui.post(f"/tags/{ids['t0']}/rename", data={"name": "first"}, headers=HTMX).text)
    assert renamed.find("section", id="tag-list") is not None and "#first" in renamed.text()
    assert renamed.find("p", cls="flash").text() == "Now “first”."
    merged = parse(ui.post(f"/tags/{ids['t1']}/merge", data={"into": "first"}, headers=HTMX).text)
    counts = {r.find("a").text(): r.find("td", cls="num").text() for r in merged.find("tbody").find_all("tr")}
    assert counts == {"#first": "2", "#ml/rl": "3", "#t2": "1"}
    assert merged.find("p", cls="flash").text() == "Merged into “first”."
    for action, field in (("rename", "name"), ("merge", "into")):
        refused = ui.post(f"/tags/{ids['t2']}/{action}", data={field: " / "}, headers=HTMX)
        assert refused.status_code == 400 and "needs a name" in parse(refused.text).find("p", cls="error").text()
    without_htmx = ui.post(f"/tags/{ids['t2']}/rename", data={"name": "t2"}, follow_redirects=False)
    assert (without_htmx.status_code, without_htmx.headers["location"]) == (303, "/tags")
    # Renaming onto an existing name merges too.
    merged = parse(ui.post(f"/tags/{ids['t2']}/rename", data={"name": "FIRST"}, headers=HTMX).text)
    counts = {r.find("a").text(): r.find("td", cls="num").text() for r in merged.find("tbody").find_all("tr")}
    assert counts == {"#first": "3", "#ml/rl": "3"}


def test_notes_thread_nests_replies_and_keeps_them_when_a_parent_is_deleted(ui):
    (item_id,) = add_items(ui, 1)
    with factory_of(ui)() as session:
        (root_id,) = session.scalars(select(Note.id).where(Note.item_id == item_id))
    ids = [root_id]
    for depth in range(3):
        ui.post(f"/notes/{ids[-1]}/reply", data={"body": f"level {depth + 1}"}, headers=HTMX)
        with factory_of(ui)() as session:
            ids.append(session.scalars(select(Note.id).order_by(Note.id.desc())).first())
    page = parse(ui.get(f"/items/{item_id}").text)
    deepest = page.find("details", id=f"note-{ids[3]}")
    nesting = [a.attrs["id"] for a in deepest.ancestors() if a.tag == "details" and a.attrs.get("id", "").startswith("note-")]
    assert nesting == [f"note-{ids[2]}", f"note-{ids[1]}", f"note-{ids[0]}"]

    thread = parse(ui.post(f"/notes/{ids[1]}/delete", headers=HTMX).text)
    gone = thread.find("details", id=f"note-{ids[1]}")
    assert "deleted note" in gone.find("summary").text()
    assert thread.find("details", id=f"note-{ids[3]}").find("div", cls="note-body").text().strip() == "level 3"
    edited = parse(ui.post(f"/notes/{ids[3]}/edit", data={"body": "**bold** now"}, headers=HTMX).text)
    assert edited.find("details", id=f"note-{ids[3]}").find("strong").text() == "bold"
    assert ui.post(f"/items/{item_id}/notes", data={"body": "   "}, headers=HTMX).status_code == 400
    for action in ("reply", "edit"):
        refused = ui.post(f"/notes/{ids[3]}/{action}", data={"body": "   "}, headers=HTMX)
        assert refused.status_code == 400 and parse(refused.text).find("p", cls="error").text() == "A note cannot be empty."
        assert ui.post(f"/notes/999999/{action}", data={"body": "x"}, headers=HTMX).status_code == 404
    without_htmx = ui.post(f"/notes/{ids[3]}/edit", data={"body": "plain"}, follow_redirects=False)
    assert (without_htmx.status_code, without_htmx.headers["location"]) == (303, f"/items/{item_id}#notes")


def test_note_math_survives_markdown_for_katex(ui):
    (item_id,) = add_items(ui, 1)
    body = r"Score $\nabla_x \log p_t(x)$ and $$\int_0^1 x^2\,dx$$ with `$code$`"
    thread = parse(ui.post(f"/items/{item_id}/notes", data={"body": body}, headers=HTMX).text)
    spans = thread.find_all("span", cls="math")
    assert [s.text() for s in spans][-2:] == [r"\nabla_x \log p_t(x)", r"\int_0^1 x^2\,dx"]
    assert "math-display" in spans[-1].classes
    assert any(c.text() == "$code$" for c in thread.find_all("code"))
    preview = parse(ui.post("/notes/preview", data={"body": r"*a* \(b_1\)"}, headers=HTMX).text)
    assert preview.find("em").text() == "a" and preview.find("span", cls="math").text() == "b_1"


def test_latest_notes_page_lists_notes_across_items(ui):
    ids = add_items(ui, 2)
    page = parse(ui.get("/notes").text)
    links = [a.attrs["href"].split("#")[0] for a in page.find_all("a", cls="title")]
    assert links == [f"/items/{ids[1]}", f"/items/{ids[0]}"]


def test_item_page_shows_metadata_text_pages_and_failed_status_with_retry(ui):
    from app.models import File, FilePage

    with factory_of(ui)() as session:
        f = File(sha256="a" * 64, size=10, page_count=2)
        session.add(f)
        session.flush()
        session.add_all([FilePage(file_id=f.id, page_no=1, text="first page"), FilePage(file_id=f.id, page_no=2, text="second")])
        item = Item(kind="paper", title="T", url="https://arxiv.org/abs/2502.09992", canonical_url="x", arxiv_id="2502.09992",
                    doi="10.1/xyz", extra={"journal_ref": "NeurIPS 2025"}, authors=["A"], abstract="An abstract.",
                    file_id=f.id, status=ItemStatus.failed, error="The PDF link answered 404.")
        session.add(item)
        session.commit()
        item_id = item.id
    page = parse(ui.get(f"/items/{item_id}").text)
    facts = page.find("dl", cls="facts").text()
    assert "2502.09992" in facts and "10.1/xyz" in facts and "NeurIPS 2025" in facts
    assert page.find("section", id="page-2").find("div", cls="page-text").text() == "second"
    assert page.find("iframe").attrs["src"] == f"/files/{'a' * 64}.pdf"
    assert page.find("form", action=f"/items/{item_id}/retry") is not None
    assert "404" in page.find("div", id=f"status-{item_id}").text()


def test_tweet_is_shown_as_a_tweet(ui):
    with factory_of(ui)() as session:
        item = Item(kind="tweet", title="", url="https://x.com/a/status/1", canonical_url="tw", authors=["Ann"],
                    extra={"handle": "ann", "author_name": "Ann"}, text="Diffusion is score matching.", status="ready")
        session.add(item)
        session.commit()
        item_id = item.id
    page = parse(ui.get(f"/items/{item_id}").text)
    card = page.find("section", cls="tweet-card")
    assert "@ann" in card.text() and card.find("div", cls="tweet-text").text() == "Diffusion is score matching."


def test_stats_page_draws_an_svg_chart_of_saved_and_read(ui):
    ids = add_items(ui, 3)
    ui.post(f"/items/{ids[0]}/read", headers=HTMX)
    page = parse(ui.get("/stats").text)
    svg = page.find("svg", cls="chart")
    assert len(svg.find_all("rect", cls="bar-saved")) == 12
    this_week = svg.find_all("g", cls="week")[-1].find("title").text()
    assert "3 saved, 1 read" in this_week
    assert page.find("ul", cls="tag-bars").find("a").text() == "#ml/rl"


def test_thumbnail_is_served_when_the_worker_rendered_it(ui, settings):
    sha = "b" * 64
    assert ui.get(f"/files/{sha}.png").status_code == 404
    path = settings.files_dir / sha[:2] / sha[2:4] / f"{sha}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\nfake")
    answer = ui.get(f"/files/{sha}.png")
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/png"
    assert ui.get("/files/..%2f..%2fetc.png").status_code == 404
