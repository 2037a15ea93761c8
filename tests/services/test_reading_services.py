"""Tags, notes and library services on SQLite and PostgreSQL."""

from __future__ import annotations

from app.models import IndexPending, Item, Note
from app.repo import tags as tags_repo
from app.services import library, notes, tags
from app.services.jobs import NoJobQueue

JOBS = NoJobQueue()


def _items(factory, n):
    with factory() as session:
        items = [Item(kind="paper", title=f"p{i}", url=f"https://e.org/{i}", canonical_url=f"https://e.org/{i}",
                      authors=[], extra={}) for i in range(n)]
        session.add_all(items)
        session.commit()
        return [i.id for i in items]


def _tag_names(factory, item_id):
    with factory() as session:
        return [t.name for t in tags_repo.tags_of_item(session, item_id)]


def test_merge_moves_links_without_duplicates_and_reindexes(db_factory):
    a, b = _items(db_factory, 2)
    diffusion = tags.tag_items(db_factory, JOBS, [a, b], "diffusion")
    score = tags.tag_item(db_factory, JOBS, a, "Score")
    with db_factory() as session:
        session.query(IndexPending).delete()
        session.commit()
    tags.merge_tags(db_factory, JOBS, [score.id], diffusion.id)
    assert _tag_names(db_factory, a) == ["diffusion"] and _tag_names(db_factory, b) == ["diffusion"]
    with db_factory() as session:
        assert [r.item_id for r in session.query(IndexPending)] == [a]
        assert tags_repo.get_tag(session, score.id) is None


def test_rename_is_case_insensitive_and_onto_an_existing_name_merges(db_factory):
    (a,) = _items(db_factory, 1)
    ml = tags.tag_item(db_factory, JOBS, a, "ml")
    renamed = tags.rename_tag(db_factory, JOBS, ml.id, "ML")
    assert renamed.id == ml.id and _tag_names(db_factory, a) == ["ML"]
    other = tags.tag_item(db_factory, JOBS, a, "learning")
    merged = tags.rename_tag(db_factory, JOBS, other.id, "ml")
    assert merged.id == ml.id and _tag_names(db_factory, a) == ["ML"]


def test_deleting_a_note_keeps_its_replies_in_place(db_factory):
    (a,) = _items(db_factory, 1)
    root = notes.add_note(db_factory, JOBS, a, "root")
    child = notes.reply_to_note(db_factory, JOBS, root.id, "child")
    grandchild = notes.reply_to_note(db_factory, JOBS, child.id, "grandchild $x$")
    notes.delete_note(db_factory, JOBS, child.id)
    with db_factory() as session:
        (tree,) = notes.thread_of_item(session, a)
        assert session.get(Note, child.id).body == ""
    (kept,) = tree.children
    assert kept.deleted and kept.note.id == child.id
    assert kept.children[0].note.id == grandchild.id and kept.children[0].depth == 2
    assert 'class="math math-inline"' in kept.children[0].rendered.html
    notes.delete_note(db_factory, JOBS, grandchild.id)
    with db_factory() as session:
        (tree,) = notes.thread_of_item(session, a)
    assert tree.children == []  # a deleted note with no live replies leaves the thread


def test_trash_and_restore_go_through_the_index_outbox(db_factory, db_settings):
    a, b = _items(db_factory, 2)
    assert library.trash_items(db_factory, JOBS, [a]) == [a]
    with db_factory() as session:
        assert session.get(IndexPending, a).op == "delete"
        page = library.library_page(session, db_settings, library.LibraryQuery())
        assert [i.id for i in page.items] == [b] and page.totals["trash"] == 1
    assert library.restore_items(db_factory, JOBS, [a, b]) == [a]
    with db_factory() as session:
        assert session.get(IndexPending, a).op == "upsert"

