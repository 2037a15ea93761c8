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



def test_sidebar_counts_are_kept_until_a_change_that_moves_them(db_factory, db_settings):
    """The web app keeps the sidebar counts keyed by the library version that database triggers
    bump; every kind of change the sidebar shows must show on the next page."""
    cache = library.CountsCache()

    def side():
        with db_factory() as session:
            return cache.sidebar(session)

    a, b = _items(db_factory, 2)
    first = side()
    assert first.totals["all"] == 2 and first.totals["unread"] == 2 and first.tags == []
    assert side() is first  # nothing changed: the same counts, not recounted

    library.set_read(db_factory, JOBS, [a], True)
    after_read = side()
    assert after_read is not first and after_read.totals["read"] == 1 and after_read.totals["unread"] == 1

    assert library.toggle_star(db_factory, JOBS, b) is True
    assert side().totals["starred"] == 1

    tag = tags.tag_items(db_factory, JOBS, [a, b], "diffusion")
    assert [(t.name, n) for t, n in side().tags] == [("diffusion", 2)]
    tags.rename_tag(db_factory, JOBS, tag.id, "Diffusion/Score")
    assert [(t.name, n) for t, n in side().tags] == [("Diffusion/Score", 2)]
    tags.untag_item(db_factory, JOBS, a, tag.id)
    assert [(t.name, n) for t, n in side().tags] == [("Diffusion/Score", 1)]

    library.trash_items(db_factory, JOBS, [b])
    trashed = side()
    assert trashed.totals["all"] == 1 and trashed.totals["trash"] == 1 and trashed.tags == []

    with db_factory() as session:
        new = Item(kind="paper", title="c", url="https://e.org/c", canonical_url="https://e.org/c", authors=[], extra={})
        session.add(new)
        session.commit()
        c = new.id
    assert side().totals["all"] == 2
    with db_factory() as session:
        session.get(Item, c).kind = "tweet"
        session.commit()
    totals = side().totals
    assert totals["tweet"] == 1 and totals["paper"] == 1

    # A change the sidebar does not show (the worker's status updates) keeps the cached counts.
    settled = side()
    with db_factory() as session:
        session.get(Item, c).status = "ready"
        session.commit()
    assert side() is settled


def test_filtered_list_totals_are_kept_until_a_change_that_moves_them(db_factory, db_settings):
    """A filtered page's total comes from the same version-keyed cache as the sidebar; tagging,
    untagging, a child tag, reading, trashing and a new item each show on the next page."""
    cache = library.CountsCache()

    def total(**query):
        with db_factory() as session:
            return library.library_page(session, db_settings, library.LibraryQuery(**query), cache).total

    a, b, c = _items(db_factory, 3)
    assert total(tag="ml") == 0
    ml = tags.tag_items(db_factory, JOBS, [a, b], "ml")
    assert total(tag="ml") == 2
    tags.tag_items(db_factory, JOBS, [c], "ml/rl")  # a child tag counts for its parent
    assert total(tag="ml") == 3 and total(tag="ml", state="unread") == 3
    library.set_read(db_factory, JOBS, [a], True)
    assert total(tag="ml", state="unread") == 2 and total(tag="ml", state="read") == 1
    library.trash_items(db_factory, JOBS, [b])
    assert total(tag="ml") == 2 and total(view="trash") == 1
    tags.untag_item(db_factory, JOBS, a, ml.id)
    assert total(tag="ml") == 1
    with db_factory() as session:
        session.add(Item(kind="paper", title="d", url="https://e.org/d", canonical_url="https://e.org/d",
                         authors=[], extra={}))
        session.commit()
    assert total() == 3


def test_a_bulk_write_bumps_the_library_version_once_per_transaction(db_factory, db_settings):
    """Thousands of tag links inserted one statement at a time in one transaction (an import, the
    benchmark's loader) update library_state once on PostgreSQL, not once per statement (each
    update walked the versions the previous ones left: a 100k load never finished)."""
    from sqlalchemy import insert, select

    from app.models import LibraryState, Tag, item_tags

    ids = _items(db_factory, 50)
    with db_factory() as session:
        before = session.scalar(select(LibraryState.version))
        tag_ids = []
        for n in range(20):
            tag = Tag(name=f"t{n}", name_key=f"t{n}")
            session.add(tag)
            session.flush()
            tag_ids.append(tag.id)
        for item_id in ids:  # 1,000 statements
            for tag_id in tag_ids:
                session.execute(insert(item_tags).values(item_id=item_id, tag_id=tag_id))
        session.commit()
    with db_factory() as session:
        after = session.scalar(select(LibraryState.version))
        postgres = session.bind.dialect.name == "postgresql"
    # The change shows (cached counts are recomputed); PostgreSQL bumped once, SQLite per row.
    assert after - before == (1 if postgres else 1000)
    cache = library.CountsCache()
    with db_factory() as session:
        assert cache.total(session, library.LibraryQuery(tag="t3").filter()) == 50
    with db_factory() as session:  # the next transaction bumps again
        session.execute(insert(item_tags).values(item_id=ids[0], tag_id=_new_tag(session)))
        session.commit()
        assert session.scalar(select(LibraryState.version)) == after + 1


def _new_tag(session) -> int:
    from app.models import Tag

    tag = Tag(name="late", name_key="late")
    session.add(tag)
    session.flush()
    return tag.id
