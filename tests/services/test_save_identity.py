"""One thing saved many ways is one item: six spellings of one arXiv paper, and two requests that
save the same URL at the same moment (on SQLite and on PostgreSQL)."""

from __future__ import annotations

import threading

from sqlalchemy import event

from app.models import Item
from app.services.items import SaveRequest, save_item
from app.services.jobs import NoJobQueue

FORMS = [
    "https://arxiv.org/abs/2502.09992",
    "https://arxiv.org/pdf/2502.09992",
    "https://arxiv.org/abs/2502.09992v3",
    "https://export.arxiv.org/abs/2502.09992v1",
    "https://huggingface.co/papers/2502.09992",
    "https://www.alphaxiv.org/abs/2502.09992",
]


def test_the_same_paper_through_six_url_forms_is_one_item(db_factory):
    results = [save_item(db_factory, NoJobQueue(), SaveRequest(url=url, tags=[f"t{i}"]))
               for i, url in enumerate(FORMS)]
    assert [r.created for r in results] == [True] + [False] * 5
    assert {r.item.id for r in results} == {results[0].item.id}
    with db_factory() as session:
        items = session.query(Item).all()
        assert len(items) == 1
        assert items[0].arxiv_id == "2502.09992"
        assert items[0].canonical_url == "https://arxiv.org/abs/2502.09992"


def test_two_saves_of_one_url_at_the_same_moment_make_one_item(db_factory):
    """Both requests look for the URL before either has committed (a barrier holds each one at its
    INSERT until the other has looked too), so the loser's INSERT hits the unique index and
    save_item answers with the winner's item."""
    engine = db_factory.kw["bind"]
    both_looked = threading.Barrier(2, timeout=20)
    held: set[int] = set()

    def hold_first_insert(conn, cursor, statement, parameters, context, executemany):
        me = threading.get_ident()
        if statement.lstrip().upper().startswith("INSERT INTO ITEMS") and me not in held:
            held.add(me)
            both_looked.wait()

    event.listen(engine, "before_cursor_execute", hold_first_insert)
    results: list = [None, None]
    errors: list[BaseException] = []

    def save(slot: int) -> None:
        try:
            results[slot] = save_item(
                db_factory, NoJobQueue(),
                SaveRequest(url="https://blog.example.org/post/1?utm_source=x", note=f"from tab {slot}"),
            )
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=save, args=(slot,)) for slot in (0, 1)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    finally:
        event.remove(engine, "before_cursor_execute", hold_first_insert)
    assert not errors, errors
    assert len(held) == 2, "both requests should have reached their INSERT"
    assert sorted(r.created for r in results) == [False, True]
    assert results[0].item.id == results[1].item.id
    with db_factory() as session:
        assert session.query(Item).count() == 1
        item = session.query(Item).one()
        assert item.canonical_url == "https://blog.example.org/post/1"
